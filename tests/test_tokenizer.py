"""The GLiNER tokenizer: tokens are GLiNER's words, whitespace as spaCy keeps it, text intact.

A pipeline built on it maps every word to exactly one token, so entities need no widening.
"""

import json

import pytest
import spacy
from helpers.data import BENCHMARKS  # noqa: E402
from helpers.parity import aligned  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_gliner.loading import GLINER_TOKENIZER, load_pipeline
from spacy_gliner.model.words import split_words
from spacy_gliner.tokenizer import GLiNERTokenizer

NLP = spacy.blank("en", config=GLINER_TOKENIZER)
DEFAULT = spacy.blank("en")


def check(text: str) -> None:
    doc = NLP(text)
    assert doc.text == text
    words = [(t.text, t.idx, t.idx + len(t)) for t in doc if not t.is_space]
    assert words == split_words(text)
    for token in doc:
        # spaCy's conventions: one space after a word is its whitespace_, other whitespace is a token
        assert token.whitespace_ in ("", " ")
        if token.is_space:
            assert token.text.strip() == "" and token.whitespace_ == ""
    assert aligned(doc)


def test_tokenizer_is_the_pipeline_tokenizer_and_spacy_like_on_whitespace():
    assert isinstance(NLP.tokenizer, GLiNERTokenizer)
    for text in ["a  b", "a\nb", "a \n b", "  a", "a  ", "   ", "a\t b", " ", "", "a b\r\n\r\nc", "x \u3000y"]:
        ours = [(t.text, t.whitespace_) for t in NLP(text)]
        assert ours == [(t.text, t.whitespace_) for t in DEFAULT(text)], text  # spaCy agrees on plain words
        check(text)


def test_words_where_spacy_tokens_differ():
    doc = NLP("<p>Visit Bletchley Park.</p> U.S.-based, 1,234,567 e.g. can't")
    assert [t.text for t in doc][:9] == ["<", "p", ">", "Visit", "Bletchley", "Park", ".", "<", "/"]
    assert "U.S.-based" not in [t.text for t in doc] and "based" in [t.text for t in doc]
    check(doc.text)


@pytest.mark.parametrize("folder", sorted(p.name for p in BENCHMARKS.iterdir() if (p / "test.json").is_file()))
def test_tokens_are_the_official_words_on_every_benchmark_sentence(folder):
    items = json.loads((BENCHMARKS / folder / "test.json").read_text(encoding="utf8"))
    assert items
    for item in items:
        check(item["sentence"])


ADVERSARIAL = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" \t\n\r\x0b\x0c\u00a0\u2028\u3000\u200b\u200d\ufeff\u0301\u0308-_'.,<>/&;:😀👍🏽🇩🇪")),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(text=ADVERSARIAL)
def test_tokens_are_the_official_words_on_adversarial_text(text):
    check(text)


def test_pipe_and_type_errors():
    texts = ["a  b", "U.S.-based\n"]
    assert [d.text for d in NLP.tokenizer.pipe(texts)] == texts
    with pytest.raises(TypeError, match="takes a str"):
        NLP.tokenizer(b"bytes")


def test_saved_and_loaded_with_the_pipeline(tmp_path):
    NLP.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert isinstance(loaded.tokenizer, GLiNERTokenizer)
    assert loaded.config["nlp"]["tokenizer"] == {"@tokenizers": "spacy_gliner.Tokenizer.v1", "words": "gliner"}
    assert [t.text for t in loaded("e.g. U.S.")] == ["e", ".", "g", ".", "U", ".", "S", "."]
    restored = spacy.blank("en", config=GLINER_TOKENIZER).from_bytes(NLP.to_bytes())
    assert isinstance(restored.tokenizer, GLiNERTokenizer)


def test_bare_checkpoints_load_with_it_saved_pipelines_keep_theirs(tiny_checkpoint, tmp_path):
    path = tiny_checkpoint("markerV0-bert")
    assert isinstance(load_pipeline(path).nlp.tokenizer, GLiNERTokenizer)
    own = spacy.blank("en")
    own.add_pipe("gliner", config={"model": str(path), "labels": ["person"]})
    own.to_disk(tmp_path / "own")
    reloaded = load_pipeline(tmp_path / "own").nlp
    assert not isinstance(reloaded.tokenizer, GLiNERTokenizer)
    assert [t.text for t in reloaded("U.S.-based")] == [t.text for t in DEFAULT("U.S.-based")]
