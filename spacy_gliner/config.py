"""The ``gliner`` component's settings, written once, and the checks of their values.

``GLiNERConfig`` is the one home of the settings: the factory's config block and signature,
the component's attributes and what a saved ``cfg`` holds all come from it. Its checks
(``check_labels``, ``check_threshold``, ``check_positive``, ``check_flag``) are also those of
the values that reach the component by another way: per call, per doc, from the CLI.
Import-light: spaCy imports the factory module for every ``Language``, and this with it.
"""

import inspect
import numbers
import operator
import unicodedata
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, TypeVar, Union

import numpy as np

from .model.decoding import DEFAULT_THRESHOLD
from .model.inputs import DEFAULT_BATCH_SIZE, DEFAULT_OVERLAP
from .model.propagation import DEFAULT_NAME_LABELS, DEFAULT_PROPAGATE, PROPAGATE_CHOICES
from .model.settings import WORD_SPLITTERS

# Unicode categories that show nothing on their own: controls, format characters (zero-width
# space, BOM, soft hyphen), surrogates, separators, and combining marks without a base.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp", "Mn", "Me"})
Labels = Union[Sequence[str], Dict[str, str]]
# a threshold: one probability for every label, or {label: probability} with OTHER_LABELS's
# value for the labels the dict does not name (DEFAULT_THRESHOLD where it has no such key)
Threshold = Union[float, Dict[str, float]]
OTHER_LABELS = "*"
LabelMap = Dict[str, str]  # label written on the spans -> its description, the text the model reads
# the ``words`` setting: the checkpoint's splitter, the Doc's tokens, or a named splitter
CHECKPOINT_WORDS = "checkpoint"
DOC_TOKENS = "tokens"
WORDS_CHOICES = (CHECKPOINT_WORDS, DOC_TOKENS, *WORD_SPLITTERS)
Function = TypeVar("Function", bound=Callable[..., Any])


def check_labels(labels: Any) -> LabelMap:
    """Labels as {label: description}, as the official library takes them: the label is
    written on the spans, the description is what the model reads; a list describes every
    label by itself. Descriptions must differ, as in the official library (two labels read
    alike cannot be told apart); several texts for one label is also the reversed form
    that earlier versions took, which is refused rather than silently read backwards."""
    if isinstance(labels, str) or not isinstance(labels, (list, tuple, dict)):
        raise TypeError(
            f"labels must be a list of labels or a dict from label to description, not {type(labels).__name__}: "
            'e.g. ["person", "organization"] or {"PERSON": "person", "ORG": "company or organization"}.'
        )
    pairs = labels.items() if isinstance(labels, dict) else ((label, label) for label in labels)
    out: LabelMap = {}
    for label, description in pairs:
        for value in (label, description):
            if not isinstance(value, str):
                raise TypeError(f"Every label must be a string; got {value!r} ({type(value).__name__}).")
            if not value.strip():
                raise ValueError("Labels must not be empty or whitespace only.")
            if any("\ud800" <= c <= "\udfff" for c in value):
                raise ValueError(
                    f"The label {value!r} holds a lone surrogate, which is not text: decode it with errors='replace'."
                )
            if all(unicodedata.category(c) in _INVISIBLE for c in value):
                raise ValueError(
                    f"The label {value!r} has no visible character (only"
                    f" {', '.join(sorted({unicodedata.name(c, hex(ord(c))) for c in value}))}): every entity would get"
                    " an invisible label. Remove it, or check how the labels were read."
                )
        out.setdefault(label, description)  # a list's duplicates keep their first place
    _check_descriptions(out)
    return out


def _check_descriptions(labels: LabelMap) -> None:
    """Refuse two labels with one description: ``ValueError`` naming them."""
    seen: Dict[str, str] = {}
    for label, description in labels.items():
        first = seen.setdefault(description, label)
        if first != label:
            raise ValueError(
                f"The labels {first!r} and {label!r} have the same description {description!r}, so the model cannot "
                "tell them apart. A labels dict is {label: description}, as in the official library: the key is "
                "the label written on the entities, the value the text the model reads. Earlier versions of "
                "spacy-gliner took the reverse ({text the model reads: label}); if that is what this dict is, "
                f"swap each pair, e.g. {{{description!r}: {first!r}}}, and give each label one description."
            )


def _is_number(value: Any) -> bool:
    """Any real number (int, float, numpy scalars, Fraction, Decimal), but not a boolean."""
    return isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, (bool, np.bool_))


def check_probability(value: Any, what: str = "threshold") -> float:
    """A probability strictly between 0 and 1, of any real number type (not a boolean)."""
    try:
        number = float(value) if _is_number(value) else None
    except (ValueError, OverflowError):  # Decimal("sNaN")
        number = None
    if number is None or not 0.0 < number < 1.0:
        raise ValueError(f"{what} must be a number strictly between 0 and 1 (a probability), got {value!r}.")
    return number


def check_threshold(threshold: Any) -> Threshold:
    """One probability for all labels, or {label: probability}: a dict always comes back with
    its ``"*"`` key (the labels it does not name; ``DEFAULT_THRESHOLD`` when not given), so
    that what it means is written in it, and a saved pipeline reads it back as it was."""
    if not isinstance(threshold, Mapping):
        return check_probability(threshold)
    out: Dict[str, float] = {}
    for label, value in threshold.items():
        if not isinstance(label, str) or not label.strip():
            raise ValueError(
                f"A threshold dict maps labels (non-empty strings) to probabilities; got the key {label!r}."
            )
        out[label] = check_probability(value, f"The threshold of {label!r}")
    out.setdefault(OTHER_LABELS, DEFAULT_THRESHOLD)
    return out


Classes = Dict[str, Any]  # {task: [choices]} or {task: {"labels": [...], "multi_label": bool, "cls_threshold": P}}


def check_classes(classes: Any) -> Classes:
    """GLiNER2 classification tasks, in the forms gliner2's schema takes (checked by
    ``Schema.build``); every choice is a key of ``doc.cats``, so a choice named by two tasks
    is refused (one would overwrite the other's score)."""
    from .model.gliner2.schema import Schema

    if not isinstance(classes, Mapping):
        raise TypeError(
            f'classes must be a dict {{task: [choices]}}, e.g. {{"sentiment": ["positive", "negative"]}}, not '
            f"{type(classes).__name__}."
        )
    if not classes:
        return {}
    tasks = Schema.build(classes=classes).classes
    seen: Dict[str, str] = {}
    for task in tasks:
        for choice in task.choices:
            first = seen.setdefault(choice, task.name)
            if first != task.name:
                raise ValueError(
                    f"The choice {choice!r} belongs to the classification tasks {first!r} and {task.name!r}: each"
                    " choice is a key of doc.cats, so one would overwrite the other's score. Rename one, e.g."
                    f" {task.name}_{choice}."
                )
    return {task: dict(spec) if isinstance(spec, Mapping) else list(spec) for task, spec in classes.items()}


def check_relation_threshold(value: Any) -> Optional[float]:
    """The relation threshold: a probability, or None (the entity threshold's, see ``relation_limit``)."""
    return None if value is None else check_probability(value, "relation_threshold")


def relation_limit(relation_threshold: Optional[float], threshold: Threshold) -> float:
    """The threshold relations are kept above: ``relation_threshold``, else the entity threshold
    (its ``"*"`` where it is one per label), as the official library defaults it."""
    if relation_threshold is not None:
        return relation_threshold
    return threshold[OTHER_LABELS] if isinstance(threshold, dict) else threshold


def check_threshold_labels(threshold: Threshold, labels: Sequence[str], where: str) -> None:
    """Refuse a threshold dict naming a label that ``labels`` (those looked for) lacks: a typo
    would otherwise leave that label at the default without a word."""
    if isinstance(threshold, dict):
        unknown = [label for label in threshold if label != OTHER_LABELS and label not in labels]
        if unknown:
            raise ValueError(
                f"{where} gives a threshold to {', '.join(map(repr, unknown))}, which is not among the labels looked"
                " for "
                f"({', '.join(map(repr, labels))}). Name the labels as written on the entities (the keys of a labels"
                " dict), "
                f'or "{OTHER_LABELS}" for all others.'
            )


def label_thresholds(threshold: Threshold, labels: Sequence[str]) -> Union[float, List[float]]:
    """The threshold of each of ``labels``; one number when they all share it (then the span
    search compares as the official library does, with that number)."""
    if not isinstance(threshold, dict):
        return threshold
    values = [threshold.get(label, threshold[OTHER_LABELS]) for label in labels]
    return values[0] if len(set(values)) == 1 else values


def describe_threshold(threshold: Threshold) -> str:
    """A threshold as people read it: "0.5", or "person 0.35, others 0.5"."""
    if not isinstance(threshold, dict):
        return str(threshold)
    named = [f"{label} {value}" for label, value in threshold.items() if label != OTHER_LABELS]
    return ", ".join([*named, f"others {threshold[OTHER_LABELS]}"])


def check_propagate(value: Any) -> str:
    """One of ``PROPAGATE_CHOICES``: "off", "exact" or "parts"."""
    if value not in PROPAGATE_CHOICES:
        raise ValueError(f"propagate must be one of {', '.join(map(repr, PROPAGATE_CHOICES))}, got {value!r}.")
    return value


def check_positive(name: str, value: Any) -> int:
    """A positive integer, of any integer type (numpy too), or a number with an integer value."""
    number: Optional[int] = None
    if not isinstance(value, (bool, np.bool_)):
        try:
            number = operator.index(value)
        except TypeError:
            try:
                number = int(value) if _is_number(value) and value == int(value) else None
            except (ValueError, OverflowError):  # NaN, infinity
                number = None
    if number is None or number < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return number


def check_flag(name: str, value: Any) -> bool:
    """True or false (numpy booleans too); a string such as "no" is not silently true."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be true or false, got {value!r} ({type(value).__name__}).")
    return bool(value)


@dataclass(frozen=True)
class GLiNERConfig:
    """The component's settings, written once: each field is a key of its config block, with
    the config's default, and is checked here (a bad value fails when the pipe is built).
    Defaults that are the GLiNER core's (the official library's threshold and batch size, the
    window overlap) are taken from it.

    labels: the labels to look for (a list), or a dict {label: description}, as the
        official library takes it: the label is written on the spans, the description is
        what the model reads; may be empty when labels come per call, per doc or from
        training data.
    threshold: keep spans scoring above this probability; or {label: probability}, with
        ``"*"`` for the labels it does not name (0.5 if absent).
    nested: entities may contain each other (``doc.spans`` only) instead of flat ``doc.ents``.
    multi_label: one span may carry several labels.
    spans_key: the ``doc.spans`` key of the predicted spans and their scores.
    batch_size: windows per forward pass.
    overwrite_ents: on a clash with an existing entity, the new one wins.
    window_overlap: words shared by neighbouring windows of a long text.
    relations: relex and GLiNER2 checkpoints only: the relation types to look for between the
        entities (a list, or {label: description} as ``labels``); written in ``doc._.rel`` (``relations``).
    relation_threshold: keep relations scoring above this probability; None: ``threshold``
        (its ``"*"`` where it is one per label), as in the official library.
    classes: GLiNER2 checkpoints only: classification tasks, ``{task: [choices]}`` or ``{task:
        {"labels": [...], "multi_label": true, "cls_threshold": P}}`` (gliner2's forms; choice
        descriptions as ``{choice: description}``); every choice's score goes to
        ``doc.cats[choice]`` (spaCy's textcat convention), so choice names must differ across tasks.
    words: what GLiNER reads as words: "checkpoint" (the checkpoint's ``words_splitter_type``,
        as the official library splits; a GLiNER2 checkpoint: gliner2's splitter), "tokens" (the
        Doc's own tokens: entities fit the tokens exactly, and any language the pipeline's
        tokenizer segments can be read), or the name of an official splitter ("whitespace",
        "spacy", "jieba", "janome", ...).
    propagate: after decoding, "exact" takes every other occurrence of a found entity's text
        as an entity too (same label and score, marked as propagated); "parts" also takes the
        parts of the names found with a label of ``name_labels``; "off" takes none.
    name_labels: the labels (any case) whose entities name people, for "parts".
    """

    labels: Labels = field(default_factory=list)
    threshold: Threshold = DEFAULT_THRESHOLD
    nested: bool = False
    multi_label: bool = False
    spans_key: str = "sc"
    batch_size: int = DEFAULT_BATCH_SIZE
    overwrite_ents: bool = False
    window_overlap: int = DEFAULT_OVERLAP
    words: str = CHECKPOINT_WORDS
    propagate: str = DEFAULT_PROPAGATE
    name_labels: List[str] = field(default_factory=lambda: list(DEFAULT_NAME_LABELS))
    relations: Labels = field(default_factory=list)
    relation_threshold: Optional[float] = None
    classes: Classes = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.spans_key, str) or not self.spans_key:
            raise ValueError(f"spans_key must be a non-empty string, got {self.spans_key!r}.")
        if self.words not in WORDS_CHOICES:
            raise ValueError(f"words must be one of {', '.join(map(repr, WORDS_CHOICES))}, got {self.words!r}.")
        check_propagate(self.propagate)
        if isinstance(self.name_labels, str) or not all(isinstance(x, str) for x in self.name_labels):
            raise TypeError(f'name_labels must be a list of labels, e.g. ["person", "name"], got {self.name_labels!r}.')
        checked = {
            "labels": check_labels(self.labels),
            "threshold": check_threshold(self.threshold),
            "nested": check_flag("nested", self.nested),
            "multi_label": check_flag("multi_label", self.multi_label),
            "batch_size": check_positive("batch_size", self.batch_size),
            "overwrite_ents": check_flag("overwrite_ents", self.overwrite_ents),
            "window_overlap": check_positive("window_overlap", self.window_overlap),
            "name_labels": list(self.name_labels),
            "relations": check_labels(self.relations),
            "relation_threshold": check_relation_threshold(self.relation_threshold),
            "classes": check_classes(self.classes),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.labels:
            check_threshold_labels(self.threshold, list(self.labels), "The threshold setting")


def _default(f: Any) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


DEFAULT_CONFIG = {
    "model": {"@architectures": "spacy_gliner.GLiNERModel.v1"},  # its arguments' defaults are the builder's
    **{f.name: _default(f) for f in fields(GLiNERConfig)},
    "training": {"@misc": "spacy_gliner.TrainingSettings.v1"},
    "scorer": {"@scorers": "spacy_gliner.gliner_scorer.v1"},
}


def takes_fields(settings: type) -> Callable[[Function], Function]:
    """Give a function the signature that spaCy validates and fills its config block by: its own
    parameters, with ``**settings`` replaced by the fields of the dataclass ``settings`` (keyword
    only, with their defaults), so that each setting and its default are written once."""

    def decorate(function: Function) -> Function:
        own = [p for p in inspect.signature(function).parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=_default(f), annotation=f.type)
            for f in fields(settings)
        ]
        function.__signature__ = inspect.signature(function).replace(parameters=own + added)  # type: ignore[attr-defined]
        return function

    return decorate
