"""A spaCy tokenizer that cuts text into GLiNER's own words.

With it, every token is a GLiNER word (or a run of whitespace), so the word -> token
mapping of ``alignment`` is one to one and ``doc.ents`` carries exactly the character
offsets the official library returns. The words come from ``model.words.split_words``
(the official regex) or, with ``words = "gliner2"``, from gliner2's own splitter
(``model.gliner2.inputs.split_words``: URLs, e-mail addresses and @handles whole, combining
marks inside words), which GLiNER2 checkpoints read. The whitespace follows spaCy's
conventions: one space after a word is that token's ``whitespace_``; any other whitespace
becomes a whitespace token, as ``spacy.blank("en")`` makes it. ``doc.text == text`` for
every text.

Use it in a config as ``[nlp.tokenizer] @tokenizers = "spacy_gliner.Tokenizer.v1"`` (and
``words = "gliner2"`` for a GLiNER2 checkpoint).
"""

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Union

from spacy.tokens import Doc
from spacy.util import registry
from spacy.vocab import Vocab

from .model.words import Splitter, split_words

WORDS = ("gliner", "gliner2")  # whose words the tokenizer cuts


class GLiNERTokenizer:
    """Text -> Doc whose non-space tokens are GLiNER's words. Stateless: serialisation
    writes and reads nothing, but exists because ``nlp.to_disk``/``spacy.load`` call it."""

    def __init__(self, vocab: Vocab, splitter: Splitter = split_words) -> None:
        self.vocab = vocab
        self.splitter = splitter

    def __call__(self, text: str) -> Doc:
        if not isinstance(text, str):
            raise TypeError(f"The GLiNER tokenizer takes a str, not {type(text).__name__}.")
        words: List[str] = []
        spaces: List[bool] = []
        pos = 0
        for word, start, end in self.splitter(text):
            if start > pos:
                _gap(text[pos:start], words, spaces)
            words.append(word)
            spaces.append(False)
            pos = end
        if pos < len(text):
            _gap(text[pos:], words, spaces)
        return Doc(self.vocab, words=words, spaces=spaces)

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Doc]:
        for text in texts:
            yield self(text)

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return b""

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "GLiNERTokenizer":
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        Path(path).write_bytes(b"")  # spaCy expects a file named "tokenizer" in a saved pipeline

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "GLiNERTokenizer":
        return self


def _gap(gap: str, words: List[str], spaces: List[bool]) -> None:
    """Whitespace between words, as spaCy keeps it: a leading space after a word becomes that
    word's trailing space; the rest (if any) is one whitespace token."""
    if words and gap[0] == " ":  # gaps lie between words, so words[-1] is a word
        spaces[-1] = True
        gap = gap[1:]
    if gap:
        words.append(gap)
        spaces.append(False)


@registry.tokenizers("spacy_gliner.Tokenizer.v1")
def make_gliner_tokenizer(words: str = "gliner") -> Callable[[Any], GLiNERTokenizer]:
    """The tokenizer factory for ``[nlp.tokenizer]``: GLiNER's words ("gliner") or GLiNER2's
    ("gliner2"), spaCy's whitespace."""
    if words not in WORDS:
        raise ValueError(f"words must be one of {', '.join(map(repr, WORDS))} (whose words to cut), got {words!r}.")
    if words == "gliner2":
        from .model.gliner2.inputs import split_words as gliner2_words

        splitter: Splitter = gliner2_words
    else:
        splitter = split_words

    def create(nlp: Any) -> GLiNERTokenizer:
        return GLiNERTokenizer(nlp.vocab, splitter)

    return create
