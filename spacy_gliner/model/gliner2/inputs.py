"""GLiNER2 model inputs: words, the schema prompt, windows and padded batches.

As gliner2 does, a text that does not end with ``.``, ``!`` or ``?`` is read with a ``.``
after it (the models were trained so), words are lower-cased before the tokenizer sees
them, and each word and prompt token is tokenized on its own. The input is the prompt (the
tasks' schema tokens joined by ``[SEP_STRUCT]``, then ``[SEP_TEXT]``) followed by the words'
sub-tokens, with no special tokens around it. A text longer than the encoder allows is cut
into overlapping windows of words (``plan_windows``, preferring sentence starts); every
window carries the whole prompt, so all tasks still run in one pass per window.
"""

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

from ..inputs import plan_windows, sentence_starts
from ..words import Words
from .schema import SEP_STRUCT, SEP_TEXT, Task

SENTENCE_END = (".", "!", "?")  # a text not ending with one is read with a "." after it
SPLITTERS = ("whitespace", "char")
MIN_TEXT_TOKENS = 32  # the prompt must leave at least this many sub-tokens for the text


@functools.lru_cache(maxsize=None)
def _pattern(name: str) -> "re.Pattern[str]":
    """gliner2's word patterns (``processing/word_splitter.py``)."""
    if name == "char":
        return re.compile(r"[A-Za-z0-9@._\-+]+|\S")
    marks = "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)).startswith("M"))
    word = rf"[\w{marks}\u200c\u200d]"
    return re.compile(
        rf"""(?:https?://[^\s]+|www\.[^\s]+)
        |[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{{2,}}
        |@[a-z0-9_]+
        |{word}+(?:[-_]{word}+)*
        |\S""",
        re.VERBOSE | re.IGNORECASE,
    )


def split_words(text: str, splitter: str = "whitespace") -> Words:
    """(word, char start, char end) of each word, with gliner2's ``whitespace`` (default) or
    ``char`` splitter (Latin words whole, every other character a word: Chinese, Japanese)."""
    if splitter not in SPLITTERS:
        raise ValueError(f"Unknown GLiNER2 word splitter {splitter!r}; known: {', '.join(SPLITTERS)}.")
    return [(m.group(), m.start(), m.end()) for m in _pattern(splitter).finditer(text)]


def model_words(text: str, words: Optional[Words] = None, splitter: str = "whitespace") -> Words:
    """The words the model reads: as gliner2 reads them, the text with a "." after it where it
    lacks an end mark, split by ``splitter``; or ``words`` given by a caller, and that "." as
    one more word. Offsets past the text are that "."'s (decoding keeps it out of results)."""
    if text.endswith(SENTENCE_END):
        return list(words) if words is not None else split_words(text, splitter)
    if words is None:
        return split_words(text + ".", splitter)
    return list(words) + [(".", len(text), len(text) + 1)]


def check_words(text: str, words: Any) -> Words:
    """Words given by a caller: in order, not overlapping, inside ``text``, never empty."""
    last = 0
    for item in words:
        ok = isinstance(item, (tuple, list)) and len(item) == 3 and isinstance(item[0], str)
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in item[1:]):
            raise ValueError(f"Words must be (word, char start, char end) triples, not {item!r}.")
        word, start, end = item
        if not (last <= start < end <= len(text)) or not word.strip():
            raise ValueError(
                f"The word {word!r} at {start}-{end} is not a word (not blank) inside the text, after the previous one."
            )
        last = end
    return [tuple(w) for w in words]


@dataclass(frozen=True)
class PromptLayout:
    """The prompt's sub-token ids ([SEP_TEXT] included) and where its markers are.

    ``prompts[t]``: position of task ``t``'s ``[P]``; ``markers[t]``: positions of its field
    markers ([E], [R] or [L]), one per field."""

    ids: Tuple[int, ...]
    prompts: Tuple[int, ...]
    markers: Tuple[Tuple[int, ...], ...]


class Tokens:
    """gliner2's tokenization: each word or prompt token on its own, remembered."""

    def __init__(self, tokenizer: Any, cache_size: int = 50_000) -> None:
        self.tokenizer = tokenizer
        self.ids: Callable[[str], Tuple[int, ...]] = functools.lru_cache(maxsize=cache_size)(self._ids)

    def _ids(self, token: str) -> Tuple[int, ...]:
        return tuple(self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(token)))

    def prompt(self, tasks: Sequence[Task]) -> PromptLayout:
        ids: List[int] = []
        prompts, markers = [], []
        for t, task in enumerate(tasks):
            if t:
                ids += self.ids(SEP_STRUCT)
            found = []
            for i, token in enumerate(task.tokens):
                if i == 1:
                    prompts.append(len(ids))
                elif 4 <= i < len(task.tokens) - 2 and i % 2 == 0:
                    found.append(len(ids))
                ids += self.ids(token)
            markers.append(tuple(found))
        ids += self.ids(SEP_TEXT)
        return PromptLayout(tuple(ids), tuple(prompts), tuple(markers))


@dataclass
class Window:
    """One encoder pass: words [start, end) of one text, after the prompt."""

    text: int
    start: int
    end: int
    input_ids: List[int]
    word_index: List[int]  # position of each word's first sub-token (no sub-token: the next one)


def plan(
    text: int, words: Words, pieces: List[Tuple[int, ...]], layout: PromptLayout, max_tokens: int, overlap: int
) -> List[Window]:
    """The windows of one text (model words and their sub-tokens): each fits ``max_tokens``
    with the prompt (no limit on words: gliner2 has none at inference); neighbours share up
    to ``overlap`` words; no word is left out."""
    budget = max_tokens - len(layout.ids)
    if budget < MIN_TEXT_TOKENS:
        raise ValueError(
            f"The schema's prompt takes {len(layout.ids)} of the {max_tokens} sub-tokens the encoder reads at once, "
            f"leaving {budget} for the text (at least {MIN_TEXT_TOKENS} are needed). GLiNER2 reads every task of a "
            "schema in the same pass: use fewer or shorter labels and descriptions."
        )
    counts = [len(p) for p in pieces]
    ranges = plan_windows(counts, budget, len(words), overlap, 0, sentence_starts([w for w, _, _ in words]))
    out = []
    for start, end, _, _ in ranges:
        ids = list(layout.ids)
        index = []
        for p in pieces[start:end]:
            index.append(len(ids))
            ids += p[: max(0, max_tokens - len(ids))]  # a single word longer than the budget is cut
        out.append(Window(text, start, end, ids, [min(i, len(ids) - 1) for i in index]))
    return out


@dataclass
class WindowBatch:
    """Padded tensors of a batch of windows; ``word_counts[b]`` words in window ``b``."""

    input_ids: Any
    attention_mask: Any
    word_index: Any
    word_counts: List[int]


def collate(windows: Sequence[Window], pad_id: int, device: Any) -> WindowBatch:
    import torch

    n_tokens = max(len(w.input_ids) for w in windows)
    n_words = max(len(w.word_index) for w in windows)
    input_ids = torch.full((len(windows), n_tokens), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(windows), n_tokens), dtype=torch.long)
    word_index = torch.zeros((len(windows), n_words), dtype=torch.long)
    for i, w in enumerate(windows):
        input_ids[i, : len(w.input_ids)] = torch.tensor(w.input_ids)
        attention_mask[i, : len(w.input_ids)] = 1
        word_index[i, : len(w.word_index)] = torch.tensor(w.word_index)
    return WindowBatch(
        input_ids.to(device), attention_mask.to(device), word_index.to(device), [len(w.word_index) for w in windows]
    )
