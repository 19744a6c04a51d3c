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
    kept_s = np.zeros((0,), dtype=np.int64)
    kept_e = np.zeros((0,), dtype=np.int64)
    taken = set()
    for i in order:
        s, e = starts[i], ends[i]
        same = (kept_s == s) & (kept_e == e)
        if same.any() and (not multi_label or (s, e, labels[i]) in taken):
            continue
        overlap = (kept_s <= e) & (s <= kept_e)
        nested = ((kept_s <= s) & (e <= kept_e)) | ((s <= kept_s) & (kept_e <= e))
        if (overlap & ~nested).any():
            continue
        kept_s = np.append(kept_s, s)
        kept_e = np.append(kept_e, e)
        taken.add((s, e, labels[i]))
        accepted.append(i)
