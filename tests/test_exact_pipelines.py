"""The official entities in any pipeline: whatever the tokenizer, the span group holds the
official library's entities, character for character, for every family and mode.

The component decodes on GLiNER's words (as ``predict_entities`` and the official library
do) and only then widens each entity to tokens. Checked with spaCy's English tokenizer
(``spacy.blank("en")``), a trained pipeline's (``en_core_web_sm``, its ``ner`` running
first) and a tokenizer that splits on whitespace only, on text where tokens hold several
GLiNER words: URLs, e-mails, abbreviations, numbers, markup, possessives.
"""

from typing import Callable, Dict, List

import pytest
import spacy
from helpers.parity import Comparison, compare, official_inference
from spacy.tokens import Doc
from typer.testing import CliRunner

from spacy_gliner.alignment import ENDS, LABELS, STARTS, exact_entities
from spacy_gliner.architectures import set_loaded
from spacy_gliner.cli.app import app
from spacy_gliner.loading import Pipeline
from spacy_gliner.model.search import predict_entities
from spacy_gliner.model.words import split_words

CHECKPOINTS = (
    "markerV0-bert",
    "token-bert-w3",
    "token-deberta-h48",
    "bi-markerV0-bert-h48",
    "bi-token-deberta",
    "ref_minilm",
)
MODES = {
    "flat": (True, False),
    "nested": (False, False),
    "multi_label": (False, True),
    "flat_multi_label": (True, True),
}
ENTITY_LABELS = ["person", "organization", "location", "email", "website", "number"]
TEXTS = [
    "<p>Contact Alan Turing at Bletchley Park.</p>",
    (
        "See https://example.com/people/ada-lovelace?x=1 for Ada Lovelace's notes, e.g. those sent to Charles Babbage"
        " in London."
    ),
    "The U.S.-based firm Acme Corp. paid 1,234,567 dollars to Marie Curie's lab in Paris on 2024-01-31.",
    "Write to grace.hopper@navy.mil or info@harvard.edu; Dr. J.R.R. Tolkien's e-mail was never public.",
    (
        "<a href=\"https://www.cam.ac.uk\">Cambridge</a> hosted C.S. Lewis (1898–1963) and O'Neil's students, i.e."
        " 3,500 people."
    ),
    (
        "**Grace Hopper** worked at _Harvard University_ with Howard Aiken; see [her"
        " page](https://en.wikipedia.org/wiki/Grace_Hopper)."
    ),
    "<li>Isaac Newton's Principia</li><li>Woolsthorpe Manor, U.K.</li> cost £1,000,000.00 in 1687.",
    "Microsoft's CEO didn't attend; Washington, D.C.-based NASA's JPL did (jpl.nasa.gov, 555-0123).",
]
THRESHOLD = {"ref_minilm": 0.2}  # the tiny random checkpoints spread around 0.5; the reference scores lower


def whitespace_tokenizer(nlp: spacy.Language) -> Callable[[str], Doc]:
    """Tokens are the text's space-separated chunks: "(1898–1963)", "Lovelace's", "Park.</p>"."""

    def tokenize(text: str) -> Doc:
        words = text.split(" ")
        assert all(words), "one space between chunks"
        return Doc(nlp.vocab, words=words, spaces=[True] * (len(words) - 1) + [False])

    return tokenize


def pipelines(trained: spacy.Language) -> Dict[str, spacy.Language]:
    """A pipeline per tokenizer; ``trained`` is used as it is (its ner runs before the gliner pipe)."""
    blank = spacy.blank("en")
    spaced = spacy.blank("en")
    spaced.tokenizer = whitespace_tokenizer(spaced)
    return {"blank": blank, "whitespace": spaced, "en_core_web_sm": trained}


def exact(doc: Doc, key: str = "sc") -> List[dict]:
    """The group's entities at their exact characters; the attrs list the same, in the same order."""
    group = doc.spans[key]
    found = exact_entities(group)
    assert [(e.start, e.end, e.label) for e in found] == list(
        zip(group.attrs[STARTS].tolist(), group.attrs[ENDS].tolist(), group.attrs[LABELS])
    )
    for e in found:  # each span is the smallest run of tokens that covers its entity
        widened = doc.char_span(e.start, e.end, alignment_mode="expand")
        assert (e.span.start, e.span.end) == (widened.start, widened.end)
    return [{"start": e.start, "end": e.end, "label": e.label, "score": e.score} for e in found]


def annotate(nlp: spacy.Language, name: str, loaded, texts: List[str], **config) -> List[Doc]:
    """``texts`` through ``nlp`` with a gliner pipe of checkpoint ``name`` added for the call."""
    pipe = nlp.add_pipe("gliner", name="exact_gliner", config={"labels": ENTITY_LABELS, **config})
    set_loaded(pipe.model, loaded(name))
    try:
        return list(nlp.pipe(texts))
    finally:
        nlp.remove_pipe("exact_gliner")


def tokens_hold_several_words(docs: List[Doc], entities: List[List[dict]]) -> int:
    """Official entities whose characters are not whole tokens of the doc."""
    return sum(doc.char_span(e["start"], e["end"]) is None for doc, ents in zip(docs, entities) for e in ents)


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", CHECKPOINTS)
def test_span_group_holds_the_official_entities_under_any_tokenizer(name, mode, loaded, official, trained):
    flat, multi = MODES[mode]
    threshold = THRESHOLD.get(name, 0.5)
    theirs = official_inference(
        official(name), TEXTS, ENTITY_LABELS, threshold=threshold, flat_ner=flat, multi_label=multi
    )
    words = predict_entities(loaded(name), TEXTS, ENTITY_LABELS, threshold=threshold, flat_ner=flat, multi_label=multi)
    assert sum(map(len, theirs)) >= 10
    inside = 0
    for tokenizer, nlp in pipelines(trained).items():
        docs = annotate(nlp, name, loaded, TEXTS, threshold=threshold, nested=not flat, multi_label=multi)
        ours = [exact(doc) for doc in docs]
        # the component decodes as predict_entities does: the same entities, in the same order
        assert [[(e["start"], e["end"], e["label"]) for e in o] for o in ours] == [
            [(e["start"], e["end"], e["label"]) for e in w] for w in words
        ], tokenizer
        compare(theirs, ours, threshold, Comparison()).check()
        inside += tokens_hold_several_words(docs, theirs)
    assert inside >= 3  # the tokenizers really hold several GLiNER words in a token


@pytest.mark.parametrize("name", CHECKPOINTS[:-1])
def test_long_document_in_windows_under_spacy_tokens(name, loaded):
    """A document of several windows: the span group equals the word-level search's entities."""
    tiny = loaded(name)
    text = "\n\n".join(TEXTS * 3)  # token-level random checkpoints: candidates grow with the square of the length
    assert len(split_words(text)) > 2 * tiny.settings.max_len
    expected = predict_entities(tiny, [text], ENTITY_LABELS)[0]
    (doc,) = annotate(spacy.blank("en"), name, loaded, [text])
    ours = exact(doc)
    assert [(e["start"], e["end"], e["label"]) for e in ours] == [(e["start"], e["end"], e["label"]) for e in expected]
    assert [e["score"] for e in ours] == pytest.approx([e["score"] for e in expected], abs=1e-6)
    assert max(e["start"] for e in expected) > len(text) - len(TEXTS[-1]) - 10  # found to the end
    assert tokens_hold_several_words([doc], [expected]) >= 3


@pytest.mark.slow
def test_long_document_of_the_reference_checkpoint(loaded):
    text = "\n\n".join(TEXTS * 3)
    assert len(split_words(text)) > 2 * loaded("ref_minilm").settings.max_len
    expected = predict_entities(loaded("ref_minilm"), [text], ENTITY_LABELS, threshold=0.2)[0]
    (doc,) = annotate(spacy.blank("en"), "ref_minilm", loaded, [text], threshold=0.2)
    assert [(e["start"], e["end"], e["label"]) for e in exact(doc)] == [
        (e["start"], e["end"], e["label"]) for e in expected
    ]
    assert tokens_hold_several_words([doc], [expected]) >= 3


# -- what reads the exact entities: records and the command line --------------------------
def test_entity_records_build_the_text_once(tiny_checkpoint):
    """``Pipeline.entities`` is linear: ``doc.text`` (rebuilt from the tokens on every read) is
    read once per document, not once per entity."""

    class CountingDoc(Doc):
        reads = 0

        @property
        def text(self) -> str:
            type(self).reads += 1
            return super().text

    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint("markerV0-bert")), "labels": ENTITY_LABELS})
    pipeline = Pipeline(nlp, "gliner")
    made = nlp.make_doc(" ".join(TEXTS))
    doc = pipeline.component(
        CountingDoc(nlp.vocab, words=[t.text for t in made], spaces=[bool(t.whitespace_) for t in made])
    )
    CountingDoc.reads = 0
    records = pipeline.entities(doc)
    assert len(records) >= 10 and CountingDoc.reads == 1
    assert all(r["text"] == doc.text[r["start"] : r["end"]] for r in records)


@pytest.mark.parametrize("command", ["predict", "render", "redact"])
def test_cli_says_in_one_line_that_merge_entities_invalidated_the_entities(command, tiny_checkpoint, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint("markerV0-bert")), "labels": ENTITY_LABELS})
    nlp.add_pipe("merge_entities")
    nlp.to_disk(tmp_path / "pipeline")
    source = tmp_path / "doc.txt"
    source.write_text(" ".join(TEXTS), encoding="utf8")
    result = CliRunner().invoke(app, [command, str(source), "-m", str(tmp_path / "pipeline")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    message = " ".join(result.output.split())  # one message (wrapped to the terminal's width)
    assert "✘ doc.spans['sc'] no longer fits the doc's tokens" in message and "merge_entities" in message, result.output
