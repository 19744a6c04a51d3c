"""GLiNER words inside a spaCy Doc, and the rule that maps word spans onto tokens.

The model sees the words the official library would see (its regex over ``doc.text``),
so scores match the official ones. A span of words is mapped to the smallest span of
tokens that covers its characters ("expand"): a word boundary inside a token (as in
"U.S.-based" or a URL) widens the entity to whole tokens instead of losing it. Decoding
then runs on token spans, so the result always fits ``doc.ents``.

The characters GLiNER itself found are kept next to the widened span: each candidate
carries its words' character start and end (``word_offsets``), and the component writes
them to the span group's ``attrs["starts"]``/``attrs["ends"]`` (read back with
:func:`exact_offsets`). When two word spans widen to the same token span, decoding keeps
one of them (the best scored); its own word offsets are the ones kept. With the GLiNER
tokenizer (``spacy_gliner.Tokenizer.v1``) tokens are words and both agree.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Tuple

import numpy as np
from spacy.tokens import Doc, SpanGroup

from .model.decoding import Candidates
from .model.inputs import Splitter, Words, register_splitter, split_words

DOC_TOKENS = "tokens"  # the component's ``words`` setting that makes the Doc's tokens GLiNER's words

STARTS, ENDS = "starts", "ends"  # span group attrs: GLiNER's character offsets of each span


@dataclass
class AlignedWords:
    words: List[str]
    first_token: np.ndarray  # token holding each word's first character
    last_token: np.ndarray  # token holding each word's last character
    char_starts: np.ndarray  # each word's first character
    char_ends: np.ndarray  # one past each word's last character

    def to_tokens(self, cands: Candidates) -> Candidates:
        """Candidates with word indices replaced by token indices (inclusive ends)."""
        if len(cands) == 0:
            return cands
        return Candidates(self.first_token[cands.starts], self.last_token[cands.ends], cands.labels, cands.scores)

    def word_offsets(self, cands: Candidates) -> Tuple[np.ndarray, np.ndarray]:
        """Character start and end of each candidate (word units), as GLiNER found it."""
        if len(cands) == 0:
            return np.zeros((0,), dtype=np.int64), np.zeros((0,), dtype=np.int64)
        return self.char_starts[cands.starts], self.char_ends[cands.ends]


def doc_words(doc: Doc, splitter: Optional[Splitter] = split_words) -> AlignedWords:
    """GLiNER's words of ``doc`` by ``splitter`` over its text, or its tokens (``None``)."""
    split = word_spans(doc, splitter)
    token_starts = np.fromiter((t.idx for t in doc), dtype=np.int64, count=len(doc))
    starts = np.fromiter((s for _, s, _ in split), dtype=np.int64, count=len(split))
    ends = np.fromiter((e for _, _, e in split), dtype=np.int64, count=len(split))
    first = np.searchsorted(token_starts, starts, side="right") - 1
    last = np.searchsorted(token_starts, ends - 1, side="right") - 1
    return AlignedWords([w for w, _, _ in split], first, last, starts, ends)


def exact_offsets(group: SpanGroup) -> List[Tuple[int, int]]:
    """GLiNER's character (start, end) of each span of a group, from its ``attrs``; spans
    written without them (by another component, or an older version) give their token offsets."""
    spans = list(group)
    starts, ends = group.attrs.get(STARTS), group.attrs.get(ENDS)
    if starts is None or ends is None or len(starts) != len(spans) or len(ends) != len(spans):
        return [(s.start_char, s.end_char) for s in spans]
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


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


def spacy_splitter(lang: str = "en") -> Splitter:
    """The official ``spacy`` word splitter: the tokens of ``spacy.blank(lang)``, whitespace tokens included."""
    tokenizer = _blank_tokenizer(lang)
    return lambda text: [(t.text, t.idx, t.idx + len(t.text)) for t in tokenizer(text)]


register_splitter("spacy", spacy_splitter)
