"""Training GLiNER inside spaCy: per-example type lists, span targets, the loss and the
encoder's learning rate.

What one update does (the paper's recipe, each knob in ``TrainingSettings``):

* Gold spans are ``doc.ents`` (flat) or ``doc.spans[spans_key]`` (nested). A gold span
  covers the GLiNER words that lie inside its characters; a span with no such word, or
  with more words than ``max_width``, cannot be placed and is counted in ``GoldStats``.
* Each example gets its own type list: its positive types, its explicit negative types
  (``doc.user_data["gliner_negatives"]``, written by ``corpora`` and kept by
  ``DocBin(store_user_data=True)``), then types of the other examples of the batch as
  sampled negatives. At most ``max_types`` are kept (positives first, then explicit,
  then sampled negatives) and the list is shuffled. The model reads each type as its
  description in the component's labels ({label: description}), else as it is.
* Examples go through the same windows and label groups as inference; each window is
  trained on the spans whose start it owns, so a long doc trains like it predicts.
* Loss: binary cross-entropy over every valid (span, type) pair, with the official
  library's focal weighting (alpha, gamma) and label smoothing; spans running past the
  text end and padded type slots are masked. ``loss_reduction="sum"`` is the paper's and
  the library's; ``"mean"`` divides by the number of valid pairs. Adam is insensitive to
  the scale of the loss, so both train alike; ``"mean"`` keeps reported losses comparable
  across batch sizes.

Learning rates: thinc's optimizer has one learning rate (and schedule) for every
parameter. ``GLiNERShim`` passes thinc's ``lr_scale`` for the encoder's parameters, so the
encoder trains at ``learn_rate * encoder_lr_scale`` (paper: 5e-5 for the new layers, 1e-5
for the encoder, i.e. ``encoder_lr_scale = 0.2``) under whatever schedule the config sets.

Torch is imported inside functions: ``component`` imports this module for its settings.
"""

import math
import random
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .alignment import word_spans
from .config import takes_fields
from .model.inputs import InputBuilder, Window
from .model.words import Splitter, split_words

if TYPE_CHECKING:  # pragma: no cover
    import torch

NEGATIVES_KEY = "gliner_negatives"  # doc.user_data key: labels known to be absent from the doc
LOSS_REDUCTIONS = ("sum", "mean")
# (first word, last word inclusive, label)
WordSpan = Tuple[int, int, str]


@dataclass(frozen=True)
class TrainingSettings:
    """How ``update`` builds type lists and the loss (defaults: the paper's)."""

    max_types: int = 25
    focal_alpha: float = -1.0  # weight of positives in (0, 1); negative: off
    focal_gamma: float = 0.0  # focusing exponent; 0: plain cross-entropy
    label_smoothing: float = 0.0  # targets become t * (1 - s) + s / 2
    loss_reduction: str = "sum"

    def __post_init__(self) -> None:
        if isinstance(self.max_types, bool) or not isinstance(self.max_types, int) or self.max_types < 1:
            raise ValueError(f"max_types must be a positive integer, got {self.max_types!r}.")
        if not self.focal_alpha < 1.0:
            raise ValueError(f"focal_alpha must be below 1 (a negative value turns it off), got {self.focal_alpha!r}.")
        if self.focal_gamma < 0:
            raise ValueError(f"focal_gamma must be >= 0, got {self.focal_gamma!r}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if self.loss_reduction not in LOSS_REDUCTIONS:
            raise ValueError(f"loss_reduction must be one of {LOSS_REDUCTIONS}, got {self.loss_reduction!r}.")


@registry.misc("spacy_gliner.TrainingSettings.v1")
@takes_fields(TrainingSettings)
def make_training_settings(**settings: Any) -> TrainingSettings:
    """Type sampling and loss settings of the ``gliner`` component (see ``training``): the
    fields of :class:`TrainingSettings`, with its defaults."""
    return TrainingSettings(**settings)


@dataclass
class GoldStats:
    """Gold spans seen in training, and those the words of GLiNER could not hold."""

    spans: int = 0
    unplaced: int = 0  # no GLiNER word inside the span's characters
    too_long: int = 0  # more words than the model's max_width
    trimmed: int = 0  # placed, but a word straddling an edge was left out
    warned: bool = field(default=False, repr=False)

    def note_problem(self, doc: Doc, start_char: int, end_char: int, reason: str) -> None:
        if not self.warned:
            self.warned = True
            warnings.warn(
                f"A gold span cannot be trained on: {doc.text[start_char:end_char]!r} {reason}. Such spans are "
                "left out of the loss (counts in the component's gold_stats); check the tokenization or "
                "raise max_width.",
                stacklevel=4,
            )


def gold_spans(doc: Doc, nested: bool, spans_key: str) -> list:
    """The gold spans of a reference doc: ``doc.spans[spans_key]`` when nested, else ``doc.ents``."""
    return list(doc.spans.get(spans_key, [])) if nested else list(doc.ents)


def place_spans(
    doc: Doc,
    words: Sequence[Tuple[str, int, int]],
    spans: Iterable[Tuple[int, int, str]],
    max_width: int,
    stats: GoldStats,
) -> List[WordSpan]:
    """Character spans -> word spans: the words inside each span; misfits are counted."""
    import numpy as np

    starts = np.fromiter((s for _, s, _ in words), dtype=np.int64, count=len(words))
    ends = np.fromiter((e for _, _, e in words), dtype=np.int64, count=len(words))
    out: List[WordSpan] = []
    for start_char, end_char, label in spans:
        stats.spans += 1
        first = int(np.searchsorted(starts, start_char, side="left"))
        last = int(np.searchsorted(ends, end_char, side="right")) - 1
        if first > last:
            stats.unplaced += 1
            stats.note_problem(doc, start_char, end_char, "holds no whole GLiNER word")
        elif last - first >= max_width:
            stats.too_long += 1
            stats.note_problem(
                doc, start_char, end_char, f"has {last - first + 1} words, more than max_width={max_width}"
            )
        else:
            if starts[first] != start_char or ends[last] != end_char:
                stats.trimmed += 1
            out.append((first, last, label))
    return out


def sample_labels(
    positives: Sequence[Sequence[str]],
    negatives: Sequence[Sequence[str]],
    max_types: int,
    rng: Optional[random.Random] = None,
) -> List[List[str]]:
    """Each example's label list: positives, explicit negatives, negatives from the batch.

    Positives are kept first, then explicit negatives, then types that other examples of
    the batch hold; the list is cut at ``max_types`` and shuffled.
    """
    shuffle = (rng or random).shuffle
    batch_types = list(dict.fromkeys(t for types in positives for t in types))
    out = []
    for pos, neg in zip(positives, negatives):
        own = list(dict.fromkeys(pos))
        explicit = [t for t in dict.fromkeys(neg) if t not in own]
        taken = set(own) | set(explicit)
        sampled = [t for t in batch_types if t not in taken]
        for group in (own, explicit, sampled):
            shuffle(group)
        types = (own + explicit + sampled)[:max_types]
        shuffle(types)
        out.append(types)
    return out


class LabelPrompts:
    """What the model reads for a gold or negative label: its description in ``label_texts``
    ({label: description}), else the label itself. A label that is not described but is
    another label's description is refused: read as it is, it would be prompted like that
    other label, and it is the sign of a labels dict in the reversed form that earlier
    versions took ({text the model reads: label})."""

    def __init__(self, label_texts: Dict[str, str]) -> None:
        self.label_texts = label_texts
        self.described = {text: label for label, text in label_texts.items()}

    def __call__(self, label: str) -> str:
        text = self.label_texts.get(label)
        if text is not None:
            return text
        other = self.described.get(label)
        if other is not None:
            raise ValueError(
                f"The training data holds the label {label!r}, which the component's labels give as the description "
                f"of another label: {{{other!r}: {label!r}}}. A labels dict is {{label: description}}, as in the "
                "official library: the key is the label of the gold spans and entities, the value the text the "
                "model reads. Earlier versions of spacy-gliner took the reverse; if that is what this dict is, "
                f"swap each pair, e.g. {{{label!r}: {other!r}}}."
            )
        return label


@dataclass
class TrainingBatch:
    """Model inputs for a batch of examples, with the targets and the loss mask."""

    inputs: Dict[str, "torch.Tensor"]
    targets: "torch.Tensor"  # [B, L, K, C] 0/1
    mask: "torch.Tensor"  # [B, L, K, C] bool: valid, owned (span, type) pairs
    labels: List[List[str]]  # each example's label list (what the model was prompted with)
    windows: List[Window]  # row b of the tensors is windows[b]


def make_batch(
    examples: Sequence[Example],
    builder: InputBuilder,
    settings: TrainingSettings,
    *,
    nested: bool,
    spans_key: str,
    label_texts: Dict[str, str],
    stats: GoldStats,
    device: "torch.device",
    rng: Optional[random.Random] = None,
    splitter: Optional[Splitter] = split_words,
) -> Optional[TrainingBatch]:
    """Type lists, windows, padded inputs and targets; None when nothing can be trained.

    ``label_texts`` maps a label to the text the model reads for it, its description (the
    component's ``labels``, {label: description}); gold and negative labels it does not
    describe are read as they are. ``splitter`` gives the words, as in prediction
    (``None``: the Doc's tokens).
    """
    max_width = builder.settings.max_width
    prompt = LabelPrompts(label_texts)
    words, placed, positives, negatives = [], [], [], []
    for eg in examples:
        ref = eg.reference
        split = word_spans(ref, splitter)  # the words prediction reads (None: the Doc's tokens)
        spans = [(s.start_char, s.end_char, prompt(s.label_)) for s in gold_spans(ref, nested, spans_key)]
        words.append(split)
        placed.append(place_spans(ref, split, spans, max_width, stats))
        positives.append([label for _, _, label in spans])
        negatives.append([prompt(label) for label in ref.user_data.get(NEGATIVES_KEY, [])])
    labels = sample_labels(positives, negatives, settings.max_types, rng)
    windows: List[Window] = []
    for i, (split, text_labels) in enumerate(zip(words, labels)):
        windows.extend(builder.windows(i, [w for w, _, _ in split], text_labels))
    if not windows:
        return None
    windows.sort(key=lambda w: len(w.input_ids))
    inputs = builder.collate(windows, device)
    targets, owned = _targets(windows, placed, labels, inputs["span_mask"].shape, max_width)
    mask = inputs["span_mask"][..., None] & inputs["label_mask"][:, None, None, :] & owned.to(device)[:, :, None, None]
    return TrainingBatch(inputs, targets.to(device), mask, labels, windows)


def _targets(
    windows: Sequence[Window],
    placed: Sequence[List[WordSpan]],
    labels: Sequence[List[str]],
    shape: tuple,
    max_width: int,
) -> Tuple["torch.Tensor", "torch.Tensor"]:
    """0/1 targets [B, L, K, C] and the owned-start mask [B, L] of each window."""
    import torch

    n_windows, n_words, _ = shape
    n_labels = max(w.n_labels for w in windows)
    targets = torch.zeros((n_windows, n_words, max_width, n_labels))
    owned = torch.zeros((n_windows, n_words), dtype=torch.bool)
    for b, w in enumerate(windows):
        lo, hi = max(w.own_start, w.start) - w.start, min(w.own_end, w.end) - w.start
        owned[b, lo:hi] = True
        index = {t: i for i, t in enumerate(labels[w.text])}
        for first, last, label in placed[w.text]:
            slot = index.get(label, -1) - w.label_offset
            if w.own_start <= first < w.own_end and w.start <= first and last < w.end and 0 <= slot < w.n_labels:
                targets[b, first - w.start, last - first, slot] = 1.0
    return targets, owned


def span_loss(
    logits: "torch.Tensor", targets: "torch.Tensor", mask: "torch.Tensor", settings: TrainingSettings
) -> "torch.Tensor":
    """Focal binary cross-entropy over the masked (span, type) pairs, as the official library.

    Per pair, with smoothed target t and p = sigmoid(logit):
    -(t log p + (1 - t) log(1 - p)), times (1 - p_t)^gamma with p_t = p t + (1 - p)(1 - t),
    times alpha t + (1 - alpha)(1 - t). Log-sigmoids keep large logits finite (the library
    clamps p at 1e-6 instead).
    """
    import torch
    from torch.nn import functional as F

    x = logits.float()
    t = targets.to(x.dtype)
    if settings.label_smoothing:
        t = t * (1.0 - settings.label_smoothing) + 0.5 * settings.label_smoothing
    loss = -(t * F.logsigmoid(x) + (1.0 - t) * F.logsigmoid(-x))
    if settings.focal_gamma > 0:
        p = torch.sigmoid(x)
        loss = loss * (1.0 - (p * t + (1.0 - p) * (1.0 - t))) ** settings.focal_gamma
    if settings.focal_alpha >= 0:
        loss = loss * (settings.focal_alpha * t + (1.0 - settings.focal_alpha) * (1.0 - t))
    loss = torch.where(mask, loss, torch.zeros_like(loss)).sum()
    if settings.loss_reduction == "mean":
        loss = loss / mask.sum().clamp(min=1)
    return loss


def loss_and_gradient(
    logits: "torch.Tensor", batch: TrainingBatch, settings: TrainingSettings
) -> Tuple[float, "torch.Tensor"]:
    """The loss value and its gradient with respect to the logits (also under ``torch.no_grad``)."""
    import torch

    with torch.enable_grad():
        x = logits.detach().requires_grad_(True)
        loss = span_loss(x, batch.targets, batch.mask, settings)
        loss.backward()
    return float(loss.item()), x.grad


@registry.schedules("spacy_gliner.warmup_cosine.v1")
def warmup_cosine(initial_rate: float, warmup_steps: int, total_steps: int, final_rate: float = 0.0) -> Iterable[float]:
    """Linear warm-up to ``initial_rate``, then cosine decay to ``final_rate`` (the paper's schedule)."""
    if warmup_steps < 0 or total_steps < 1:
        raise ValueError(f"warmup_steps must be >= 0 and total_steps >= 1, got {warmup_steps} and {total_steps}.")
    step = 0
    while True:
        if step < warmup_steps:
            yield initial_rate * step / warmup_steps
        else:
            progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
            yield final_rate + (initial_rate - final_rate) * 0.5 * (1.0 + math.cos(math.pi * progress))
        step += 1
