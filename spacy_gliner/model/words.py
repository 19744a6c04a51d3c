"""GLiNER's words: the official regex splitter and the named ones a checkpoint may ask for.

A text becomes (word, char start, char end) triples by the checkpoint's ``words_splitter_type``,
as the official library splits it. The "spacy" splitter is spaCy's tokenizer, which this
torch-only core does not import: the spaCy layer hands it in (``alignment.word_splitter``).
"""

import functools
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

from .settings import WORD_SPLITTERS

WORD_PATTERN = re.compile(r"\w+(?:[-_]\w+)*|\S")
Words = List[Tuple[str, int, int]]
Splitter = Callable[[str], Words]
SplitterFactory = Callable[[str], Splitter]  # a language code -> its splitter


def split_words(text: str) -> Words:
    """GLiNER's word splitter: (word, char start, char end) for each word of ``text``."""
    return [(m.group(), m.start(), m.end()) for m in WORD_PATTERN.finditer(text)]


def word_offsets(words: Words) -> Tuple[np.ndarray, np.ndarray]:
    """Each word's first character and one past its last, as arrays."""
    starts = np.fromiter((s for _, s, _ in words), dtype=np.int64, count=len(words))
    ends = np.fromiter((e for _, _, e in words), dtype=np.int64, count=len(words))
    return starts, ends


def word_splitter(name: str, spacy: Optional[SplitterFactory] = None) -> Splitter:
    """The word splitter of a checkpoint's ``words_splitter_type``, as the official library splits.

    ``spacy`` builds spaCy's tokenizer of a language: the "spacy" splitter (English), which
    "universal" also falls back to (multi-language), as the official ones do; the spaCy layer
    passes it. Named splitters use the library the
    official one uses, an optional extra of this package; a missing one raises ImportError naming
    the ``pip install`` to run. Each splitter is built once (some load a model).
    """
    if name not in WORD_SPLITTERS:
        raise ValueError(f"Unknown word splitter {name!r}; known: {', '.join(WORD_SPLITTERS)}.")
    return _built(name, spacy if name in ("spacy", "universal") else None)


@functools.lru_cache(maxsize=None)
def _built(name: str, spacy: Optional[SplitterFactory]) -> Splitter:
    if name == "whitespace":
        return split_words
    if name == "spacy":
        if spacy is None:
            raise ValueError(_NO_SPACY.format(name=name, why="is spaCy's tokenizer"))
        return spacy("en")
    if name == "universal":
        return _universal(spacy)
    return _SPLITTER_FACTORIES[name]()


_NO_SPACY = (
    "The {name!r} word splitter {why}, which spacy_gliner's torch-only core does not import: "
    "use spacy_gliner.alignment.word_splitter({name!r}), or pass its splitter to predict_entities (splitter=...)."
)


def _require(module: str, splitter: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"The {splitter!r} word splitter needs the package {package}: "
            f"`pip install 'spacy-gliner[{splitter}]'` or `pip install {package}`."
        ) from err


def _placed(text: str, tokens: Iterable[str]) -> Words:
    """Tokens of a splitter that returns strings, placed in ``text`` left to right (as the official
    splitters do); a token not found in the text (a splitter that normalises) is left out."""
    out: Words = []
    last = 0
    for token in tokens:
        start = text.find(token, last)
        if not token or start < 0:
            continue
        last = start + len(token)
        out.append((token, start, last))
    return out


def _jieba() -> Splitter:
    tagger = _require("jieba3", "jieba", "jieba3").jieba3()
    return lambda text: _placed(text, tagger.cut_text(text))


def _janome() -> Splitter:
    tokenizer = _require("janome.tokenizer", "janome", "janome").Tokenizer()
    return lambda text: _placed(text, tokenizer.tokenize(text, wakati=True))


def _mecab() -> Splitter:
    tagger = _require("mecab", "mecab", "python-mecab-ko").MeCab()
    return lambda text: _placed(text, tagger.morphs(text))


def _camel() -> Splitter:
    tokenize = _require("camel_tools.tokenizers.word", "camel", "camel-tools").simple_word_tokenize
    return lambda text: _placed(text, tokenize(text))


def _hindi() -> Splitter:
    module = _require("indicnlp.tokenize.indic_tokenize", "hindi", "indic-nlp-library")
    return lambda text: _placed(text, module.trivial_tokenize(text, lang="hi"))


def _hanlp() -> Splitter:
    hanlp = _require("hanlp", "hanlp", "hanlp")
    tagger = hanlp.load(hanlp.pretrained.tok.ALL["FINE_ELECTRA_SMALL_ZH"])  # the official default model
    return lambda text: _placed(text, tagger(text))


def _stanza() -> Splitter:
    stanza = _require("stanza", "stanza", "stanza")
    langdetect = _require("langdetect", "stanza", "langdetect")
    langdetect.DetectorFactory.seed = 42
    pipelines: Dict[str, Any] = {}

    def pipeline(lang: str) -> Any:
        if lang not in pipelines:
            try:
                pipelines[lang] = stanza.Pipeline(lang, processors="tokenize", verbose=False, download_method=None)
            except Exception:  # no local model: download it, as the official splitter does
                try:
                    stanza.download(lang, processors="tokenize", verbose=False)
                    pipelines[lang] = stanza.Pipeline(lang, processors="tokenize", verbose=False)
                except Exception:
                    pipelines[lang] = None
        return pipelines[lang]

    def split(text: str) -> Words:
        try:
            lang = langdetect.detect(text)
        except langdetect.lang_detect_exception.LangDetectException:
            lang = "en"
        nlp = pipeline("zh" if lang == "zh-cn" else lang) or pipeline("en")
        if nlp is None:
            raise RuntimeError(f"No stanza tokenizer model for {lang!r} or 'en' could be loaded or downloaded.")
        return [(w.text, w.start_char, w.end_char) for sentence in nlp(text).sentences for w in sentence.words]

    return split


def _universal(spacy: Optional[SplitterFactory]) -> Splitter:
    """The official multilingual splitter: by detected language, else spaCy's multi-language
    tokenizer ("xx"); without ``spacy`` such a text is refused when it comes (the packages are
    still checked now)."""
    langdetect = _require("langdetect", "universal", "langdetect")
    langdetect.DetectorFactory.seed = 0
    by_lang = {"ko": _mecab(), "ja": _janome(), "hi": _hindi(), "ar": _camel()}
    by_lang.update(dict.fromkeys(("zh-cn", "zh-tw", "zh"), _jieba()))
    fallback = spacy("xx") if spacy is not None else None

    def split(text: str) -> Words:
        try:
            splitter = by_lang.get(langdetect.detect(text), fallback)
        except langdetect.lang_detect_exception.LangDetectException:
            splitter = fallback
        if splitter is None:
            raise ValueError(_NO_SPACY.format(name="universal", why="reads this text with spaCy's tokenizer"))
        return splitter(text)

    return split


_SPLITTER_FACTORIES: Dict[str, SplitterFactory] = {
    "jieba": _jieba,
    "janome": _janome,
    "mecab": _mecab,
    "camel": _camel,
    "hindi": _hindi,
    "hanlp": _hanlp,
    "stanza": _stanza,
}
