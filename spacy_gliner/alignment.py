"""GLiNER words inside a spaCy Doc, and the rule that maps word spans onto tokens.

The model sees the words the official library would see (its regex over ``doc.text``),
so scores match the official ones. A span of words is mapped to the smallest span of
tokens that covers its characters ("expand"): a word boundary inside a token (as in
"U.S.-based" or a URL) widens the entity to whole tokens instead of losing it. Decoding
then runs on token spans, so the result always fits ``doc.ents``.
"""
from dataclasses import dataclass
from typing import List

import numpy as np
from spacy.tokens import Doc

from .model.decoding import Candidates
from .model.inputs import split_words


@dataclass
class AlignedWords:
    words: List[str]
    first_token: np.ndarray  # token holding each word's first character
    last_token: np.ndarray  # token holding each word's last character

    def to_tokens(self, cands: Candidates) -> Candidates:
        """Candidates with word indices replaced by token indices (inclusive ends)."""
        if len(cands) == 0:
            return cands
        return Candidates(self.first_token[cands.starts], self.last_token[cands.ends], cands.labels, cands.scores)


def doc_words(doc: Doc) -> AlignedWords:
    split = split_words(doc.text)
    token_starts = np.fromiter((t.idx for t in doc), dtype=np.int64, count=len(doc))
    starts = np.fromiter((s for _, s, _ in split), dtype=np.int64, count=len(split))
    ends = np.fromiter((e for _, _, e in split), dtype=np.int64, count=len(split))
    first = np.searchsorted(token_starts, starts, side="right") - 1
    last = np.searchsorted(token_starts, ends - 1, side="right") - 1
    return AlignedWords([w for w, _, _ in split], first, last)
