"""The parity comparison itself (``helpers.parity.compare``): a difference from the official library
passes only where the official scores explain it, never by counting.

Candidates here are made up (character offsets, official scores); the greedy search that
settles each case is the official library's own.
"""

from typing import List, Optional, Sequence

import pytest
from helpers.data import TINY_CHECKPOINTS, benchmark
from helpers.parity import SCORE_TOL, Comparison, OfficialEntities, compare, official_candidates, official_greedy

THRESHOLD = 0.5


def entity(start: int, end: int, label: str, score: float) -> dict:
    return {"start": start, "end": end, "label": label, "score": score}


def official_run(candidates: Sequence[dict], flat_ner: bool = True, multi_label: bool = False) -> OfficialEntities:
    """What the official library returns for these candidates (in their candidate order)."""
    kept = [(c, c["score"]) for c in candidates if c["score"] > THRESHOLD]
    by_key = {(c["start"], c["end"], c["label"]): c for c in candidates}
    entities = [by_key[k] for k in official_greedy(kept, flat_ner, multi_label)]
    return OfficialEntities(entities, lambda: list(candidates), THRESHOLD, flat_ner, multi_label)


def run(theirs: List[dict], ours: List[dict]) -> Comparison:
    return compare([theirs], [ours], THRESHOLD, Comparison())


def errors(theirs: List[dict], ours: List[dict]) -> Optional[List[str]]:
    comparison = run(theirs, ours)
    assert len(comparison.errors) + len(comparison.explained) <= 1
    return comparison.errors or None


# a label near-tie: the official scores of the two readings of one span
NEAR = 0.5 * SCORE_TOL  # well within float noise
FAR = 3 * SCORE_TOL  # more than the two scores can move (SCORE_TOL each)
PERSON = entity(0, 11, "person", 0.8)


def test_the_official_entities_pass():
    theirs = official_run([PERSON, entity(0, 11, "location", 0.7), entity(15, 20, "location", 0.9)])
    comparison = run(theirs, [dict(e) for e in theirs])
    assert comparison.errors == comparison.explained == []
    comparison.check()


def test_a_genuine_mismatch_is_an_error():
    theirs = official_run([PERSON, entity(0, 11, "location", 0.7)])
    assert errors(theirs, [entity(0, 11, "location", 0.7)])
    assert errors(theirs, [])  # an entity lost
    assert errors(theirs, [PERSON, entity(15, 20, "location", 0.9)])  # one the official library never scored


def test_a_label_near_tie_may_flip():
    location = entity(0, 11, "location", 0.8 - NEAR)
    theirs = official_run([PERSON, location])
    assert [e["label"] for e in theirs] == ["person"]
    comparison = run(theirs, [location])
    assert comparison.errors == [] and len(comparison.explained) == 1
    comparison.check()


def test_labels_further_apart_than_float_noise_may_not():
    location = entity(0, 11, "location", 0.8 - FAR)
    assert errors(official_run([PERSON, location]), [location])


def test_a_score_at_the_threshold_may_fall_either_way():
    low = entity(0, 11, "person", THRESHOLD + NEAR)
    assert errors(official_run([low]), []) is None  # the official library keeps it, we do not
    below = entity(0, 11, "person", THRESHOLD - NEAR)  # a candidate only at threshold - SCORE_TOL
    assert errors(official_run([below]), [below]) is None  # we keep it, the official library does not
    assert errors(official_run([entity(0, 11, "person", THRESHOLD + FAR)]), [])
    assert errors(official_run([]), [below])  # not a candidate of the official run at all


def test_a_cascade_from_an_explained_near_tie_is_accepted():
    """Flat: the official library takes the long span, which blocks both short ones; ours
    took the first short one (a near-tie), so the second one no longer conflicts."""
    long = entity(0, 20, "organization", 0.9)
    first = entity(0, 8, "person", 0.9 - NEAR)
    second = entity(10, 20, "location", 0.7)
    theirs = official_run([first, long, second])
    assert theirs == [long]
    comparison = run(theirs, [first, second])
    assert comparison.errors == [] and len(comparison.explained) == 1


def test_an_unexplained_cascade_is_an_error():
    long = entity(0, 20, "organization", 0.9)
    second = entity(10, 20, "location", 0.7)
    # the same outcome, but its root is no near-tie
    far = entity(0, 8, "person", 0.9 - FAR)
    assert errors(official_run([far, long, second]), [far, second])
    # a root that is a near-tie, but not what follows from it: the second span must come too
    first = entity(0, 8, "person", 0.9 - NEAR)
    assert errors(official_run([first, long, second]), [first])


def test_nested_entities_with_one_start_come_in_acceptance_order():
    outer = entity(0, 20, "organization", 0.9)
    inner = entity(0, 8, "person", 0.9 - NEAR)
    theirs = official_run([inner, outer], flat_ner=False)
    assert theirs == [outer, inner]
    assert errors(theirs, [inner, outer]) is None  # a near-tie: either order
    far_inner = entity(0, 8, "person", 0.9 - FAR)
    assert errors(official_run([far_inner, outer], flat_ner=False), [far_inner, outer])


def test_without_official_candidates_any_difference_is_an_error():
    location = entity(0, 11, "location", 0.8 - NEAR)
    comparison = compare([[PERSON]], [[location]], THRESHOLD, Comparison())
    assert comparison.errors and "official_inference" in comparison.errors[0]


def test_candidates_that_do_not_give_the_official_entities_are_an_error():
    theirs = official_run([PERSON, entity(0, 11, "location", 0.8 - NEAR)])
    theirs.candidates = lambda: [entity(0, 11, "location", 0.8 - NEAR)]
    assert "do not decode to the official entities" in errors(theirs, [entity(0, 11, "location", 0.8 - NEAR)])[0]


def test_scores_further_than_float_noise_fail():
    theirs = official_run([PERSON])
    run(theirs, [entity(0, 11, "person", 0.8 + 0.5 * SCORE_TOL)]).check()
    with pytest.raises(AssertionError, match="scores differ"):
        run(theirs, [entity(0, 11, "person", 0.8 + 2 * SCORE_TOL)]).check()


# -- the official side: candidates and fixtures ------------------------------------------
@pytest.mark.parity
@pytest.mark.parametrize("name", ["markerV0-bert", "token-bert-w3"])
def test_official_candidates_decode_to_the_official_entities(name, official):
    """The candidates are every span of the official run, with its scores: the official greedy
    search over them is the official result (span and token-level decoders)."""
    texts, labels = benchmark("CrossNER_AI", 8)
    model = official(name)
    candidates = official_candidates(model, texts, labels, THRESHOLD)
    assert "greedy_search" not in vars(model.decoder)  # the official decoder is itself again
    assert all(c["score"] > THRESHOLD for found in candidates for c in found)
    for flat_ner, multi_label in ((True, False), (False, False), (False, True)):
        theirs = model.inference(texts, labels, threshold=THRESHOLD, flat_ner=flat_ner, multi_label=multi_label)
        assert sum(map(len, candidates)) > sum(map(len, theirs)) > 20
        for entities, found in zip(theirs, candidates):
            assert official_greedy([(c, c["score"]) for c in found], flat_ner, multi_label) == [
                (e["start"], e["end"], e["label"]) for e in entities
            ]


@pytest.mark.parity
@pytest.mark.parametrize("name", TINY_CHECKPOINTS)
def test_the_tiny_checkpoints_tell_labels_apart(name, official):
    """A span's two best labels are further apart than float noise can move them, nearly
    always: so float noise does not pick the labels, and an explained difference stays rare."""
    texts, labels = benchmark("CrossNER_AI", 10)
    spans = {}
    for i, found in enumerate(official_candidates(official(name), texts, labels, 0.3)):
        for c in found:
            spans.setdefault((i, c["start"], c["end"]), []).append(c["score"])
    gaps = [a - b for a, b, *_ in (sorted(s, reverse=True) for s in spans.values() if len(s) > 1)]
    assert len(gaps) > 100
    assert sum(gap <= 2 * SCORE_TOL for gap in gaps) < 0.01 * len(gaps)
