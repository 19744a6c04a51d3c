"""Character-level outputs carry the official library's offsets, on text where spaCy's tokens
and GLiNER's words disagree (HTML, URLs, Markdown, numbers, abbreviations, emoji, accents).

With the real reference checkpoint against ``gliner`` 0.2.29. Where a word has no
sub-token (a lone combining mark under an uncased BERT tokenizer) the official library
shifts its offsets onto the wrong words; there we are right and the official is not.
"""

import json
from typing import List

import pytest
import spacy
from helpers.data import REF_MINILM  # noqa: E402
from helpers.parity import Comparison, compare, official_inference  # noqa: E402
from typer.testing import CliRunner

from spacy_gliner.alignment import exact_offsets
from spacy_gliner.architectures import set_loaded
from spacy_gliner.cli.app import app
from spacy_gliner.loading import GLINER_TOKENIZER
from spacy_gliner.model.search import predict_entities
from spacy_gliner.model.words import split_words

LABELS = ["person", "organization", "location"]
THRESHOLD = 0.3
TRICKY = [
    "<p>Contact Alan Turing at Bletchley Park.</p>",
    (
        "See https://example.com/people/ada-lovelace?x=1 for Ada Lovelace's notes, e.g. those sent to Charles Babbage"
        " in London."
    ),
    "The U.S.-based firm Acme Corp. paid 1,234,567 dollars to Marie Curie in Paris.",
    (
        "**Grace Hopper** worked at _Harvard University_ with Howard Aiken; see [her"
        " page](https://en.wikipedia.org/wiki/Grace_Hopper)."
    ),
    "Emoji test 😀 Barack Obama 👍🏽 met Angela Merkel in Berlin 🇩🇪.",
    "Zoë Saldaña met Gabriel García Márquez in Bogotá, i.e. in Colombia.",
    '<a href="https://www.cam.ac.uk">Cambridge</a> hosted Dr. J.R.R. Tolkien (1892–1973); cf. C.S. Lewis at Oxford.',
    "| Name | City |\r\n|---|---|\r\n| Isaac Newton | Woolsthorpe |\r\n",
]
# lone combining marks: no sub-token in ref_minilm's uncased BERT vocabulary (nor have control
# characters or zero-width spaces)
NO_SUBTOKEN = "Zoë Saldaña and Beyonce\u0301 Knowles visited Mu\u0308nchen with Jose\u0301 Mourinho."


def gliner_pipeline(loaded, **config) -> spacy.Language:
    nlp = spacy.blank("en", config=GLINER_TOKENIZER)
    pipe = nlp.add_pipe("gliner", config={"labels": LABELS, "threshold": THRESHOLD, **config})
    set_loaded(pipe.model, loaded("ref_minilm"))
    return nlp


def exact(doc, key: str = "sc") -> List[dict]:
    group = doc.spans[key]
    return [
        {"start": a, "end": b, "label": s.label_, "score": float(p)}
        for s, (a, b), p in zip(group, exact_offsets(group), group.attrs["scores"])
    ]


@pytest.mark.parity
def test_cli_predict_offsets_equal_the_official_library(official, tmp_path):
    source = tmp_path / "tricky.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in TRICKY), encoding="utf8")
    result = CliRunner().invoke(
        app, ["predict", str(source), "-l", ",".join(LABELS), "-m", str(REF_MINILM), "-t", str(THRESHOLD)]
    )
    assert result.exit_code == 0, result.output
    ours = [json.loads(line)["entities"] for line in result.stdout.splitlines()]
    theirs = official_inference(official("ref_minilm"), TRICKY, LABELS, threshold=THRESHOLD)
    comparison = compare(theirs, ours, THRESHOLD, Comparison())
    comparison.check()
    assert comparison.entities >= 15
    for text, entities in zip(TRICKY, ours):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)
    # the tricky cases: spaCy's tokens would have widened these
    found = {e["text"] for entities in ours for e in entities}
    assert {"Bletchley Park", "Grace Hopper", "Marie Curie"} <= found
    default = spacy.blank("en")
    assert default(TRICKY[0]).char_span(26, 40) is None  # "Park.</p" is one spaCy token


@pytest.mark.parity
@pytest.mark.parametrize("nested,multi_label", [(False, False), (True, False), (True, True), (False, True)])
def test_component_exact_offsets_equal_the_official_library_in_every_mode(loaded, official, nested, multi_label):
    nlp = gliner_pipeline(loaded, nested=nested, multi_label=multi_label, threshold=0.2)
    theirs = official_inference(
        official("ref_minilm"), TRICKY, LABELS, threshold=0.2, flat_ner=not nested, multi_label=multi_label
    )
    comparison = Comparison()
    for doc, entities in zip(nlp.pipe(TRICKY), theirs):
        compare([entities], [exact(doc)], 0.2, comparison)
    comparison.check()
    assert comparison.entities >= 15


def test_spacy_tokens_keep_exact_offsets_inside_widened_spans(loaded):
    """With spaCy's own tokenizer the spans are widened; the exact offsets lie inside them, on word boundaries."""
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"labels": LABELS, "threshold": 0.2})
    set_loaded(pipe.model, loaded("ref_minilm"))
    differ = 0
    for doc in nlp.pipe(TRICKY):
        starts = {s for _, s, _ in split_words(doc.text)}
        ends = {e for _, _, e in split_words(doc.text)}
        for span, (a, b) in zip(doc.spans["sc"], exact_offsets(doc.spans["sc"])):
            assert span.start_char <= a < b <= span.end_char and a in starts and b in ends
            differ += (a, b) != (span.start_char, span.end_char)
    assert differ >= 3
    doc = nlp(TRICKY[0])
    assert [e.text for e in doc.ents] == ["Alan Turing", "Bletchley Park.</p"]
    assert [doc.text[a:b] for a, b in exact_offsets(doc.spans["sc"])] == ["Alan Turing", "Bletchley Park"]


def test_long_document_exact_offsets(loaded):
    """A document of many windows: the component's exact offsets are those of the word-level search."""
    text = "\n\n".join(TRICKY * 30)
    assert len(split_words(text)) > 3 * 384
    nlp = gliner_pipeline(loaded)
    doc = nlp(text)
    expected = predict_entities(loaded("ref_minilm"), [text], LABELS, threshold=THRESHOLD)[0]
    assert [(e["start"], e["end"], e["label"]) for e in exact(doc)] == [
        (e["start"], e["end"], e["label"]) for e in expected
    ]
    assert max(e["start"] for e in expected) > len(text) - len(TRICKY[-1]) - 10
    assert [(e.start_char, e.end_char) for e in doc.ents] == [
        (e["start"], e["end"]) for e in expected
    ]  # tokens are words


@pytest.mark.parity
def test_words_without_sub_tokens_ours_right_official_shifted(loaded, official):
    nlp = gliner_pipeline(loaded)
    doc = nlp(NO_SUBTOKEN)
    ours = [NO_SUBTOKEN[a:b] for a, b in exact_offsets(doc.spans["sc"])]
    theirs = [e["text"] for e in official("ref_minilm").predict_entities(NO_SUBTOKEN, LABELS, threshold=THRESHOLD)]
    mourinho = "Jose\u0301 Mourinho"  # with a combining accent
    assert mourinho in ours and "Zoë Saldaña" in ours
    assert ours != theirs and mourinho not in theirs  # the official offsets slide by one word per lone mark
    text = "Meet\x07 Marie Curie and \x01 Pierre Curie in Paris."  # control characters: no sub-token either
    doc = nlp(text)
    assert [text[a:b] for a, b in exact_offsets(doc.spans["sc"])] == ["Marie Curie", "Pierre Curie", "Paris"]
    theirs = [e["text"] for e in official("ref_minilm").predict_entities(text, LABELS, threshold=THRESHOLD)]
    assert "Marie Curie" not in theirs and "\x07 Marie" in theirs
