"""The ``gliner`` pipeline component: zero-shot (and trainable) entity recognition.

Import-light on purpose: spaCy imports factory modules for every ``Language``, so torch
and transformers are imported only when the component first needs them.
"""
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import srsly
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples
from spacy.util import minibatch
from spacy.vocab import Vocab
from thinc.api import Model

from .architectures import DEFAULT_SOURCE, build_gliner_model, get_loaded, is_loaded, set_loaded
from .training import GoldStats, TrainingSettings, loss_and_gradient, make_batch

DOC_LABELS_KEY = "gliner_labels"  # doc.user_data key: labels for this doc only
Labels = Union[Sequence[str], Dict[str, str]]

DEFAULT_CONFIG = {
    "model": {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": DEFAULT_SOURCE, "mixed_precision": False},
    "labels": [],
    "threshold": 0.5,
    "nested": False,
    "multi_label": False,
    "spans_key": "sc",
    "batch_size": 8,
    "overwrite_ents": False,
    "window_overlap": 64,
    "training": {"@misc": "spacy_gliner.TrainingSettings.v1"},
}


@Language.factory(
    "gliner",
    assigns=["doc.ents", "doc.spans"],
    default_config=DEFAULT_CONFIG,
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_gliner(
    nlp: Language,
    name: str,
    model: Union[str, Model],
    labels: Labels,
    threshold: float,
    nested: bool,
    multi_label: bool,
    spans_key: str,
    batch_size: int,
    overwrite_ents: bool,
    window_overlap: int,
    training: TrainingSettings,
) -> "GLiNERComponent":
    """Create a ``gliner`` component. ``model`` may be a checkpoint id/folder or a thinc Model."""
    if isinstance(model, (str, Path)):
        model = build_gliner_model(source=str(model))
    return GLiNERComponent(
        nlp.vocab,
        model,
        name,
        labels=labels,
        threshold=threshold,
        nested=nested,
        multi_label=multi_label,
        spans_key=spans_key,
        batch_size=batch_size,
        overwrite_ents=overwrite_ents,
        window_overlap=window_overlap,
        training=training,
    )


def check_labels(labels: Any) -> Dict[str, str]:
    """Labels as {prompt: spaCy label}; a list maps every prompt to itself."""
    if isinstance(labels, str) or not isinstance(labels, (list, tuple, dict)):
        raise TypeError(
            f"labels must be a list of label texts or a dict from label text to spaCy label, not {type(labels).__name__}: "
            'e.g. ["person", "organization"] or {"person": "PERSON"}.'
        )
    pairs = labels.items() if isinstance(labels, dict) else ((label, label) for label in labels)
    out: Dict[str, str] = {}
    for prompt, label in pairs:
        for value in (prompt, label):
            if not isinstance(value, str):
                raise TypeError(f"Every label must be a string; got {value!r} ({type(value).__name__}).")
            if not value.strip():
                raise ValueError("Labels must not be empty or whitespace only.")
            if any("\ud800" <= c <= "\udfff" for c in value):
                raise ValueError(f"The label {value!r} holds a lone surrogate, which is not text: decode it with errors='replace'.")
        out.setdefault(prompt, label)  # duplicates keep their first mapping, in order
    return out


def check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be a number strictly between 0 and 1 (a probability), got {threshold!r}.")
    return float(threshold)


def check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value


class DocPrediction:
    """Candidates of one doc in token units, with the prompts they refer to."""

    def __init__(self, candidates: Any, prompts: List[str], names: List[str]) -> None:
        self.candidates = candidates
        self.prompts = prompts  # what the model was asked for
        self.names = names  # the spaCy label written for each prompt


class GLiNERComponent(TrainablePipe):
    """Finds entities of any type named in plain language, with a GLiNER model."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "gliner",
        *,
        labels: Labels = (),
        threshold: float = 0.5,
        nested: bool = False,
        multi_label: bool = False,
        spans_key: str = "sc",
        batch_size: int = 8,
        overwrite_ents: bool = False,
        window_overlap: int = 64,
        training: Optional[TrainingSettings] = None,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.label_map = check_labels(labels)
        self.threshold = check_threshold(threshold)
        self.nested = bool(nested)
        self.multi_label = bool(multi_label)
        if not isinstance(spans_key, str) or not spans_key:
            raise ValueError(f"spans_key must be a non-empty string, got {spans_key!r}.")
        self.spans_key = spans_key
        self.batch_size = check_positive("batch_size", batch_size)
        self.overwrite_ents = bool(overwrite_ents)
        self.window_overlap = check_positive("window_overlap", window_overlap)
        self.training = training or TrainingSettings()
        self.gold_stats = GoldStats()  # gold spans seen by update(), and those it could not use
        self.cfg: Dict[str, Any] = {"trained_labels": {}}
        self._finder = None

    # -- labels ---------------------------------------------------------------
    @property
    def labels(self) -> tuple:
        """The label prompts used when no per-call labels are given."""
        return tuple(self.label_map or self.cfg["trained_labels"])

    def add_label(self, label: str) -> int:
        if label in self.cfg["trained_labels"]:
            return 0
        self.cfg["trained_labels"].update(check_labels([label]))
        return 1

    def _label_maps(self, docs: Sequence[Doc], labels: Optional[Labels]) -> List[Dict[str, str]]:
        default = check_labels(labels) if labels is not None else (self.label_map or dict(self.cfg["trained_labels"]))
        maps = []
        for doc in docs:
            own = doc.user_data.get(DOC_LABELS_KEY)
            mapping = check_labels(own) if own is not None else default
            if not mapping:
                raise ValueError(
                    f"The {self.name!r} component has no labels to look for. Give them in its config "
                    f'(nlp.add_pipe("gliner", config={{"labels": ["person", ...]}})), per call '
                    f'(component_cfg={{"{self.name}": {{"labels": [...]}}}}), or train it.'
                )
            maps.append(mapping)
        return maps

    # -- prediction -----------------------------------------------------------
    def __call__(self, doc: Doc, *, labels: Optional[Labels] = None, threshold: Optional[float] = None) -> Doc:
        self._annotate([doc], labels, threshold)
        return doc

    def pipe(
        self,
        stream: Iterable[Doc],
        *,
        batch_size: int = 128,
        labels: Optional[Labels] = None,
        threshold: Optional[float] = None,
    ) -> Iterator[Doc]:
        """Docs are encoded together: windows of many docs share each forward pass."""
        for docs in minibatch(stream, size=batch_size):
            self._annotate(docs, labels, threshold)
            yield from docs

    def _annotate(self, docs: List[Doc], labels: Optional[Labels], threshold: Optional[float]) -> None:
        preds = self._predict(docs, labels, threshold)
        self._set_annotations(docs, preds, threshold)

    def predict(self, docs: Iterable[Doc]) -> List[DocPrediction]:
        return self._predict(list(docs), None, None)

    def set_annotations(self, docs: Iterable[Doc], preds: List[DocPrediction]) -> None:
        self._set_annotations(list(docs), preds, None)

    def _predict(self, docs: List[Doc], labels: Optional[Labels], threshold: Optional[float]) -> List[DocPrediction]:
        maps = self._label_maps(docs, labels)
        threshold = self.threshold if threshold is None else check_threshold(threshold)
        from .alignment import doc_words

        aligned = [doc_words(doc) for doc in docs]
        prompts = [list(m) for m in maps]
        finder = self.finder()
        found = finder([a.words for a in aligned], prompts, threshold, self.batch_size, run=self.model.predict)
        return [DocPrediction(a.to_tokens(c), p, list(m.values())) for a, c, p, m in zip(aligned, found, prompts, maps)]

    def finder(self):
        """The span finder for the loaded checkpoint (loads it on first use)."""
        loaded = get_loaded(self.model)
        if self._finder is None or self._finder.loaded is not loaded:
            from .inference import SpanFinder

            self._finder = SpanFinder(loaded, self.window_overlap)
        return self._finder

    def _set_annotations(self, docs: List[Doc], preds: List[DocPrediction], threshold: Optional[float]) -> None:
        from .decoding import greedy_decode

        threshold = self.threshold if threshold is None else threshold
        for doc, pred in zip(docs, preds):
            cands = pred.candidates.select(pred.candidates.scores > threshold)
            keep = greedy_decode(cands, flat=not self.nested, multi_label=self.multi_label)
            spans = [Span(doc, int(cands.starts[i]), int(cands.ends[i]) + 1, label=pred.names[cands.labels[i]]) for i in keep]
            scores = cands.scores[keep].astype("float32")
            doc.spans[self.spans_key] = SpanGroup(doc, name=self.spans_key, spans=spans, attrs={"scores": scores})
            if not self.nested:
                doc.ents = self._merge_ents(doc, spans, scores)

    def _merge_ents(self, doc: Doc, spans: List[Span], scores: np.ndarray) -> List[Span]:
        """New entities and the doc's existing ones, by the ``overwrite_ents`` policy.

        Non-clashing entities of both kinds are always kept. On a clash, the existing
        entity wins unless ``overwrite_ents`` is true. With ``multi_label``, a span with
        several labels enters ``doc.ents`` once, with its best label.
        """
        best: Dict[tuple, int] = {}
        for i, span in enumerate(spans):
            key = (span.start, span.end)
            if key not in best or scores[i] > scores[best[key]]:
                best[key] = i
        new = [spans[i] for i in sorted(best.values(), key=lambda i: spans[i].start)]
        old = list(doc.ents)
        first, second = (new, old) if self.overwrite_ents else (old, new)
        taken = np.zeros(len(doc) + 1, dtype=bool)
        for span in first:
            taken[span.start : span.end] = True
        kept = list(first) + [s for s in second if not taken[s.start : s.end].any()]
        return sorted(kept, key=lambda s: s.start)

    # -- training -------------------------------------------------------------
    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Callable] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One training step on a batch (see ``spacy_gliner.training``).

        ``drop`` is ignored: dropout is the network's own (``dropout`` of its settings).
        """
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "GLiNERComponent.update")
        loaded = get_loaded(self.model)
        names = self.label_map or self.cfg["trained_labels"]
        batch = make_batch(
            examples,
            self.finder().builder,
            self.training,
            nested=self.nested,
            spans_key=self.spans_key,
            prompts={label: prompt for prompt, label in reversed(list(names.items()))},
            stats=self.gold_stats,
            pad_id=loaded.tokenizer.pad_token_id or 0,
            device=next(loaded.network.parameters()).device,
        )
        if batch is None:
            return losses
        logits, backprop = self.model.begin_update(batch.inputs)
        loss, d_logits = self.get_loss(examples, (batch, logits))
        backprop(d_logits)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: Any) -> Tuple[float, Any]:
        """Loss and d_logits; ``scores`` is (TrainingBatch, logits): the batch holds the targets
        built from ``examples`` with the type lists the model was prompted with."""
        batch, logits = scores
        return loss_and_gradient(logits, batch, self.training)

    # -- scoring --------------------------------------------------------------
    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """``ents_p/r/f`` and per type (flat), or ``spans_<key>_p/r/f`` (nested)."""
        examples = list(examples)
        if not self.nested:
            return get_ner_prf(examples)
        key = self.spans_key
        return Scorer.score_spans(
            examples,
            f"spans_{key}",
            getter=lambda doc, attr: doc.spans.get(key, []),
            has_annotation=lambda doc: key in doc.spans,
            allow_overlap=True,
            labeled=True,
        )

    # -- initialization and serialization -------------------------------------
    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None, labels: Optional[Labels] = None) -> None:
        """Load the checkpoint (hub access happens here) and collect labels from the data."""
        get_loaded(self.model)
        if labels is not None:
            self.cfg["trained_labels"] = check_labels(labels)
            return
        for example in get_examples():
            ref = example.reference
            spans = list(ref.spans.get(self.spans_key, [])) if self.nested else list(ref.ents)
            for span in spans:
                self.add_label(span.label_)

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        from . import checkpoint

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg", self.cfg)
        checkpoint.save(get_loaded(self.model), path / "model")

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "GLiNERComponent":
        from . import checkpoint

        path = Path(path)
        if (path / "cfg").exists():
            self.cfg.update(srsly.read_json(path / "cfg"))
        set_loaded(self.model, checkpoint.load(path / "model"))
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(tmp, exclude=exclude)
            files = {str(p.relative_to(tmp)): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
        return srsly.msgpack_dumps(files)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "GLiNERComponent":
        import tempfile

        files = srsly.msgpack_loads(bytes_data)
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                target = Path(tmp) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            self.from_disk(tmp, exclude=exclude)
        return self

    @property
    def is_loaded(self) -> bool:
        return is_loaded(self.model)
