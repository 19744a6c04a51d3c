"""GLiNER words inside a spaCy Doc, and how the entities found on them are placed in the Doc.

Decoding: the model sees the words the official library would see (its splitter over
``doc.text``), and the entities are decoded on those words, as the official library
decodes them (``model.decoding.decode_entities``, the code path of
``model.search.predict_entities``): the entities are the official ones, character for
character, whatever the pipeline's tokenizer.

Placing: each entity becomes a span of the smallest run of tokens covering its characters
(``doc.char_span(start, end, alignment_mode="expand")``): a word boundary inside a token
(as in "U.S.-based", "Park.</p" or a URL) widens the span to whole tokens instead of
losing the entity. ``doc.spans[spans_key]`` holds every entity, in the official order;
its spans may overlap, and two entities may widen to the same tokens. ``doc.ents`` gets
the entities that fit spaCy's rule of no shared token (:func:`fitting_entities`): by
score, best first, then by position, each one whose tokens no chosen one holds; the
component then merges them with the doc's own entities by ``overwrite_ents`` (flat mode
only: nested mode leaves ``doc.ents`` alone).

Exact characters: each span of the group carries GLiNER's characters in its own ``id_``
(``"gliner:A:B"``: they start ``A`` characters after the span's first character and end
``B`` before its last), which spaCy keeps wherever the span goes (DocBin, ``Doc.from_docs``,
other components appending to the group); the group's attrs list the entities as the
official library returns them (``starts``, ``ends``, ``labels``, ``scores``), from which
each span finds its score by its characters and label. :func:`exact_offsets` and
:func:`exact_entities` read them back, and fail loudly where they were invalidated:
retokenization after the pipe (``merge_entities``), or a group whose scores were dropped.
With the GLiNER tokenizer (``spacy_gliner.Tokenizer.v1``) tokens are words and every span
is exactly its entity.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from spacy.tokens import Doc, Span, SpanGroup

from .model.decoding import Entities
from .model.words import Splitter, Words, split_words, word_offsets
from .model.words import word_splitter as core_word_splitter

# span group attrs: the official entities (characters, spaCy label, score), in the official order
STARTS, ENDS, LABELS, SCORES = "starts", "ends", "labels", "scores"
PROPAGATED = "propagated"  # group attr (with propagation on): per entity, the found text it was taken from, or None
EXACT_ID = "gliner"  # prefix of the ``id_`` of each span the component writes: "gliner:A:B"


@dataclass
class AlignedWords:
    words: List[str]
    first_token: np.ndarray  # token holding each word's first character
    last_token: np.ndarray  # token holding each word's last character
    char_starts: np.ndarray  # each word's first character
    char_ends: np.ndarray  # one past each word's last character


def doc_words(doc: Doc, splitter: Optional[Splitter] = split_words) -> AlignedWords:
    """GLiNER's words of ``doc`` by ``splitter`` over its text, or its tokens (``None``)."""
    return aligned_words(doc, word_spans(doc, splitter))


def aligned_words(doc: Doc, split: Words) -> AlignedWords:
    """``split`` (words of ``doc.text``, e.g. GLiNER2's, whose "." after a text without an end
    mark lies past its end: it goes with the last token) and the tokens holding them."""
    token_starts = doc.to_array("IDX").astype(np.int64)
    starts, ends = word_offsets(split)
    first = np.searchsorted(token_starts, starts, side="right") - 1
    last = np.searchsorted(token_starts, ends - 1, side="right") - 1
    return AlignedWords([w for w, _, _ in split], first, last, starts, ends)


def word_range(words: AlignedWords, start: int, end: int) -> Tuple[int, int]:
    """The first and last word of characters [start, end), which begin and end on word bounds
    (GLiNER2's entities and relation ends do)."""
    first = int(np.searchsorted(words.char_starts, start))
    last = int(np.searchsorted(words.char_ends, end))
    if (
        first >= len(words.words)
        or last >= len(words.words)
        or words.char_starts[first] != start
        or words.char_ends[last] != end
    ):
        raise ValueError(f"Characters {start}-{end} do not begin and end on words of the text.")
    return first, last


def entity_group(
    doc: Doc, name: str, words: AlignedWords, found: Entities, labels: Sequence[str], attrs: Dict
) -> SpanGroup:
    """The span group of ``found`` (decoded on ``words``): each entity widened to tokens, with
    its characters in its ``id_`` and the official entities in the attrs (plus ``attrs``)."""
    spans = []
    for first, last, start, end, label in zip(
        words.first_token[found.words.starts].tolist(),
        words.last_token[found.words.ends].tolist(),
        found.starts.tolist(),
        found.ends.tolist(),
        found.words.labels.tolist(),
    ):
        span = Span(doc, first, last + 1, label=labels[label])
        span.id_ = f"{EXACT_ID}:{start - span.start_char}:{span.end_char - end}"
        spans.append(span)
    official = {
        STARTS: found.starts.astype("int64"),
        ENDS: found.ends.astype("int64"),
        LABELS: [labels[label] for label in found.words.labels.tolist()],
        SCORES: found.words.scores.astype("float32"),
    }
    return SpanGroup(doc, name=name, spans=spans, attrs={**attrs, **official})


def fitting_entities(group: SpanGroup, found: Entities) -> List[Span]:
    """The spans of the group just written for ``found`` that ``doc.ents`` can hold (no token
    in two of them): by score, best first, then by position (characters), each one whose
    tokens no chosen one holds; in document order, as plain spans (no ``id_``, which
    ``doc.ents`` would copy onto its tokens). A span with several labels enters once, with
    its best label."""
    spans = list(group)
    scores, starts, ends = found.words.scores.tolist(), found.starts.tolist(), found.ends.tolist()
    taken = np.zeros(len(group.doc) + 1, dtype=bool)
    chosen = []
    for i in sorted(range(len(spans)), key=lambda i: (-scores[i], starts[i], ends[i])):
        span = spans[i]
        if not taken[span.start : span.end].any():
            taken[span.start : span.end] = True
            chosen.append(Span(group.doc, span.start, span.end, label=span.label))
    return sorted(chosen, key=lambda s: s.start)


class ExactEntity(NamedTuple):
    """One entity of the component, as the official library returns it, and its span."""

    span: Span  # widened to whole tokens
    start: int  # GLiNER's first character
    end: int  # one past GLiNER's last character
    label: str
    score: float


def exact_offsets(group: SpanGroup) -> List[Tuple[int, int]]:
    """GLiNER's character (start, end) of each span of a group: the component's spans give
    their entity's characters, other spans (another component's, appended to the group)
    their own. Raises ``ValueError`` where the group no longer fits the doc's tokens."""
    return [exact or (span.start_char, span.end_char) for span, exact in _read(group)]


def exact_entities(group: SpanGroup) -> List[ExactEntity]:
    """The component's entities in a group (spans other components added are not theirs),
    each with GLiNER's characters and its score. Raises ``ValueError`` where they were
    invalidated: tokens retokenized after the pipe, or scores that were not kept."""
    spans = _read(group)
    mine = [(span, exact) for span, exact in spans if exact is not None]
    if not mine:
        if len(group.attrs.get(STARTS, ())):  # entities listed, but no span carries its characters
            raise ValueError(
                f"doc.spans[{group.name!r}] was written by an earlier spacy-gliner, whose spans do not carry their "
                "characters: run the gliner component on these docs again."
            )
        return []
    scores = _scores(group)
    out = []
    for span, (start, end) in mine:
        score = scores.get((start, end, span.label_))
        if score is None:
            raise ValueError(
                f"The span {span.text!r} ({span.label_}) of doc.spans[{group.name!r}] has no score: its group's attrs"
                " do not list it (the span was copied in from another group or doc). Read entities from the group the"
                " gliner component wrote, or run the component again."
            )
        out.append(ExactEntity(span, start, end, span.label_, score))
    return out


def _read(group: SpanGroup) -> List[Tuple[Span, Optional[Tuple[int, int]]]]:
    """Each span of ``group`` with its exact characters (None: not written by the component),
    after checking that the spans still point at the tokens they were made of (token
    offsets read as arrays: no Token objects, which cost more than all the rest)."""
    doc = group.doc
    try:
        spans = list(group)
    except IndexError as err:  # spaCy's E035: a span beyond the (now shorter) doc
        raise _retokenized(group) from err
    bounds = np.asarray(
        [(s.start, s.end, s.start_char, s.end_char) for s in spans if s.start < s.end], dtype=np.int64
    ).reshape(-1, 4)
    if len(bounds):
        first, last = doc.to_array("IDX").astype(np.int64), doc.to_array("LENGTH").astype(np.int64)
        last += first
        if (first[bounds[:, 0]] != bounds[:, 2]).any() or (last[bounds[:, 1] - 1] != bounds[:, 3]).any():
            raise _retokenized(group)
    return [(span, _exact(span)) for span in spans]


def _exact(span: Span) -> Optional[Tuple[int, int]]:
    """The characters in a span's ``id_`` ("gliner:A:B"), or None for a span without them."""
    if not span.id or span.id not in span.doc.vocab.strings:
        return None
    prefix, *deltas = span.id_.split(":")
    if prefix != EXACT_ID:
        return None
    try:
        a, b = (int(d) for d in deltas)
    except ValueError:
        a = b = -1
    start, end = span.start_char + a, span.end_char - b
    if a < 0 or b < 0 or start >= end:
        raise ValueError(
            f"The span {span.text!r} of a gliner span group has a damaged id_ {span.id_!r} (expected 'gliner:A:B', the "
            "entity's characters as distances from the span's start and end). Do not set id_ on the component's spans."
        )
    return start, end


def _scores(group: SpanGroup) -> Dict[Tuple[int, int, str], float]:
    """{(start, end, label): score} of the official entities the component listed in the group."""
    try:
        rows = zip(group.attrs[STARTS], group.attrs[ENDS], group.attrs[LABELS], group.attrs[SCORES])
    except KeyError:
        raise ValueError(
            f"The entities of doc.spans[{group.name!r}] have lost their scores: the group's attrs were dropped "
            "(Doc.from_docs, or a list of spans assigned to doc.spans). Their exact characters are kept "
            "(alignment.exact_offsets); for scores, read the docs before merging them, or run the component again."
        ) from None
    return {(int(a), int(b), str(label)): float(score) for a, b, label, score in rows}


def _retokenized(group: SpanGroup) -> ValueError:
    return ValueError(
        f"doc.spans[{group.name!r}] no longer fits the doc's tokens: they were merged or split after the spans were "
        "written (merge_entities, merge_noun_chunks or doc.retokenize()), so its spans point at other tokens and "
        "their characters cannot be trusted. Put such components before the gliner component, or read the "
        "entities before retokenizing."
    )


def word_spans(doc: Doc, splitter: Optional[Splitter] = split_words) -> Words:
    """(word, char start, char end) of GLiNER's words in ``doc``: ``splitter`` over its text, or,
    with ``None``, the Doc's own tokens (whitespace tokens left out), so entities fit the tokens
    exactly and any language spaCy tokenizes can be read."""
    if splitter is None:
        return [(t.text, t.idx, t.idx + len(t.text)) for t in doc if not t.is_space]
    return splitter(doc.text)


@lru_cache(maxsize=None)
def _blank_tokenizer(lang: str):
    import spacy

    return spacy.blank(lang).tokenizer


def spacy_splitter(lang: str) -> Splitter:
    """The official ``spacy`` word splitter: the tokens of ``spacy.blank(lang)``, whitespace tokens included."""
    tokenizer = _blank_tokenizer(lang)
    return lambda text: [(t.text, t.idx, t.idx + len(t.text)) for t in tokenizer(text)]


def word_splitter(name: str) -> Splitter:
    """The official word splitter ``name`` (a checkpoint's ``words_splitter_type``), "spacy" and
    "universal" included: the core's splitters, with spaCy's tokenizer handed in."""
    return core_word_splitter(name, spacy_splitter)
