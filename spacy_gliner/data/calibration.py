"""Per-label thresholds from gold data: ``calibrate`` and its table and plot.

The pipe runs once over the gold texts at a low threshold (``floor``) and its candidates are
kept; each threshold tried is then an exact re-decoding of those candidates (for span
models, the candidates above a threshold are those above the floor that score above it, and
decoding sees nothing else), scored against the gold entities as spaCy's scorer scores
``doc.ents``: exact spans (widened to tokens) and labels. Labels interact in flat decoding
(a span one label loses may go to another), so the per-label choice is coordinate ascent:
every label starts at the best shared threshold, then each label in turn takes the value of
the grid that is best for it with the others held, for ``rounds`` passes over the labels: a
local optimum, not a search of every combination. Token-level models read their spans from
word scores that depend on the threshold: for them the re-decoding is an approximation.

Choice per label: the best F1 of all labels together (micro; so the result is never below
the best shared threshold on the gold data); or, with ``min_recall``, the best precision among the
thresholds whose recall reaches it (what redaction needs; the lowest threshold where none
does).
"""

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
from spacy.tokens import Doc, DocBin

from ..architectures import get_loaded, is_gliner2_model
from ..component import GLiNERComponent
from ..config import OTHER_LABELS, check_probability
from ..loading import Pipeline
from ..model.decoding import Candidates, greedy_decode

GoldSpan = Tuple[int, int, str]  # first character, one past the last, label
DEFAULT_FLOOR = 0.05
DEFAULT_STEP = 0.025
DEFAULT_ROUNDS = 2


@dataclass
class Gold:
    """One gold text and its entities."""

    text: str
    spans: Set[GoldSpan]


@dataclass
class LabelResult:
    """One label at its chosen threshold (the others at theirs), and its curve: (threshold,
    precision, recall) for each value of the grid, the other labels held at their choice."""

    label: str
    threshold: float
    precision: float
    recall: float
    f: float
    support: int
    curve: List[Tuple[float, float, float]] = field(default_factory=list)


@dataclass
class Calibration:
    """The chosen thresholds (``"*"``: the best shared one, for labels not calibrated), and the
    micro scores on the gold data with them and with the best shared threshold alone."""

    thresholds: Dict[str, float]
    shared: float
    shared_scores: Tuple[float, float, float]
    scores: Tuple[float, float, float]
    labels: List[LabelResult]
    min_recall: Optional[float] = None

    def rows(self) -> List[Tuple[Any, ...]]:
        """The per-label table: label, threshold, P, R, F (percent), support."""
        out = [
            (r.label, f"{r.threshold:.3f}", *(f"{100 * x:.1f}" for x in (r.precision, r.recall, r.f)), r.support)
            for r in self.labels
        ]
        out.append(
            ("all (micro)", "per label", *(f"{100 * x:.1f}" for x in self.scores), sum(r.support for r in self.labels))
        )
        out.append(("all, one threshold", f"{self.shared:.3f}", *(f"{100 * x:.1f}" for x in self.shared_scores), ""))
        return out


def read_gold(path: Union[str, Path], pipeline: Pipeline) -> List[Gold]:
    """Gold texts and entities from a DocBin (``.spacy``: its ``doc.ents``, or the component's
    span group when it is nested) or JSON lines (``{"text", "entities": [{"start", "end",
    "label"}]}``, the records ``predict`` writes). ``ValueError`` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"Gold data not found: {path}. Pass a .spacy DocBin or a .jsonl file of records with their entities."
        )
    component = pipeline.component
    if path.suffix == ".spacy":
        docs: Iterable[Doc] = DocBin().from_disk(path).get_docs(pipeline.nlp.vocab)
        key = component.spans_key
        return [
            Gold(
                d.text,
                {(s.start_char, s.end_char, s.label_) for s in (d.spans.get(key, []) if component.nested else d.ents)},
            )
            for d in docs
        ]
    if path.suffix != ".jsonl":
        raise ValueError(
            f"{path}: gold data is a .spacy DocBin or a .jsonl file, not {path.suffix or 'a file without a suffix'}."
        )
    out = []
    for number, line in enumerate(path.read_text(encoding="utf8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text = record["text"]
            spans = {(int(e["start"]), int(e["end"]), str(e["label"])) for e in record["entities"]}
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"{path}, line {number}: not a gold record ({type(err).__name__}: {err}); each line is "
                '{"text": ..., "entities": [{"start": ..., "end": ..., "label": ...}]}.'
            ) from None
        if not isinstance(text, str) or any(not 0 <= a < b <= len(text) for a, b, _ in spans):
            raise ValueError(f"{path}, line {number}: the text is not a string, or an entity's offsets are outside it.")
        out.append(Gold(text, spans))
    return out


@dataclass
class _Cached:
    """One text's candidates at the floor, with each candidate's characters widened to tokens."""

    candidates: Candidates
    chars: np.ndarray  # [candidates, 2]


class _Decoder:
    """Re-decodes the cached candidates of every text under per-label thresholds and counts,
    per label, true positives, predictions and gold spans."""

    def __init__(
        self, cached: List[_Cached], gold: List[Gold], labels: List[str], flat: bool, multi_label: bool
    ) -> None:
        self.cached, self.labels, self.flat, self.multi_label = cached, labels, flat, multi_label
        self.gold = [g.spans for g in gold]
        index = {label: i for i, label in enumerate(labels)}
        self.support = np.zeros(len(labels), dtype=np.int64)
        for spans in self.gold:
            for _, _, label in spans:
                if label in index:
                    self.support[index[label]] += 1

    def counts(self, limits: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(true positives, predictions) per label under ``limits`` (one per label)."""
        tp = np.zeros(len(self.labels), dtype=np.int64)
        predicted = np.zeros(len(self.labels), dtype=np.int64)
        for item, gold in zip(self.cached, self.gold):
            cands = item.candidates
            keep = np.flatnonzero(cands.scores > limits[cands.labels])
            if len(keep) == 0:
                continue
            chosen = keep[greedy_decode(cands.select(keep), flat=self.flat, multi_label=self.multi_label)]
            found = {(int(item.chars[i, 0]), int(item.chars[i, 1]), int(cands.labels[i])) for i in chosen.tolist()}
            for a, b, c in found:
                predicted[c] += 1
                tp[c] += (a, b, self.labels[c]) in gold
        return tp, predicted


def _prf(tp: int, predicted: int, support: int) -> Tuple[float, float, float]:
    p = tp / predicted if predicted else 0.0
    r = tp / support if support else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def calibrate(
    pipeline: Pipeline,
    gold: Sequence[Gold],
    *,
    min_recall: Optional[float] = None,
    floor: float = DEFAULT_FLOOR,
    step: float = DEFAULT_STEP,
    rounds: int = DEFAULT_ROUNDS,
    batch_size: int = 64,
) -> Calibration:
    """Per-label thresholds for the pipeline's gliner component (its labels, or the run's) from
    ``gold`` (see the module's docstring). The pipeline is not changed: :func:`apply` writes them."""
    floor = check_probability(floor, "floor")
    if min_recall is not None:
        min_recall = check_probability(min_recall, "min_recall")
    if not 0 < step < 1:
        raise ValueError(f"step must be between 0 and 1, got {step!r}.")
    if not gold:
        raise ValueError("No gold texts to calibrate on.")
    component = pipeline.component
    if is_gliner2_model(get_loaded(component.model)):
        raise ValueError(
            "Calibrating thresholds of a GLiNER2 model is not supported: its entities are decoded by gliner2's rules,"
            " not re-decoded from cached candidates. Give per-label thresholds by hand (threshold {label: P})."
        )
    labels = list(pipeline.options.labels or component.label_descriptions)
    unknown = sorted({label for g in gold for _, _, label in g.spans} - set(labels))
    if unknown:
        raise ValueError(
            f"The gold data has labels the component does not look for: {', '.join(map(repr, unknown))} (it looks for"
            f" {', '.join(map(repr, labels))}). Give the labels that the gold data uses (--labels), as written on its"
            " entities."
        )
    cached = _candidates(pipeline, component, gold, floor, batch_size)
    decoder = _Decoder(cached, list(gold), labels, not component.nested, component.multi_label)
    grid = [float(t) for t in np.round(np.arange(floor, 1.0 - step / 2, step), 6)]

    def micro(limits: np.ndarray) -> Tuple[float, float, float]:
        tp, predicted = decoder.counts(limits)
        return _prf(int(tp.sum()), int(predicted.sum()), int(decoder.support.sum()))

    shared_f = {t: micro(np.full(len(labels), t)) for t in grid}
    shared = max(grid, key=lambda t: (shared_f[t][2], t))
    limits = np.full(len(labels), shared)
    curves: Dict[int, List[Tuple[float, float, float]]] = {}
    for _ in range(rounds):
        for c in range(len(labels)):
            if decoder.support[c] == 0:
                continue
            curve, overall = [], []
            for t in grid:
                trial = limits.copy()
                trial[c] = t
                tp, predicted = decoder.counts(trial)
                curve.append((t, *_prf(int(tp[c]), int(predicted[c]), int(decoder.support[c]))))
                overall.append(_prf(int(tp.sum()), int(predicted.sum()), int(decoder.support.sum()))[2])
            limits[c] = _choose(curve, overall, min_recall)
            curves[c] = [(t, p, r) for t, p, r, _ in curve]
    tp, predicted = decoder.counts(limits)
    results = [
        LabelResult(
            label,
            float(limits[c]),
            *_prf(int(tp[c]), int(predicted[c]), int(decoder.support[c])),
            int(decoder.support[c]),
            curves.get(c, []),
        )
        for c, label in enumerate(labels)
    ]
    thresholds = {r.label: r.threshold for r in results if r.support}
    thresholds[OTHER_LABELS] = shared
    return Calibration(thresholds, shared, shared_f[shared], micro(limits), results, min_recall)


def _choose(curve: List[Tuple[float, float, float, float]], overall: List[float], min_recall: Optional[float]) -> float:
    """The threshold of a label's curve (threshold, P, R, F of the label; ``overall``: the micro
    F1 of all labels at each): the best micro F1 (a label's own best F1 can cost the others
    more in flat decoding), then the label's F1, then the highest threshold; or the best
    precision among those reaching ``min_recall`` (else the lowest threshold)."""
    if min_recall is None:
        return max(zip(curve, overall), key=lambda x: (x[1], x[0][3], x[0][0]))[0][0]
    reaching = [x for x in curve if x[2] >= min_recall]
    if not reaching:
        return curve[0][0]
    return max(reaching, key=lambda x: (x[1], x[0]))[0]


def _candidates(
    pipeline: Pipeline, component: GLiNERComponent, gold: Sequence[Gold], floor: float, batch_size: int
) -> List[_Cached]:
    """Each gold text through the pipe once, at the floor: its candidates, characters widened
    to the tokens the component would place them on."""
    labels = pipeline.options.labels
    out = []
    for i in range(0, len(gold), batch_size):
        docs = [pipeline.nlp.make_doc(g.text) for g in gold[i : i + batch_size]]
        for doc, pred in zip(docs, component._predict(docs, labels, floor)):
            words, cands = pred.words, pred.candidates
            starts = doc.to_array("IDX").astype(np.int64)
            ends = starts + np.array([len(t) for t in doc], dtype=np.int64)
            chars = (
                np.stack([starts[words.first_token[cands.starts]], ends[words.last_token[cands.ends]]], axis=1)
                if len(cands)
                else np.zeros((0, 2), np.int64)
            )
            out.append(_Cached(cands, chars))
    return out


def apply(pipeline: Pipeline, calibration: Calibration) -> None:
    """Give the pipeline's gliner component the calibrated thresholds (and the run's labels, so
    that the saved pipeline looks for what it was calibrated on)."""
    component = pipeline.component
    labels = pipeline.options.labels if pipeline.options.labels is not None else component.settings.labels
    component.settings = replace(component.settings, labels=labels, threshold=dict(calibration.thresholds))


def plot(calibration: Calibration, path: Union[str, Path]) -> Path:
    """A PNG of precision and recall against the threshold, one panel per label, the chosen
    threshold marked. Needs matplotlib (``pip install "spacy-gliner[plot]"``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            'The plot needs matplotlib: pip install "spacy-gliner[plot]" (or leave out --plot).'
        ) from None
    shown = [r for r in calibration.labels if r.curve]
    columns = min(2, max(1, len(shown)))
    rows = max(1, -(-len(shown) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    for ax, result in zip(axes.flat, shown):
        t, p, r = (list(x) for x in zip(*result.curve))
        ax.plot(t, p, label="precision")
        ax.plot(t, r, label="recall")
        ax.axvline(result.threshold, color="grey", linestyle="--", label=f"chosen {result.threshold:.3f}")
        if calibration.min_recall is not None:
            ax.axhline(
                calibration.min_recall,
                color="red",
                linewidth=0.8,
                linestyle=":",
                label=f"recall target {calibration.min_recall:g}",
            )
        ax.set_title(f"{result.label} (support {result.support})")
        ax.set_xlabel("threshold")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
