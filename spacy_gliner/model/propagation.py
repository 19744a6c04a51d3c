"""Propagation: a name found once is taken wherever else the text holds it.

Applied after decoding, to the decoded entities of one text, for any family: every other
occurrence of a found entity's exact text is an entity too, with the same label and the
score of the occurrence it was taken from ("exact"). For labels that name people, "parts"
also takes each part of a found name (a word of at least 3 letters that starts with a
capital: "Tomeh" from "Nadi Tomeh"). An occurrence is taken only where it is a whole run of
GLiNER's words (never inside a longer word: "Tomehs" or "BTomeh" are not "Tomeh"), where no
found entity lies, longest forms first. Knows nothing of spaCy or markup: the redaction
keeps its own markup rules (``spacy_gliner.redact``).
"""

import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .decoding import Candidates, Entities

DEFAULT_PROPAGATE = "off"  # the component's default: nothing taken
OFF, EXACT, PARTS = DEFAULT_PROPAGATE, "exact", "parts"
PROPAGATE_CHOICES = (OFF, EXACT, PARTS)
# labels (written on the spans, any case) whose entities name people: their parts are taken in "parts" mode
DEFAULT_NAME_LABELS = ["person", "per", "people", "name", "author", "patient"]  # copied, never changed
_PART = re.compile(r"[^\W\d_]+")  # a run of letters
MIN_PART = 3


def name_parts(name: str) -> List[str]:
    """The parts of a name that are taken on their own: capitalised, at least 3 letters."""
    return [m.group() for m in _PART.finditer(name) if len(m.group()) >= MIN_PART and m.group()[0].isupper()]


def propagate(
    text: str,
    ents: Entities,
    labels: Sequence[str],
    word_starts: np.ndarray,
    word_ends: np.ndarray,
    mode: str,
    name_labels: Sequence[str] = tuple(DEFAULT_NAME_LABELS),
) -> Tuple[Entities, List[Optional[str]]]:
    """``ents`` (decoded on words whose characters are ``word_starts``/``word_ends``) with the
    occurrences taken from them added, in order of their first character, and for each entity
    the found text it was taken from (None: found by the model). ``mode``: one of
    ``PROPAGATE_CHOICES`` (checked by the caller's settings)."""
    if mode == OFF or len(ents) == 0:
        return ents, [None] * len(ents)
    names = {label.casefold() for label in name_labels}
    forms: Dict[str, int] = {}  # text -> the found entity it is taken from (the best scored)
    by_score = np.argsort(-ents.words.scores, kind="stable").tolist()
    for i in by_score:
        forms.setdefault(text[ents.starts[i] : ents.ends[i]], i)
    if mode == PARTS:
        for i in by_score:
            if labels[ents.words.labels[i]].casefold() in names:
                for part in name_parts(text[ents.starts[i] : ents.ends[i]]):
                    forms.setdefault(part, i)
    taken = np.zeros(len(text) + 1, dtype=bool)
    for a, b in zip(ents.starts.tolist(), ents.ends.tolist()):
        taken[a:b] = True
    first_word = {c: w for w, c in enumerate(word_starts.tolist())}
    last_word = {c: w for w, c in enumerate(word_ends.tolist())}
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, sorted(forms, key=len, reverse=True))) + r")(?!\w)")
    added: List[Tuple[int, int, int, int, int]] = []  # start char, end char, first word, last word, source
    for m in pattern.finditer(text):
        a, b = m.span()
        first, last = first_word.get(a), last_word.get(b)
        if first is None or last is None or taken[a:b].any():
            continue
        taken[a:b] = True
        added.append((a, b, first, last, forms[m.group()]))
    if not added:
        return ents, [None] * len(ents)
    source = np.array([s for *_, s in added])
    words = Candidates(
        np.concatenate([ents.words.starts, [f for _, _, f, _, _ in added]]).astype(np.int64),
        np.concatenate([ents.words.ends, [w for _, _, _, w, _ in added]]).astype(np.int64),
        np.concatenate([ents.words.labels, ents.words.labels[source]]).astype(np.int64),
        np.concatenate([ents.words.scores, ents.words.scores[source]]),
    )
    out = Entities(
        words,
        np.concatenate([ents.starts, [a for a, *_ in added]]).astype(np.int64),
        np.concatenate([ents.ends, [b for _, b, *_ in added]]).astype(np.int64),
    )
    sources: List[Optional[str]] = [None] * len(ents) + [text[ents.starts[s] : ents.ends[s]] for s in source.tolist()]
    order = np.argsort(out.starts, kind="stable")
    return out.select(order), [sources[i] for i in order.tolist()]
