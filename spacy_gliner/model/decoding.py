"""Greedy decoding of scored span candidates, as in GLiNER.

Candidates above the threshold are visited by descending score (stable: ties keep
start, width, label order); a span is accepted unless it conflicts with one already
accepted. Flat: any overlap conflicts. Nested: only crossing spans (or the same span)
conflict. Multi-label: the same span may take several labels.

Spans are in GLiNER words, end inclusive; ``decode_entities`` adds their characters.
"""

from dataclasses import dataclass
from typing import Union

import numpy as np

DEFAULT_THRESHOLD = 0.5  # the official library's: spans scoring above it are candidates


@dataclass
class Candidates:
    """Scored spans of one text: parallel arrays, in canonical (start, width, label) order."""

    starts: np.ndarray
    ends: np.ndarray  # inclusive
    labels: np.ndarray  # index into the text's label list
    scores: np.ndarray

    @classmethod
    def empty(cls) -> "Candidates":
        z = np.zeros((0,), dtype=np.int64)
        return cls(z, z.copy(), z.copy(), np.zeros((0,), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.starts)

    def select(self, index: np.ndarray) -> "Candidates":
        return Candidates(self.starts[index], self.ends[index], self.labels[index], self.scores[index])

    def canonical(self) -> "Candidates":
        """Sorted by (start, end, label): the order in which GLiNER breaks score ties."""
        return self.select(np.lexsort((self.labels, self.ends, self.starts)))


@dataclass
class Entities:
    """Decoded entities of one text, in the official order (by start, then acceptance order)."""

    words: Candidates  # the accepted candidates, in word units
    starts: np.ndarray  # each entity's first character
    ends: np.ndarray  # one past each entity's last character

    def __len__(self) -> int:
        return len(self.words)

    def select(self, index: np.ndarray) -> "Entities":
        return Entities(self.words.select(index), self.starts[index], self.ends[index])


def decode_entities(
    cands: Candidates, word_starts: np.ndarray, word_ends: np.ndarray, *, flat: bool = True, multi_label: bool = False
) -> Entities:
    """The entities of a text from its candidates in word units, with the characters of their
    words (``word_starts``/``word_ends``: each word's first and one-past-last character): the
    official library's decoding, for ``predict_entities`` and the spaCy component alike."""
    kept = cands.select(greedy_decode(cands, flat=flat, multi_label=multi_label))
    return Entities(kept, word_starts[kept.starts], word_ends[kept.ends])


def greedy_decode(cands: Candidates, *, flat: bool = True, multi_label: bool = False) -> np.ndarray:
    """Indices of the accepted candidates, sorted by start (then acceptance order)."""
    if len(cands) == 0:
        return np.zeros((0,), dtype=np.int64)
    order = np.argsort(-cands.scores, kind="stable")
    starts, ends, labels = cands.starts.tolist(), cands.ends.tolist(), cands.labels.tolist()
    accepted: list = []
    if flat:
        _flat(order.tolist(), starts, ends, labels, multi_label, accepted)
    else:
        _nested(order.tolist(), starts, ends, labels, multi_label, accepted)
    result = np.asarray(accepted, dtype=np.int64)
    return result[np.argsort(cands.starts[result], kind="stable")]


def _flat(order, starts, ends, labels, multi_label, accepted) -> None:
    owner: dict = {}  # unit -> (start, end) of the accepted span covering it
    taken = set()
    for i in order:
        s, e = starts[i], ends[i]
        covering = {owner[u] for u in range(s, e + 1) if u in owner}
        if covering and not (multi_label and covering == {(s, e)} and (s, e, labels[i]) not in taken):
            continue
        for u in range(s, e + 1):
            owner[u] = (s, e)
        taken.add((s, e, labels[i]))
        accepted.append(i)


def _nested(order, starts, ends, labels, multi_label, accepted) -> None:
    """Accepted spans may nest but never cross. A candidate (s, e) crosses an accepted (a, b)
    when a < s <= b < e (some accepted span ending in [s, e) starts before s) or
    s < a <= e < b (some accepted span starting in (s, e] ends after e). Two arrays answer
    both: the smallest start of the accepted spans ending at each unit, and the largest end
    of those starting at each unit; a check reads only the candidate's own width, so the
    cost is linear in the number of candidates times the span width (not quadratic)."""
    size = max(ends) + 2 if ends else 1
    first_start = [size] * size  # per end unit: the smallest start of an accepted span ending there
    last_end = [-1] * size  # per start unit: the largest end of an accepted span starting there
    kept = set()
    taken = set()
    for i in order:
        s, e = starts[i], ends[i]
        if (s, e) in kept and (not multi_label or (s, e, labels[i]) in taken):
            continue
        if s < e and (min(first_start[s:e]) < s or max(last_end[s + 1 : e + 1]) > e):
            continue
        if s < first_start[e]:
            first_start[e] = s
        if e > last_end[s]:
            last_end[s] = e
        kept.add((s, e))
        taken.add((s, e, labels[i]))
        accepted.append(i)


def token_candidates(probs: np.ndarray, threshold: Union[float, np.ndarray]) -> Candidates:
    """Token-level models: spans from per-word probabilities [words, labels, 3] (start, end, inside).
    ``threshold``: one number, or one per label (per-label thresholds).

    As the official ``TokenDecoder``: a span (s, e) of label c is a candidate when the
    start score of s and the end score of e are above the threshold and every word of
    s..e has an inside score of at least the threshold; its score is the smallest of
    those. Spans are not limited to ``max_width``. Comparisons follow the official types:
    start and end in float32, inside in float64. Candidates come in the official order,
    (start, label, end), not the span models' canonical one: scores saturate at 1.0 and
    tie more often here, and greedy decoding breaks ties by this order.
    """
    n_words = probs.shape[0]
    if n_words == 0 or probs.shape[1] == 0:
        return Candidates.empty()
    start, end, inside = probs[..., 0], probs[..., 1], probs[..., 2]
    start_ok = start > np.asarray(threshold, dtype=np.float32)
    end_ok = end > np.asarray(threshold, dtype=np.float32)
    inside_ok = inside.astype(np.float64) >= np.asarray(threshold, dtype=np.float64)
    parts = []
    for s, c in zip(*np.nonzero(start_ok & inside_ok)):
        stop = s + 1
        while stop < n_words and inside_ok[stop, c]:
            stop += 1
        ends = s + np.flatnonzero(end_ok[s:stop, c])
        if len(ends) == 0:
            continue
        running = np.minimum.accumulate(inside[s:stop, c])[ends - s]
        scores = np.minimum(np.minimum(running, start[s, c]), end[ends, c])
        parts.append(np.stack([np.full(len(ends), s), ends, np.full(len(ends), c), scores.astype(np.float64)], axis=1))
    if not parts:
        return Candidates.empty()
    rows = np.concatenate(parts)  # already by start, label (np.nonzero's order), end
    return Candidates(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2].astype(np.int64), rows[:, 3])
