"""GLiNER words inside spaCy docs: entities are widened to whole tokens, never dropped.

spaCy and GLiNER cut text differently ("can't" is ``ca|n't`` for spaCy and ``can|'|t`` for
GLiNER; a URL is one token but many words; "e-mail" is one word but three tokens). The
rule: a span of words becomes the smallest span of tokens covering its characters, as
``doc.char_span(..., alignment_mode="expand")`` does.
"""
import copy
from typing import Dict, Sequence, Tuple

import numpy as np
import pytest
import spacy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy.tokens import DocBin

from spacy_gliner.alignment import doc_words, exact_offsets
from spacy_gliner.architectures import set_loaded
from spacy_gliner.model.checkpoint import LoadedGLiNER
from spacy_gliner.model.decoding import Candidates
from spacy_gliner.model.inputs import split_words

# Pieces where the two tokenizations disagree, and plain words between them.
PIECES = [
    "U.S.", "U.S.-based", "can't", "won't", "O'Neil's", "e-mail", "state-of-the-art", "https://example.com/a-b?x=1",
    "info@example.org", "😀", "👍🏽", "C++", "foo_bar", "3.5km", "$5.00", "(", ")", "Dr.", "rock'n'roll", "—", "New",
    "York", "Paris", "the", "firm", "2024-01-31", "#hashtag", "@user", "Ünïcödé", "東京",
]
SEPARATORS = [" ", " ", " ", "  ", "\n", ""]

NLP = spacy.blank("en")


def expand(doc, start_char: int, end_char: int) -> Tuple[int, int]:
    span = doc.char_span(start_char, end_char, alignment_mode="expand")
    return span.start, span.end


@st.composite
def texts(draw) -> str:
    pieces = draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=10))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(pieces), max_size=len(pieces)))
    return "".join(p + s for p, s in zip(pieces, seps))


@settings(max_examples=200, deadline=None)
@given(text=texts())
def test_word_spans_map_to_the_smallest_covering_token_span(text):
    doc = NLP(text)
    words = split_words(text)
    aligned = doc_words(doc)
    assert aligned.words == [w for w, _, _ in words]
    n = len(words)
    starts, ends = [], []
    for i in range(n):
        for j in range(i, min(n, i + 12)):
            starts.append(i)
            ends.append(j)
    if not starts:
        return
    cands = Candidates(np.array(starts), np.array(ends), np.zeros(len(starts), dtype=np.int64), np.ones(len(starts)))
    tokens = aligned.to_tokens(cands)
    for i, j, first, last in zip(starts, ends, tokens.starts, tokens.ends):
        assert (int(first), int(last) + 1) == expand(doc, words[i][1], words[j][2]), (text, words[i], words[j])


@pytest.mark.parametrize(
    ("text", "entity", "tokens"),
    [
        ("I can't go", "can", ["ca", "n't"]),
        ("firms based in the U.S. pay", "U.S", ["U.S."]),
        ("U.S.-based firms", "U.S", ["U.S.-based"]),
        ("visit https://example.com/a-b?x=1 now", "example.com", ["https://example.com/a-b?x=1"]),
        ("Thumbs 👍🏽 up", "👍", ["👍"]),
        ("send an e-mail", "e-mail", ["e", "-", "mail"]),
        ("O'Neil's dog", "Neil", ["O'Neil"]),
        ("ran 3.5km today", "5km", ["3.5", "km"]),
        ("a  double  space", "double", ["double"]),
    ],
)
def test_doc_words_examples(text, entity, tokens):
    doc = NLP(text)
    start = text.index(entity)
    words = split_words(text)
    i = next(k for k, (_, s, _) in enumerate(words) if s == start)
    j = next(k for k, (_, _, e) in enumerate(words) if e == start + len(entity))
    aligned = doc_words(doc)
    first, last = int(aligned.first_token[i]), int(aligned.last_token[j])
    assert [t.text for t in doc[first : last + 1]] == tokens


# -- the whole component, with a network whose entities we choose -------------------------
def choose_spans(tiny: LoadedGLiNER, spans: Sequence[Tuple[int, int, int, float]]) -> LoadedGLiNER:
    """A copy of a tiny checkpoint whose logits are high for the chosen (first word, last word, label, logit)."""

    def chosen_logits(module: torch.nn.Module, args: tuple, kwargs: dict, output: torch.Tensor) -> torch.Tensor:
        logits = torch.full_like(output, -10.0)
        for first, last, label, logit in spans:
            logits[0, first, last - first, label] = logit
        return logits

    network = copy.deepcopy(tiny.network)
    network.register_forward_hook(chosen_logits, with_kwargs=True)
    return LoadedGLiNER(tiny.settings, network, tiny.tokenizer)


@pytest.fixture
def chosen(loaded):
    """A gliner pipe whose network finds the given word spans (one text per call)."""
    tiny = loaded("markerV0-bert")
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"labels": ["thing", "place"], "batch_size": 1})

    def use(spans: Sequence[Tuple[int, int, int, float]]) -> spacy.Language:
        set_loaded(pipe.model, choose_spans(tiny, spans))
        return nlp

    return use


def word_span(text: str, fragment: str) -> Tuple[int, int]:
    """First and last GLiNER word of ``fragment`` in ``text``."""
    start = text.index(fragment)
    words = split_words(text)
    first = next(k for k, (_, s, _) in enumerate(words) if s == start)
    last = next(k for k, (_, _, e) in enumerate(words) if e == start + len(fragment))
    return first, last


@pytest.mark.parametrize(
    ("text", "fragments", "expected"),
    [
        ("I can't go to New York", ["can", "New York"], ["can't", "New York"]),
        ("firms based in the U.S. pay", ["U.S"], ["U.S."]),
        ("U.S.-based firms", ["U"], ["U.S.-based"]),
        ("see https://example.com/a-b?x=1 now", ["example.com/a-b"], ["https://example.com/a-b?x=1"]),
        ("mail info@example.org today", ["example"], ["info@example.org"]),
        ("Thumbs 👍🏽 up 😀 !", ["🏽", "😀"], ["🏽", "😀"]),
        ("O'Neil's e-mail", ["Neil", "e-mail"], ["O'Neil", "e-mail"]),
        ("ran 3.5km today", ["5km"], ["3.5km"]),
        ("Dr. Who lives in 東京", ["Dr", "東京"], ["Dr.", "東京"]),
    ],
)
def test_entities_inside_tokens_are_widened_not_dropped(chosen, text, fragments, expected):
    spans = [(*word_span(text, fragment), 0, 5.0) for fragment in fragments]
    doc = chosen(spans)(text)
    assert [e.text for e in doc.ents] == expected
    assert [e.text for e in doc.spans["sc"]] == expected
    # next to the widened spans, the characters GLiNER found are kept exactly
    assert [text[a:b] for a, b in exact_offsets(doc.spans["sc"])] == fragments
    # the test is about offsets that spaCy alone would drop
    if expected != fragments:
        assert any(doc.char_span(text.index(f), text.index(f) + len(f)) is None for f in fragments)


def test_words_that_meet_in_one_token_become_one_entity(chosen):
    """"U" and "S" are separate words in one token: after widening they are the same span, decoded once."""
    text = "the U.S. team"
    u, s = word_span(text, "U")[0], word_span(text, "S")[0]
    doc = chosen([(u, u, 0, 3.0), (s, s, 1, 4.0)])(text)
    assert [(e.text, e.label_) for e in doc.ents] == [("U.S.", "place")]
    assert list(doc.spans["sc"].attrs["scores"]) == pytest.approx([torch.sigmoid(torch.tensor(4.0)).item()])
    # the exact offsets are those of the kept candidate: "S", not "U" nor the token
    assert exact_offsets(doc.spans["sc"]) == [(text.index("S"), text.index("S") + 1)]


def test_exact_offsets_travel_with_the_doc(chosen):
    """attrs "starts"/"ends" are aligned with "scores" and survive a DocBin round trip."""
    text = "<p>Contact Alan Turing at Bletchley Park.</p>"
    spans = [(*word_span(text, "Alan Turing"), 0, 5.0), (*word_span(text, "Bletchley Park"), 1, 4.0)]
    doc = chosen(spans)(text)
    assert [e.text for e in doc.ents] == ["Alan Turing", "Bletchley Park.</p"]  # spaCy's token "Park.</p"
    group = doc.spans["sc"]
    assert len(group.attrs["starts"]) == len(group.attrs["ends"]) == len(group.attrs["scores"]) == 2
    assert exact_offsets(group) == [(11, 22), (26, 40)]
    docbin = DocBin(store_user_data=True)
    docbin.add(doc)
    (back,) = DocBin().from_bytes(docbin.to_bytes()).get_docs(NLP.vocab)
    assert exact_offsets(back.spans["sc"]) == [(11, 22), (26, 40)]
    assert list(back.spans["sc"].attrs["scores"]) == pytest.approx(list(group.attrs["scores"]))
    # spans written without them (another component) fall back to their token offsets
    back.spans["other"] = [back[0:2]]
    assert exact_offsets(back.spans["other"]) == [(0, len(back[0:2].text))]


def test_multi_label_keeps_exact_offsets_per_label(loaded):
    tiny = loaded("markerV0-bert")
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"labels": ["thing", "place"], "multi_label": True})
    text = "firms in the U.S.-based group"
    spans = [(*word_span(text, "U.S"), 0, 5.0), (*word_span(text, "U.S"), 1, 4.0), (*word_span(text, "based"), 1, 3.0)]
    set_loaded(pipe.model, choose_spans(tiny, spans))
    doc = nlp(text)
    group = doc.spans["sc"]
    # all three widen to the token "U.S.-based": one token span, decoded with its two labels once
    assert [(s.text, s.label_) for s in group] == [("U.S.-based", "thing"), ("U.S.-based", "place")]
    assert [text[a:b] for a, b in exact_offsets(group)] == ["U.S", "U.S"]


def test_nested_mode_widens_too(loaded):
    tiny = loaded("markerV0-bert")
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"labels": ["thing", "place"], "nested": True})
    text = "the U.S.-based firm can't stop"
    outer, inner, word = word_span(text, "U.S.-based firm"), word_span(text, "based"), word_span(text, "can")
    spans = [(*outer, 0, 5.0), (*inner, 1, 4.0), (*word, 0, 3.0)]
    set_loaded(pipe.model, choose_spans(tiny, spans))
    doc = nlp(text)
    assert doc.ents == ()
    # "based" lies inside the token "U.S.-based": widened, it is the same span as part of the outer one
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [("U.S.-based firm", "thing"), ("U.S.-based", "place"), ("can't", "thing")]
    assert [text[a:b] for a, b in exact_offsets(doc.spans["sc"])] == ["U.S.-based firm", "based", "can"]


# -- with the official library's entities on the same tricky text -------------------------
TRICKY = [
    "Jean-Luc Picard can't leave the U.S.-based Starfleet office at https://starfleet.example.org/hq today 😀.",
    "O'Neil's e-mail to Dr. Smith at info@acme.com said the state-of-the-art plant in São Paulo opens in 2024.",
    "The U.S. and the U.K. signed the deal in Washington, D.C. on Monday; Microsoft's CEO didn't attend 👍🏽.",
]


@pytest.mark.slow
def test_official_entities_survive_in_doc_ents(official, loaded, checkpoint_path):
    labels = ["person", "organization", "location", "date", "website", "email"]
    theirs = official("ref_minilm").inference(TRICKY, labels, threshold=0.2)
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(checkpoint_path("ref_minilm")), "labels": labels, "threshold": 0.2})
    inside_tokens = 0
    for text, entities, doc in zip(TRICKY, theirs, nlp.pipe(TRICKY)):
        expected: Dict[Tuple[int, int], str] = {}
        for e in entities:
            inside_tokens += doc.char_span(e["start"], e["end"]) is None
            expected[expand(doc, e["start"], e["end"])] = e["label"]
        spans = sorted(expected)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "widened official entities collide"
        assert [((e.start, e.end), e.label_) for e in doc.ents] == [(s, expected[s]) for s in spans]
    assert inside_tokens >= 2  # some official offsets fall inside spaCy tokens
