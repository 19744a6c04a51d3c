"""Greedy decoding of scored span candidates, as in GLiNER.

Candidates above the threshold are visited by descending score (stable: ties keep
start, width, label order); a span is accepted unless it conflicts with one already
accepted. Flat: any overlap conflicts. Nested: only crossing spans (or the same span)
conflict. Multi-label: the same span may take several labels.

Spans are in "units" (GLiNER words, or spaCy tokens after alignment), end inclusive.
"""
from dataclasses import dataclass

import numpy as np


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
