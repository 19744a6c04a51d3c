"""Greedy decoding: flat, nested and multi-label, with GLiNER's tie order.

Hand-made cases pin down each rule; a property test checks every mode against the
official library's own ``greedy_search`` on random candidates with many tied scores; nested
decoding equals a plain quadratic reference on random candidates, and scales to 200,000.
"""

from typing import List, Sequence, Tuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_gliner.model.decoding import Candidates, greedy_decode

Row = Tuple[int, int, int, float]  # start, end (inclusive), label, score


def candidates(rows: Sequence[Row]) -> Candidates:
    """Candidates in canonical order, as SpanSearch hands them over."""
    if not rows:
        return Candidates.empty()
    s, e, lab, x = zip(*rows)
    return Candidates(np.array(s), np.array(e), np.array(lab), np.array(x, dtype=np.float64)).canonical()


def decode(rows: Sequence[Row], **mode: bool) -> List[Row]:
    cands = candidates(rows)
    return [
        (int(cands.starts[i]), int(cands.ends[i]), int(cands.labels[i]), float(cands.scores[i]))
        for i in greedy_decode(cands, **mode)
    ]


def test_empty():
    assert greedy_decode(Candidates.empty()).tolist() == []
    assert greedy_decode(Candidates.empty(), flat=False, multi_label=True).tolist() == []


def test_flat_keeps_best_of_overlapping_and_sorts_by_start():
    rows = [(0, 1, 0, 0.6), (1, 2, 1, 0.9), (3, 3, 0, 0.7), (0, 0, 1, 0.8)]
    assert decode(rows) == [(0, 0, 1, 0.8), (1, 2, 1, 0.9), (3, 3, 0, 0.7)]


def test_flat_same_span_keeps_one_label():
    rows = [(2, 3, 0, 0.7), (2, 3, 1, 0.9)]
    assert decode(rows) == [(2, 3, 1, 0.9)]


def test_nested_allows_containment_but_not_crossing():
    rows = [(0, 4, 0, 0.9), (1, 2, 1, 0.8), (3, 6, 1, 0.85), (5, 6, 0, 0.6), (0, 4, 1, 0.7)]
    # (3, 6) crosses (0, 4); (5, 6) lies outside (0, 4); the second label of (0, 4) is refused
    assert decode(rows, flat=False) == [(0, 4, 0, 0.9), (1, 2, 1, 0.8), (5, 6, 0, 0.6)]


def test_nested_keeps_spans_nested_in_each_other_whichever_comes_first():
    rows = [(2, 2, 0, 0.95), (0, 5, 1, 0.9), (1, 3, 0, 0.8)]
    assert decode(rows, flat=False) == [(0, 5, 1, 0.9), (1, 3, 0, 0.8), (2, 2, 0, 0.95)]


def test_flat_multi_label_gives_one_span_several_labels_but_no_overlap():
    rows = [(0, 1, 0, 0.9), (0, 1, 1, 0.8), (1, 2, 2, 0.85), (0, 0, 2, 0.7), (3, 3, 0, 0.6), (3, 3, 1, 0.6)]
    assert decode(rows, multi_label=True) == [(0, 1, 0, 0.9), (0, 1, 1, 0.8), (3, 3, 0, 0.6), (3, 3, 1, 0.6)]


def test_nested_multi_label():
    rows = [(0, 3, 0, 0.9), (0, 3, 1, 0.5), (1, 1, 0, 0.8), (1, 1, 2, 0.75), (2, 4, 1, 0.95)]
    # (2, 4) comes first and so blocks the crossing (0, 3) with both its labels
    assert decode(rows, flat=False, multi_label=True) == [(1, 1, 0, 0.8), (1, 1, 2, 0.75), (2, 4, 1, 0.95)]


TIED = [(2, 3, 1, 0.5), (1, 2, 0, 0.5), (2, 3, 0, 0.5), (0, 1, 2, 0.5), (0, 0, 1, 0.5)]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # equal scores are visited in (start, width, label) order: (0, 0) before (0, 1), label 0 before 1
        ({"flat": True}, [(0, 0, 1, 0.5), (1, 2, 0, 0.5)]),
        ({"flat": True, "multi_label": True}, [(0, 0, 1, 0.5), (1, 2, 0, 0.5)]),
        # (1, 2) crosses (0, 1); same start: acceptance order
        ({"flat": False}, [(0, 0, 1, 0.5), (0, 1, 2, 0.5), (2, 3, 0, 0.5)]),
        ({"flat": False, "multi_label": True}, [(0, 0, 1, 0.5), (0, 1, 2, 0.5), (2, 3, 0, 0.5), (2, 3, 1, 0.5)]),
    ],
)
def test_ties_follow_start_width_label_order(mode, expected):
    assert decode(TIED, **mode) == expected


def test_score_order_comes_before_tie_order():
    rows = [(0, 0, 0, 0.5), (0, 1, 1, 0.6)]
    assert decode(rows) == [(0, 1, 1, 0.6)]
    assert decode(rows, flat=False) == [(0, 1, 1, 0.6), (0, 0, 0, 0.5)]


def test_canonical_order_is_start_end_label():
    cands = Candidates(
        np.array([2, 0, 0, 0]), np.array([2, 1, 0, 1]), np.array([0, 1, 0, 0]), np.array([0.1, 0.2, 0.3, 0.4])
    )
    c = cands.canonical()
    assert list(zip(c.starts.tolist(), c.ends.tolist(), c.labels.tolist())) == [
        (0, 0, 0),
        (0, 1, 0),
        (0, 1, 1),
        (2, 2, 0),
    ]


def test_select_keeps_arrays_parallel():
    cands = candidates([(0, 0, 0, 0.9), (1, 2, 1, 0.4), (3, 3, 2, 0.7)])
    kept = cands.select(cands.scores > 0.5)
    assert list(zip(kept.starts.tolist(), kept.ends.tolist(), kept.labels.tolist())) == [(0, 0, 0), (3, 3, 2)]


# -- against the official greedy search ---------------------------------------------------
def official_greedy(rows: Sequence[Row], flat: bool, multi_label: bool) -> List[Row]:
    """The official library's decoder on the same candidates, visited in its (start, width, label) order."""
    from gliner.decoding.decoder import BaseDecoder, Span

    spans = [Span(s, e, str(lab), x) for s, e, lab, x in sorted(rows, key=lambda r: (r[0], r[1] - r[0], r[2]))]
    kept = BaseDecoder.greedy_search(None, spans, flat_ner=flat, multi_label=multi_label)
    return [(s.start, s.end, int(s.entity_type), s.score) for s in kept]


@st.composite
def candidate_rows(draw) -> List[Row]:
    n_words = draw(st.integers(1, 12))
    n_labels = draw(st.integers(1, 4))
    scores = draw(st.lists(st.sampled_from([0.55, 0.6, 0.7, 0.8, 0.9, 0.95]), min_size=1, max_size=3, unique=True))
    cells = st.tuples(
        st.integers(0, n_words - 1), st.integers(0, 4), st.integers(0, n_labels - 1), st.sampled_from(scores)
    )
    rows = draw(st.lists(cells, max_size=30, unique_by=lambda r: (r[0], r[1], r[2])))
    return [(s, min(s + w, n_words - 1), lab, x) for s, w, lab, x in rows if s + w <= n_words - 1]


@settings(max_examples=300, deadline=None)
@given(rows=candidate_rows(), flat=st.booleans(), multi_label=st.booleans())
def test_greedy_decode_equals_official(rows, flat, multi_label):
    assert decode(rows, flat=flat, multi_label=multi_label) == official_greedy(rows, flat, multi_label)


# -- nested decoding: fast, and exactly the quadratic algorithm's output -----------------------


def _old_nested(order, starts, ends, labels, multi_label, accepted) -> None:
    """The quadratic algorithm greedy_decode used before (the reference)."""
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


def _old_greedy(cands: Candidates, multi_label: bool) -> np.ndarray:
    order = np.argsort(-cands.scores, kind="stable")
    accepted: list = []
    _old_nested(
        order.tolist(), cands.starts.tolist(), cands.ends.tolist(), cands.labels.tolist(), multi_label, accepted
    )
    result = np.asarray(accepted, dtype=np.int64)
    return result[np.argsort(cands.starts[result], kind="stable")]


def _random_candidates(
    rng: np.random.Generator, n_units: int, n: int, n_labels: int, max_width: int, ties: bool
) -> Candidates:
    starts = rng.integers(0, n_units, n)
    ends = np.minimum(starts + rng.integers(0, max_width, n), n_units - 1)
    labels = rng.integers(0, n_labels, n)
    scores = (rng.integers(1, 5, n) / 5 if ties else rng.random(n)).astype(np.float32)
    return Candidates(starts, ends, labels, scores).canonical()


@pytest.mark.parametrize("seed", range(40))
def test_nested_decoding_equals_the_old_algorithm(seed):
    rng = np.random.default_rng(seed)
    cands = _random_candidates(
        rng,
        int(rng.integers(1, 60)),
        int(rng.integers(0, 400)),
        int(rng.integers(1, 4)),
        int(rng.integers(1, 14)),
        ties=seed % 2 == 0,
    )
    for multi_label in (False, True):
        assert (
            greedy_decode(cands, flat=False, multi_label=multi_label).tolist()
            == _old_greedy(cands, multi_label).tolist()
        )


def test_nested_decoding_of_many_candidates():
    """200,000 candidates over 100,000 units (the old algorithm: minutes; now about a second).
    The result is a valid nesting, and equal to the old algorithm's on a slice of it."""
    rng = np.random.default_rng(0)
    cands = _random_candidates(rng, 100_000, 200_000, 3, 12, ties=False)
    keep = greedy_decode(cands, flat=False, multi_label=True)
    spans = sorted(set(zip(cands.starts[keep].tolist(), cands.ends[keep].tolist())))
    assert len(spans) > 10_000
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert not (s1 < s2 <= e1 < e2)  # neighbours never cross
    head = cands.select(np.flatnonzero(cands.ends < 2_000))
    assert greedy_decode(head, flat=False, multi_label=True).tolist() == _old_greedy(head, True).tolist()
