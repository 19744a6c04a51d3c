"""Comparing predictions with the official library's: entities equal, scores within
SCORE_TOL, or the difference explained by the official library's own greedy search on
scores moved by float noise (README, "Tests")."""

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from spacy_gliner.model.words import split_words

# Float noise on one score, the one tolerance of the parity checks: our score of an entity
# may differ from the official one by this much, and a difference in the entities is
# explained only where moving each official score by at most this much gives ours (see
# ``explain``). Float32 sums in another order (our code, or the official library on another
# CPU: MKL's and ATen's kernels differ by CPU) move these models' scores by up to 2.5e-5
# (measured on every checkpoint of the suite under MKL_CBWR=COMPATIBLE/AVX2 and
# ATEN_CPU_CAPABILITY=default/avx2 by benchmarks/score_noise.py; ~1e-11 in float64): 4x
# margin. README, "Tests".
SCORE_TOL = 1e-4


def load_official(path: Path) -> Any:
    """A fresh official ``GLiNER`` model from a local folder, in eval mode."""
    from gliner import GLiNER

    model = GLiNER.from_pretrained(str(path), local_files_only=True)
    model.eval()
    return model


Key = Tuple[int, int, str]


class OfficialEntities(list):
    """One text's entities from the official library (dicts with start, end, label, score),
    with what explains a difference from them: ``candidates()``, every span that run scored
    above ``threshold - SCORE_TOL`` with its official score, in the official candidate order,
    and the run's threshold and mode."""

    def __init__(
        self,
        entities: Sequence[dict],
        candidates: Callable[[], List[dict]],
        threshold: float,
        flat_ner: bool,
        multi_label: bool,
    ) -> None:
        super().__init__(entities)
        self.candidates = candidates
        self.threshold = threshold
        self.flat_ner = flat_ner
        self.multi_label = multi_label


def official_inference(
    model: Any,
    texts: Sequence[str],
    labels: Any,
    threshold: float = 0.5,
    flat_ner: bool = True,
    multi_label: bool = False,
    batch_size: int = 8,
    **options: Any,
) -> List[OfficialEntities]:
    """``model.inference`` (the official library), each text's entities able to explain a
    difference. The candidates come from a second run in the same batches (so with the same
    scores), made the first time a difference asks for them. ``options`` go to both runs
    (relex models: ``relations``, which are part of the prompt, and ``return_relations=False``)."""
    texts = list(texts)
    entities = model.inference(
        texts, labels, threshold=threshold, flat_ner=flat_ner, multi_label=multi_label, batch_size=batch_size, **options
    )
    runs: List[List[List[dict]]] = []

    def candidates(i: int) -> List[dict]:
        if not runs:
            runs.append(official_candidates(model, texts, labels, threshold - SCORE_TOL, batch_size, **options))
        return runs[0][i]

    return [
        OfficialEntities(e, partial(candidates, i), threshold, flat_ner, multi_label) for i, e in enumerate(entities)
    ]


def official_candidates(
    model: Any, texts: Sequence[str], labels: Any, threshold: float, batch_size: int = 8, **options: Any
) -> List[List[dict]]:
    """Every span the official library scores above ``threshold`` in each text, as entity
    dicts with its scores, in the order its greedy search receives them (which settles equal
    scores): its own ``inference``, its decoder's greedy search keeping every candidate."""
    decoder = model.decoder
    decoder.greedy_search = lambda spans, flat_ner=True, multi_label=False: list(spans)
    try:
        return model.inference(list(texts), labels, threshold=threshold, batch_size=batch_size, **options)
    finally:
        del decoder.greedy_search


@dataclass
class Comparison:
    """How predictions compare with the official library's, text by text.

    A text passes when its entities (start, end, label, in order) are the official ones, or
    when the difference is explained: the official library's own greedy decoding gives ours
    once each official score moves by at most SCORE_TOL, float noise (see ``explain``).
    """

    texts: int = 0
    entities: int = 0  # official entities compared
    max_diff: float = 0.0  # largest difference between our score of an entity and the official one
    explained: List[str] = field(default_factory=list)  # texts that differ by float near-ties only
    errors: List[str] = field(default_factory=list)  # anything else: a real mismatch

    def check(self) -> None:
        assert not self.errors, "\n".join(self.errors[:5])
        assert self.max_diff <= SCORE_TOL, f"scores differ by up to {self.max_diff:.2e}"


def compare(
    official: Sequence[List[dict]], ours: Sequence[List[dict]], threshold: float, comparison: Comparison
) -> Comparison:
    """Add texts to ``comparison``: entities as dicts with start, end, label, score.

    A difference can only be explained where the official entities are ``OfficialEntities``
    (from ``official_inference``); with plain lists, any difference is an error.
    """
    assert len(official) == len(ours), f"{len(official)} official results for {len(ours)} of ours"
    for theirs, mine in zip(official, ours):
        i = comparison.texts
        comparison.texts += 1
        comparison.entities += len(theirs)
        if [_key(e) for e in theirs] == [_key(e) for e in mine]:
            for a, b in zip(theirs, mine):
                comparison.max_diff = max(comparison.max_diff, abs(a["score"] - b["score"]))
            continue
        a, b = {_key(e) for e in theirs}, {_key(e) for e in mine}
        where = f"text {i}: only official {sorted(a - b)}, only ours {sorted(b - a)}"
        if not isinstance(theirs, OfficialEntities):
            comparison.errors.append(f"{where} (no official candidates to explain it: use official_inference)")
            continue
        assert theirs.threshold == threshold, (
            f"compared at threshold {threshold}, the official run used {theirs.threshold}"
        )
        official_scores = {_key(c): c["score"] for c in theirs.candidates()}
        for e in mine:
            if _key(e) in official_scores:
                comparison.max_diff = max(comparison.max_diff, abs(official_scores[_key(e)] - e["score"]))
        problem = explain(theirs, mine)
        (comparison.errors if problem else comparison.explained).append(f"{where}: {problem}" if problem else where)
    return comparison


def explain(theirs: OfficialEntities, ours: List[dict]) -> Optional[str]:
    """Why ``ours`` is not an official reading of the text, or None where it is one: where the
    official greedy search, on the official candidates with each score moved by at most
    SCORE_TOL, returns exactly ``ours``. So two official scores at most 2 * SCORE_TOL apart
    may be taken in either order, and a score within SCORE_TOL of the threshold may fall on
    either side, with everything that follows from that in the greedy search (a cascade);
    nothing else.

    The moved scores are built, then checked: ours up by SCORE_TOL (so each wins every
    near-tie it can) and the others down by SCORE_TOL, ours with one start kept in our
    order, and ties in the moved scores go to ours. The decoding that settles it is the
    official library's own.
    """
    threshold, candidates = theirs.threshold, theirs.candidates()
    scored = {_key(c): c["score"] for c in candidates}
    decoded = official_greedy(
        [(c, c["score"]) for c in candidates if c["score"] > threshold], theirs.flat_ner, theirs.multi_label
    )
    if decoded != [_key(e) for e in theirs] or any(scored[_key(e)] != e["score"] for e in theirs):
        return "the official candidates do not decode to the official entities (the official run changed?)"
    mine = [_key(e) for e in ours]
    unscored = [k for k in mine if k not in scored]
    if unscored:
        return f"the official library scores {unscored} at most {threshold - SCORE_TOL} (threshold - SCORE_TOL)"
    moved = {k: s - SCORE_TOL for k, s in scored.items()}
    previous: Optional[Key] = None
    for k in mine:  # entities with one start come in acceptance order: keep ours
        moved[k] = scored[k] + SCORE_TOL
        if previous is not None and previous[0] == k[0]:
            moved[k] = min(moved[k], moved[previous])
        previous = k
    if any(moved[k] < scored[k] - SCORE_TOL for k in mine):
        return (
            "our order of entities with one start takes official scores more than 2 * SCORE_TOL apart in the other"
            " order"
        )
    rank = {k: r for r, k in enumerate(mine)}
    kept = [c for c in candidates if moved[_key(c)] > threshold]
    order = sorted(range(len(kept)), key=lambda j: (-moved[_key(kept[j])], rank.get(_key(kept[j]), len(rank) + j)))
    if official_greedy([(kept[j], moved[_key(kept[j])]) for j in order], theirs.flat_ner, theirs.multi_label) != mine:
        their_scores = {k: round(scored[k], 7) for k in set(mine) ^ {_key(e) for e in theirs}}
        return f"no official scores within {SCORE_TOL} of {their_scores} (official scores) decode to ours"
    return None


def _key(entity: dict) -> Key:
    return (entity["start"], entity["end"], entity["label"])


def official_greedy(scored: List[Tuple[dict, float]], flat_ner: bool, multi_label: bool) -> List[Key]:
    """The official library's greedy search over (entity, score) pairs, in this order where scores are equal."""
    from gliner.decoding.decoder import Span, SpanDecoder

    # character offsets, end inclusive like word indices: two spans share a word iff they share a character
    spans = [Span(start=e["start"], end=e["end"] - 1, entity_type=e["label"], score=score) for e, score in scored]
    return [(s.start, s.end + 1, s.entity_type) for s in SpanDecoder(None).greedy_search(spans, flat_ner, multi_label)]


def aligned(doc: Any) -> bool:
    """Whether no token holds characters of two GLiNER words, so word spans map 1:1 onto token spans."""
    owner = np.full(len(doc.text), -1)
    for i, (_, start, end) in enumerate(split_words(doc.text)):
        owner[start:end] = i
    for token in doc:
        words = set(owner[token.idx : token.idx + len(token)]) - {-1}
        if len(words) > 1:
            return False
    return True


def token_entities(doc: Any, entities: List[dict]) -> List[dict]:
    """Official entities (character offsets) widened to whole tokens of ``doc``: the same
    entities (which keep what explains a difference) where the tokens are GLiNER's words."""
    if aligned(doc):
        return entities
    out = []
    for e in entities:
        span = doc.char_span(e["start"], e["end"], alignment_mode="expand")
        out.append({"start": span.start_char, "end": span.end_char, "label": e["label"], "score": e["score"]})
    return out


def fitting_ents(doc: Any, entities: List[dict]) -> List[Tuple[int, int, str]]:
    """The (start, end, label) token spans that the placing rule puts in ``doc.ents`` for
    entities at character offsets: each widened to tokens; by score, best first, then by
    position, each one whose tokens no chosen one holds; in document order."""
    taken: set = set()
    chosen = []
    for e in sorted(entities, key=lambda e: (-e["score"], e["start"], e["end"])):
        span = doc.char_span(e["start"], e["end"], alignment_mode="expand")
        if taken.isdisjoint(range(span.start, span.end)):
            taken.update(range(span.start, span.end))
            chosen.append((span.start, span.end, e["label"]))
    return sorted(chosen)
