"""Word splitters: the checkpoint's ``words_splitter_type`` as the official library splits, and the
component's ``words = "tokens"`` option (the Doc's own tokens as GLiNER's words)."""

import json
import shutil
from pathlib import Path

import pytest
import spacy
from helpers.data import benchmark
from helpers.parity import Comparison, compare, load_official, official_inference

from spacy_gliner.alignment import doc_words, word_splitter
from spacy_gliner.model import checkpoint
from spacy_gliner.model.search import predict_entities
from spacy_gliner.model.settings import WORD_SPLITTERS

CHINESE = [
    "我来到北京清华大学，李小福是创新办主任。",
    "马云在杭州创办了阿里巴巴公司。",
    "Apple 公司 的 Tim Cook 访问 了 上海 。",
]
LABELS = ["person", "organization", "location", "company"]


def with_splitter(tiny_checkpoint, tmp_path: Path, splitter: str) -> Path:
    folder = tmp_path / splitter
    shutil.copytree(tiny_checkpoint("markerV0-bert"), folder)
    cfg = json.loads((folder / "gliner_config.json").read_text(encoding="utf8"))
    cfg["words_splitter_type"] = splitter
    (folder / "gliner_config.json").write_text(json.dumps(cfg), encoding="utf8")
    return folder


@pytest.mark.parity
@pytest.mark.parametrize("splitter", ["spacy", "jieba"])
def test_named_splitter_parity_with_the_official_library(splitter, tiny_checkpoint, tmp_path):
    """Same words, so the same entities and scores, for a checkpoint with a non-whitespace splitter."""
    pytest.importorskip("jieba3", reason="the jieba extra (pip install 'spacy-gliner[jieba]') is not installed")
    folder = with_splitter(tiny_checkpoint, tmp_path, splitter)
    # jieba yields the spaces between words as words of their own: see the xfail test below
    texts = CHINESE[:2] + (
        [] if splitter == "jieba" else benchmark("CrossNER_AI", 10)[0] + ["U.S.-based firms hired Ada Lovelace ."]
    )
    official = load_official(folder)
    assert type(official.data_processor.words_splitter.splitter).__name__ in (
        "SpaCyTokenSplitter",
        "JiebaTokenSplitter",
    )
    theirs_words = [list(official.data_processor.words_splitter(t)) for t in texts]
    assert [word_splitter(splitter)(t) for t in texts] == theirs_words
    ours = checkpoint.load(folder)
    assert ours.settings.words_splitter_type == splitter
    for threshold in (0.3, 0.5):
        theirs = official_inference(official, texts, LABELS, threshold=threshold)
        compare(
            theirs,
            predict_entities(ours, texts, LABELS, threshold, splitter=word_splitter(splitter)),
            threshold,
            Comparison(),
        ).check()


@pytest.mark.parity
@pytest.mark.xfail(
    strict=True,
    reason=(
        "open: a word with no sub-token (the spacy splitter's whitespace tokens) is read differently from the official"
        " library"
    ),
)
def test_spacy_splitter_whitespace_words_parity(tiny_checkpoint, tmp_path):
    folder = with_splitter(tiny_checkpoint, tmp_path, "spacy")
    texts = ["Hello  world ,  U.S.-based  firms  hired  Ada Lovelace ."]  # jieba: "Apple 公司" has these too
    theirs = official_inference(load_official(folder), texts, LABELS, threshold=0.3)
    found = predict_entities(checkpoint.load(folder), texts, LABELS, 0.3, splitter=word_splitter("spacy"))
    compare(theirs, found, 0.3, Comparison()).check()


def test_saved_checkpoint_keeps_its_splitter(tiny_checkpoint, tmp_path):
    pytest.importorskip("jieba3", reason="the jieba extra is not installed")
    loaded = checkpoint.load(with_splitter(tiny_checkpoint, tmp_path, "jieba"))
    saved = checkpoint.save(loaded, tmp_path / "saved")
    assert json.loads((saved / "gliner_config.json").read_text(encoding="utf8"))["words_splitter_type"] == "jieba"


def test_component_reads_the_checkpoints_splitter(tiny_checkpoint, tmp_path):
    pytest.importorskip("jieba3", reason="the jieba extra is not installed")
    folder = with_splitter(tiny_checkpoint, tmp_path, "jieba")
    nlp = spacy.blank("zh")  # character tokens; GLiNER reads jieba's words, as the official library does
    gliner = nlp.add_pipe("gliner", config={"model": str(folder), "labels": LABELS, "threshold": 0.3})
    docs = list(nlp.pipe(CHINESE[:2]))
    theirs = predict_entities(checkpoint.load(folder), CHINESE[:2], LABELS, 0.3)
    for doc, ents in zip(docs, theirs):
        assert [(s.start_char, s.end_char, s.label_) for s in doc.spans["sc"]] == [
            (e["start"], e["end"], e["label"]) for e in ents
        ]
    assert [w for w, _, _ in word_splitter("jieba")(CHINESE[0])][:4] == ["我", "来到", "北京", "清华大学"]
    assert gliner.words == "checkpoint"


def test_a_missing_splitter_package_names_the_pip_install(tiny_checkpoint, tmp_path):
    pytest.importorskip("spacy")
    try:
        import mecab  # noqa: F401

        pytest.skip("python-mecab-ko is installed here")
    except ImportError:
        pass
    folder = with_splitter(tiny_checkpoint, tmp_path, "mecab")
    with pytest.raises(ImportError, match=r"pip install 'spacy-gliner\[mecab\]'` or `pip install python-mecab-ko`"):
        checkpoint.load(folder)


def test_the_spacy_splitter_is_handed_to_the_core_not_registered_by_an_import():
    """The core never finds spaCy's tokenizer by a side effect of importing the spaCy layer: it
    is refused there, with what to use, whatever was imported; the spaCy layer's splitter has it."""
    from spacy_gliner.model import words

    text = "I don't know, e.g. it's 5km away."
    with pytest.raises(ValueError, match=r"use spacy_gliner.alignment.word_splitter\('spacy'\)"):
        words.word_splitter("spacy")
    assert word_splitter("spacy")(text) == [(t.text, t.idx, t.idx + len(t)) for t in spacy.blank("en")(text)]
    assert word_splitter("whitespace") is words.split_words


def test_the_universal_splitter_falls_back_to_spacys_multilanguage_tokenizer(monkeypatch):
    """As the official MultiLangWordsSplitter: a language without a splitter of its own, or none
    detected, is read by ``spacy.blank("xx")`` (not the English tokenizer of the "spacy" splitter)."""
    import sys
    import types

    from spacy_gliner.model import words

    detected = {"Ich weiß es nicht, don't ask.": "de", "?!": None}

    def detect(text):
        if detected[text] is None:
            raise LangDetectException()
        return detected[text]

    LangDetectException = type("LangDetectException", (Exception,), {})
    fakes = {
        "langdetect": types.SimpleNamespace(
            detect=detect,
            DetectorFactory=types.SimpleNamespace(seed=None),
            lang_detect_exception=types.SimpleNamespace(LangDetectException=LangDetectException),
        ),
        "mecab": types.SimpleNamespace(MeCab=lambda: None),
        "janome.tokenizer": types.SimpleNamespace(Tokenizer=lambda: None),
        "indicnlp.tokenize.indic_tokenize": types.SimpleNamespace(),
        "camel_tools.tokenizers.word": types.SimpleNamespace(simple_word_tokenize=None),
        "jieba3": types.SimpleNamespace(jieba3=lambda: None),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    words._built.cache_clear()  # a splitter built with the fakes must not outlive this test
    try:
        split = word_splitter("universal")
        for text in detected:
            assert split(text) == [(t.text, t.idx, t.idx + len(t)) for t in spacy.blank("xx")(text)]
        assert split("Ich weiß es nicht, don't ask.") != word_splitter("spacy")("Ich weiß es nicht, don't ask.")
        with pytest.raises(ValueError, match="reads this text with spaCy's tokenizer"):
            words.word_splitter("universal")("?!")  # the core alone: refused, not read by whitespace
    finally:
        words._built.cache_clear()


def test_every_official_splitter_is_known():
    import inspect

    from gliner.data_processing.tokenizer import WordsSplitter

    source = inspect.getsource(WordsSplitter.__init__)
    official = {name for name in WORD_SPLITTERS if f'splitter_type == "{name}"' in source}
    assert official == set(WORD_SPLITTERS)


# -- the Doc's tokens as GLiNER's words -------------------------------------------------------------
@pytest.mark.parametrize(
    ("nlp", "text"),
    [
        (lambda: spacy.blank("zh"), "马云在杭州创办了阿里巴巴公司。"),
        (
            lambda: spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}}),
            "马云在杭州创办了阿里巴巴公司。",
        ),
        (
            lambda: spacy.blank("ko", config={"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}}),
            "김철수는 서울에 있는 삼성전자에서 일한다.",
        ),
        (lambda: spacy.blank("en"), "U.S.-based  firms hired Ada\u00a0Lovelace in 1843 ."),
    ],
    ids=["zh-characters", "zh-jieba", "ko-rules", "en-extra-spaces"],
)
def test_doc_tokens_are_the_words(nlp, text, loaded):
    try:
        pipeline = nlp()
    except ImportError as err:
        pytest.skip(f"spaCy's tokenizer for this language needs a package that is not installed: {err}")
    doc = pipeline(text)
    words = doc_words(doc, None)
    kept = [t for t in doc if not t.is_space]
    assert words.words == [t.text for t in kept]
    assert list(words.first_token) == list(words.last_token) == [t.i for t in kept]


@pytest.mark.parity
def test_words_tokens_in_chinese_match_the_official_library_on_the_same_words(checkpoint_path):
    """``words = "tokens"`` with ``spacy.blank("zh")``: the official library, given a splitter that
    yields those tokens, finds the same entities with the same scores."""
    from gliner import GLiNER  # noqa: F401
    from gliner.data_processing.tokenizer import SpaCyTokenSplitter

    model = checkpoint_path("markerV0-bert")
    nlp = spacy.blank("zh")
    gliner = nlp.add_pipe("gliner", config={"model": str(model), "labels": LABELS, "threshold": 0.3, "words": "tokens"})
    assert gliner.words == "tokens" and gliner.word_splitter() is None
    official = GLiNER.from_pretrained(str(model), local_files_only=True)
    official.data_processor.words_splitter = SpaCyTokenSplitter(lang="zh")
    official.eval()
    theirs = official_inference(official, CHINESE, LABELS, threshold=0.3)
    ours = [
        [
            {"start": s.start_char, "end": s.end_char, "label": s.label_, "score": float(x)}
            for s, x in zip(d.spans["sc"], d.spans["sc"].attrs["scores"])
        ]
        for d in nlp.pipe(CHINESE)
    ]
    assert any(ours)
    compare(theirs, ours, 0.3, Comparison()).check()


def test_words_tokens_equals_the_spacy_splitter_on_the_same_tokens(checkpoint_path):
    """With an English blank pipeline (no whitespace tokens), ``tokens`` reads exactly the words of the
    official ``spacy`` splitter, so its predictions are that splitter's."""
    texts = benchmark("CrossNER_AI", 8)[0]
    labels = benchmark("CrossNER_AI", 1)[1]
    model = str(checkpoint_path("markerV0-bert"))
    results = {}
    for words in ("tokens", "spacy"):
        nlp = spacy.blank("en")
        nlp.add_pipe("gliner", config={"model": model, "labels": labels, "threshold": 0.3, "words": words})
        results[words] = [
            [
                (s.start, s.end, s.label_, round(float(x), 6))
                for s, x in zip(d.spans["sc"], d.spans["sc"].attrs["scores"])
            ]
            for d in nlp.pipe(texts)
        ]
    assert results["tokens"] == results["spacy"] and any(results["tokens"])


def test_words_setting_is_checked():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="words must be one of 'checkpoint', 'tokens', 'whitespace'"):
        nlp.add_pipe("gliner", config={"labels": ["person"], "words": "sentencepiece"})
