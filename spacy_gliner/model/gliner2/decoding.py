"""From GLiNER2 scores to entities, relations and classes with exact character offsets.

Decoding follows gliner2 (``inference/runtime.py``, ``models/boundary/engine.py``):
thresholds are inclusive (``score >= threshold``); span checkpoints keep, per entity type,
the best spans that do not overlap (confidence first) and for each relation instance the
best head and tail; boundary checkpoints resolve each query's candidates with the
checkpoint's overlap policy and de-duplicate relation edges as gliner2 does.

Rules of this package on top: gliner2 reads a text without an end mark with a ``.`` after
it and may return that ``.``, with offsets past the text: after decoding, a span that ends
with it ends at the word before instead, and a span of that ``.`` alone is dropped (a
relation with such an argument too). A relation from a span to itself is dropped (boundary
checkpoints never propose one; span checkpoints may) and repeated relation instances of a
span checkpoint are listed once.

A text read in several windows is merged as gliner2's ``extract_long`` merges its chunks:
per entity type the union of the windows' entities, overlaps resolved with the
checkpoint's overlap policy (span checkpoints: non-overlapping, highest total score);
relations de-duplicated by their arguments (text and offsets), keeping the more confident;
a class from the window where it is most confident (multi-label: every window's choices).
"""

import bisect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import numpy as np

from ..words import Words
from .inputs import SENTENCE_END
from .schema import ENTITIES, ClassTask, Schema

T = TypeVar("T")
# gliner2's overlap policy names (``inference/overlap.py``) and what they mean
POLICIES = {
    "allow": "allow",
    "all": "allow",
    "none": "allow",
    "nested": "nested",
    "allow_nested": "nested",
    "flat": "disallow",
    "disallow": "disallow",
    "no_overlap": "disallow",
    "non_overlapping": "disallow",
    "longest": "longest",
    "keep_longest": "longest",
}


@dataclass(frozen=True)
class Mention:
    """A span of the text: characters [start, end), its text and its probability."""

    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Entity(Mention):
    label: str = ""


@dataclass(frozen=True)
class Relation:
    """``label`` from ``head`` to ``tail``. ``score``: the relation's probability (boundary
    checkpoints); span checkpoints score no relation as such: the lower of its arguments'."""

    label: str
    head: Mention
    tail: Mention
    score: float


@dataclass
class Classification:
    """One classification task: the chosen choices and every choice's probability."""

    task: str
    labels: List[str]
    scores: Dict[str, float]


@dataclass
class Extraction:
    """What one text gave: entities, classes (one per task) and relations."""

    entities: List[Entity] = field(default_factory=list)
    classes: List[Classification] = field(default_factory=list)
    relations: List[Relation] = field(default_factory=list)


def policy_name(policy: Optional[str]) -> str:
    """A canonical overlap policy: "disallow" (flat), "nested", "longest" or "allow"."""
    key = policy.strip().lower().replace("-", "_") if isinstance(policy, str) else None
    if key not in POLICIES:
        raise ValueError(f"Unknown overlap policy {policy!r}; use one of {', '.join(POLICIES)}.")
    return POLICIES[key]


def resolve_overlaps(
    items: Sequence[T], policy: str, score: Callable[[T], float], start: Callable[[T], int], end: Callable[[T], int]
) -> List[T]:
    """gliner2's ``resolve_overlaps``: exact duplicates collapse to the best; then "allow"
    keeps all, "nested" rejects crossings, "longest" drops spans inside another, "disallow"
    keeps the non-overlapping set of highest total score. Ranked by score, start, end."""
    rows = [(-float(score(x)), int(start(x)), int(end(x)), i) for i, x in enumerate(items)]
    return [items[row[3]] for row in resolve_ranked(rows, policy)]


Ranked = Tuple[float, int, int, int]  # (-score, start, end, position): gliner2's rank of a span


def resolve_ranked(rows: List[Ranked], policy: str) -> List[Ranked]:
    """``resolve_overlaps`` on ranked rows (read once: it runs per query of every window,
    on up to a few hundred candidates each); the rows kept, best first."""
    if not rows:
        return []
    ranked = sorted(rows)
    distinct, seen = [], set()
    for row in ranked:
        if (row[1], row[2]) not in seen:
            seen.add((row[1], row[2]))
            distinct.append(row)
    if policy == "allow":
        return distinct
    if policy == "nested":
        kept: List[Ranked] = []
        for row in distinct:
            s, e = row[1], row[2]
            if all(not (s < ke and ks < e) or (s <= ks and ke <= e) or (ks <= s and e <= ke) for _, ks, ke, _ in kept):
                kept.append(row)
        return kept
    if policy == "longest":
        return [
            row
            for row in distinct
            if not any(os <= row[1] and row[2] <= oe and (os < row[1] or row[2] < oe) for _, os, oe, _ in distinct)
        ]
    by_end = sorted(distinct, key=lambda row: (row[2], row[1], row[0], row[3]))
    ends = [row[2] for row in by_end]
    previous = [bisect.bisect_right(ends, row[1], 0, i) - 1 for i, row in enumerate(by_end)]

    def selection_key(selection: Tuple[int, ...]) -> tuple:
        return tuple(sorted(by_end[i] for i in selection))

    # best[i]: the best selection among the first i spans, as (total, size, last span, rest)
    # with ``rest`` the index into ``best`` of the selection it extends (-1: none)
    best: List[Tuple[float, int, int, int]] = [(0.0, 0, -1, -1)]

    def selected(i: int) -> Tuple[int, ...]:
        out = []
        while best[i][2] >= 0:
            out.append(best[i][2])
            i = best[i][3]
        return tuple(reversed(out))

    for i, row in enumerate(by_end):
        before = previous[i] + 1
        take = (best[before][0] - row[0], best[before][1] + 1, i, before)
        skip = best[i]
        if take[0] != skip[0]:
            best.append(take if take[0] > skip[0] else skip)
        elif take[1] != skip[1]:
            best.append(take if take[1] > skip[1] else skip)
        else:  # a full tie: the better ranked selection (rare: rebuilt only here)
            best.append(take if selection_key(selected(before) + (i,)) < selection_key(selected(i)) else skip)
    return sorted(by_end[i] for i in selected(len(by_end)))


def greedy(spans: List[Tuple[float, int, int]]) -> List[Tuple[float, int, int]]:
    """gliner2's span-checkpoint default: best score first (stable), skipping overlaps."""
    kept: List[Tuple[float, int, int]] = []
    for span in sorted(spans, key=lambda s: s[0], reverse=True):
        if not any(span[1] < k[2] and k[1] < span[2] for k in kept):
            kept.append(span)
    return kept


class TextWords:
    """The model words of one text and their characters. ``raw`` mentions are gliner2's
    (offsets of the text as the model read it, its "." included); ``final`` applies this
    package's rule for that "." (see the module)."""

    def __init__(self, text: str, words: Words) -> None:
        self.text = text
        self.starts = [s for _, s, _ in words]
        self.ends = [e for _, _, e in words]
        self.model_text = text if text.endswith(SENTENCE_END) else text + "."

    def raw(self, first: int, stop: int, score: float) -> Optional[Mention]:
        """Words [first, stop) as gliner2 reports them; None where its surface is empty."""
        start, end = self.starts[first], self.ends[stop - 1]
        surface = self.model_text[start:end].strip()
        return Mention(start, end, surface, score) if surface else None

    def final(self, mention: Mention) -> Optional[Mention]:
        """``mention`` without gliner2's added "."; None if nothing of the text is left."""
        if mention.end <= len(self.text):
            return mention
        piece = self.text[mention.start :].rstrip()
        if not piece:
            return None
        return Mention(mention.start, mention.start + len(piece), piece.strip(), mention.score)

    def entity(self, first: int, stop: int, score: float, label: str) -> Optional[Entity]:
        mention = self.raw(first, stop, score)
        mention = self.final(mention) if mention is not None else None
        return Entity(mention.start, mention.end, mention.text, mention.score, label) if mention is not None else None


def final_relations(relations: List[Relation], words: TextWords) -> List[Relation]:
    """Relations without gliner2's added "." in their arguments; one whose argument was only
    that ".", or whose head and tail are the same span, is left out."""
    out = []
    for r in relations:
        head, tail = words.final(r.head), words.final(r.tail)
        if head is not None and tail is not None and (head.start, head.end) != (tail.start, tail.end):
            out.append(Relation(r.label, head, tail, r.score))
    return out


def thresholded(probs: np.ndarray, n_words: int, thresholds: Sequence[float]) -> List[List[Tuple[float, int, int]]]:
    """Span checkpoints: per field of probs [L, K, fields], its (score, start, end) spans at or
    above its threshold (compared in float32, as gliner2 compares), in (start, width) order."""
    width = probs.shape[1]
    valid = (np.arange(n_words)[:, None] + np.arange(width)[None, :]) < n_words
    out = []
    for f, threshold in enumerate(thresholds):
        starts, widths = np.nonzero(valid & (probs[:, :, f] >= np.float32(threshold)))
        out.append([(float(probs[s, k, f]), int(s), int(s + k + 1)) for s, k in zip(starts, widths)])
    return out


def decide(spans: List[Tuple[float, int, int]], policy: Optional[str]) -> List[Tuple[float, int, int]]:
    """The spans kept: gliner2's span-checkpoint greedy (``policy`` None), else the policy's."""
    if policy is None:
        return greedy(spans)
    return [spans[row[3]] for row in resolve_ranked([(-c[0], c[1], c[2], i) for i, c in enumerate(spans)], policy)]


def first_kept(spans: List[Tuple[float, int, int]], policy: Optional[str]) -> Optional[Tuple[float, int, int]]:
    """``decide(spans, policy)[0]`` (a relation's argument): the greedy keeps the best first."""
    if not spans:
        return None
    return max(spans, key=lambda s: s[0]) if policy is None else decide(spans, policy)[0]


def classify(task: ClassTask, probs: np.ndarray) -> Classification:
    """gliner2's choice: the best (single label), or every choice at or above the task's
    threshold, else the best (multi-label)."""
    best = int(np.argmax(probs))
    chosen = [c for c, p in zip(task.choices, probs) if float(p) >= task.threshold] if task.multi_label else []
    return Classification(task.name, chosen or [task.choices[best]], {c: float(p) for c, p in zip(task.choices, probs)})


def entities(
    scored: Sequence[List[Tuple[float, int, int]]],
    labels: Sequence[str],
    policy: Optional[str],
    offset: int,
    words: TextWords,
) -> List[Entity]:
    """Each label's (score, start, end) candidates of a window whose first word is ``offset``,
    decided by ``policy``, as entities of the text."""
    out = []
    for label, candidates in zip(labels, scored):
        for score, s, e in decide(candidates, policy):
            entity = words.entity(offset + s, offset + e, score, label)
            if entity is not None:
                out.append(entity)
    return out


def deduplicate_edges(edges: List[Relation]) -> List[Relation]:
    """gliner2's ``_deduplicate_relation_edges`` (one relation type): arguments inside another
    argument of the same side become that one; identical edges keep the best score; edges with
    the same argument texts keep the closest pair; an edge whose argument is a strict word
    subset of another edge's (same other argument) goes. Sorted by head, tail, -score."""
    if len(edges) < 2:
        return edges

    def canonical(side: str) -> Dict[Tuple[int, int], Mention]:
        mentions = {(getattr(e, side).start, getattr(e, side).end): getattr(e, side) for e in edges}
        return {
            key: max(
                (m for m in mentions.values() if m.start <= key[0] and m.end >= key[1]),
                key=lambda m: (m.end - m.start, -m.start),
            )
            for key in mentions
        }

    heads, tails = canonical("head"), canonical("tail")
    exact: Dict[Tuple[int, int, int, int], Relation] = {}
    for e in edges:
        head, tail = heads[(e.head.start, e.head.end)], tails[(e.tail.start, e.tail.end)]
        key = (head.start, head.end, tail.start, tail.end)
        if key not in exact or e.score > exact[key].score:
            exact[key] = Relation(e.label, head, tail, e.score)

    def words_of(text: str) -> str:
        return " ".join(text.casefold().split())

    def closeness(e: Relation) -> tuple:
        return (max(e.head.start - e.tail.end, e.tail.start - e.head.end, 0), -e.score, e.head.start, e.tail.start)

    semantic: Dict[Tuple[str, str], Relation] = {}
    for e in exact.values():
        key = (words_of(e.head.text), words_of(e.tail.text))
        if key not in semantic or closeness(e) < closeness(semantic[key]):
            semantic[key] = e
    values = list(semantic.values())
    sets = [(set(words_of(e.head.text).split()), set(words_of(e.tail.text).split())) for e in values]
    kept = [
        e
        for i, e in enumerate(values)
        if not any(
            j != i
            and (
                (sets[i][0] < sets[j][0] and sets[i][1] == sets[j][1])
                or (sets[i][1] < sets[j][1] and sets[i][0] == sets[j][0])
            )
            for j in range(len(values))
        )
    ]
    return sorted(kept, key=lambda e: (e.head.start, e.tail.start, -e.score))


def merge_windows(parts: List[Extraction], schema: Schema, policy: str, relation_scores: bool) -> Extraction:
    """One text's windows merged as gliner2's ``extract_long`` merges chunks (see the module).

    Of two windows' copies of a relation the more confident stays: by the relation's score
    where the checkpoint scores relations (``relation_scores``), else by its best argument."""
    if len(parts) == 1:
        return parts[0]
    out = Extraction()
    for label in [e.name for e in schema.entities]:
        found = [e for part in parts for e in part.entities if e.label == label]
        kept = resolve_overlaps(found, policy, lambda e: e.score, lambda e: e.start, lambda e: e.end)
        out.entities += sorted(kept, key=lambda e: (e.start, e.end, e.text))
    seen: Dict[tuple, int] = {}

    def confidence(r: Relation) -> float:
        return r.score if relation_scores else max(r.head.score, r.tail.score)

    for relation in (r for part in parts for r in part.relations):
        key = (
            relation.label,
            relation.head.start,
            relation.head.end,
            relation.head.text,
            relation.tail.start,
            relation.tail.end,
            relation.tail.text,
        )
        if key not in seen:
            seen[key] = len(out.relations)
            out.relations.append(relation)
        elif confidence(relation) > confidence(out.relations[seen[key]]):
            out.relations[seen[key]] = relation
    for t, task in enumerate(schema.classes):
        windows = [part.classes[t] for part in parts]
        if task.multi_label:
            chosen = list(dict.fromkeys(label for c in windows for label in c.labels))
            out.classes.append(
                Classification(task.name, chosen, {c: max(w.scores[c] for w in windows) for c in task.choices})
            )
        else:
            out.classes.append(max(windows, key=lambda c: c.scores[c.labels[0]]))
    return out


def as_gliner2(
    extraction: Extraction, schema: Schema, include_confidence: bool = True, include_spans: bool = True
) -> Dict[str, Any]:
    """An extraction in the shape of gliner2's ``extract`` result (for comparisons and for
    users coming from gliner2): ``{"entities": {label: [...]}, task: ..., "relation_extraction": {...}}``."""

    def mention(m: Mention) -> Any:
        if not (include_confidence or include_spans):
            return m.text
        out: Dict[str, Any] = {"text": m.text}
        if include_confidence:
            out["confidence"] = m.score
        if include_spans:
            out.update(start=m.start, end=m.end)
        return out

    result: Dict[str, Any] = {}
    if schema.entities:
        result[ENTITIES] = {
            e.name: [mention(x) for x in extraction.entities if x.label == e.name] for e in schema.entities
        }
    for task, c in zip(schema.classes, extraction.classes):
        pairs = [{"label": label, "confidence": c.scores[label]} if include_confidence else label for label in c.labels]
        result[task.name] = pairs if task.multi_label else pairs[0]

    def relation(r: Relation) -> Dict[str, Any]:
        out = {"head": mention(r.head), "tail": mention(r.tail)}
        return {**out, "confidence": r.score} if include_confidence else out

    if schema.relations:
        result["relation_extraction"] = {
            r.name: [relation(x) for x in extraction.relations if x.label == r.name] for r in schema.relations
        }
    return result
