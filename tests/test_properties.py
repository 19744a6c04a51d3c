"""Property tests: whatever the text and labels, the ``gliner`` component answers with valid spans.

A tiny random checkpoint written by the official library (conftest's ``tiny_checkpoint``)
keeps each example fast; its scores are spread over (0, 1), so decoding has real work to do.
Properties, over random text (Unicode of every category, whitespace runs, control
characters) and random label sets:

* no exception;
* every span lies inside the document and on token boundaries, and neither starts nor
  ends with a whitespace token;
* flat output: ``doc.ents`` equals the span group, which has no overlapping spans;
* nested output: spans may nest but never cross;
* every score is in (threshold, 1];
* a batch of documents that each carry their own labels (different counts: padded
  label slots in the same forward pass) gives what each document gives alone.
"""

from typing import List

import numpy as np
import pytest
from helpers.docs import assert_valid_output, spans_of
from helpers.pipelines import gliner_pipeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.language import Language
from spacy.tokens import Doc

from spacy_gliner.component import DOC_LABELS_KEY

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WORDS = [
    "Barack",
    "Obama",
    "visited",
    "Microsoft",
    "in",
    "Seattle",
    "New York",
    "U.S.-based",
    "Dr.",
    "e-mail",
    "2023",
    "Zürich",
    "東京",
    "שלום",
]
LABEL_POOL = ["person", "organization", "location", "date", "city", "Person", "thing of interest", "company name"]
SEPARATORS = [" ", "  ", "\n", "\r\n", "\t", "", ", ", ". ", "\x00", "\u200b", "\u00a0"]

# Any Unicode text except lone surrogates (tested on their own in test_component).
odd_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
wordy_text = st.lists(
    st.tuples(st.sampled_from(WORDS) | odd_text.filter(bool), st.sampled_from(SEPARATORS)), max_size=30
).map(lambda parts: "".join(w + s for w, s in parts))
texts = wordy_text | odd_text
# Labels with a letter or digit (visible, and read by every tokenizer); any text at all is
# tested in test_any_label_is_used_or_refused.
any_label = st.text(min_size=1, max_size=12)
labels = st.lists(
    st.sampled_from(LABEL_POOL) | any_label.filter(lambda t: any(c.isalnum() for c in t)), min_size=1, max_size=6
)
thresholds = st.floats(0.05, 0.95)


@pytest.fixture(scope="module")
def flat_nlp(tiny) -> Language:
    """The multi-language tokenizer ("xx"): any script."""
    return gliner_pipeline(tiny, ["person"], "xx")


@pytest.fixture(scope="module")
def nested_nlp(tiny) -> Language:
    return gliner_pipeline(tiny, ["person"], "xx", nested=True)


@SETTINGS
@given(text=texts, labels=labels, threshold=thresholds)
def test_flat_output_is_valid(flat_nlp, text, labels, threshold):
    doc = flat_nlp.get_pipe("gliner")(flat_nlp.make_doc(text), labels=labels, threshold=threshold)
    assert_valid_output(doc, "sc", threshold, nested=False, allowed=labels)


@SETTINGS
@given(label=any_label)
def test_any_label_is_used_or_refused(flat_nlp, label):
    """A label with no visible character, or none the tokenizer reads, is a ValueError naming it."""
    try:
        doc = flat_nlp.get_pipe("gliner")(
            flat_nlp.make_doc("Barack Obama visited Seattle."), labels=[label], threshold=0.3
        )
    except ValueError as err:
        assert repr(label) in str(err) or "empty or whitespace" in str(err)
    else:
        assert_valid_output(doc, "sc", 0.3, nested=False, allowed=[label])


@SETTINGS
@given(text=texts, labels=labels, threshold=thresholds)
def test_nested_output_is_valid(nested_nlp, text, labels, threshold):
    doc = nested_nlp.get_pipe("gliner")(nested_nlp.make_doc(text), labels=labels, threshold=threshold)
    assert_valid_output(doc, "sc", threshold, nested=True, allowed=labels)
    assert not doc.ents


@SETTINGS
@given(words=st.lists(st.sampled_from(WORDS) | st.text(min_size=1, max_size=4), max_size=15), data=st.data())
def test_docs_from_words_with_any_spaces(flat_nlp, words, data):
    words = [w for w in words if w]  # spaCy refuses empty words (whitespace words are fine)
    spaces = data.draw(st.lists(st.booleans(), min_size=len(words), max_size=len(words)))
    doc = flat_nlp(Doc(flat_nlp.vocab, words=words, spaces=spaces))
    assert_valid_output(doc, "sc", 0.5, nested=False, allowed=["person"])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(wordy_text, labels), min_size=2, max_size=5), batch_size=st.integers(1, 6))
def test_per_doc_labels_in_one_batch_equal_single_docs(flat_nlp, items, batch_size):
    """Padded label slots are masked: a doc's entities do not depend on its batch mates' labels."""
    component = flat_nlp.get_pipe("gliner")

    def make(text: str, doc_labels: List[str]) -> Doc:
        doc = flat_nlp.make_doc(text)
        doc.user_data[DOC_LABELS_KEY] = doc_labels
        return doc

    alone = [component(make(text, doc_labels)) for text, doc_labels in items]
    together = list(component.pipe((make(text, doc_labels) for text, doc_labels in items), batch_size=batch_size))
    for a, b in zip(alone, together):
        assert spans_of(a) == spans_of(b)
        np.testing.assert_allclose(a.spans["sc"].attrs["scores"], b.spans["sc"].attrs["scores"], atol=1e-4)
