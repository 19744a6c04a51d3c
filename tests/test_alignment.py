"""GLiNER words inside spaCy docs: entities are widened to whole tokens, never dropped.

spaCy and GLiNER cut text differently ("can't" is ``ca|n't`` for spaCy and ``can|'|t`` for
GLiNER; a URL is one token but many words; "e-mail" is one word but three tokens). The
rule: a span of words becomes the smallest span of tokens covering its characters, as
``doc.char_span(..., alignment_mode="expand")`` does.
"""

import copy
from typing import List, Sequence, Tuple

import pytest
import spacy
import torch
from helpers.parity import Comparison, compare, fitting_ents, official_inference  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, DocBin, Span, SpanGroup
from spacy.vocab import Vocab

from spacy_gliner.alignment import doc_words, exact_entities, exact_offsets
from spacy_gliner.architectures import set_loaded
from spacy_gliner.model.checkpoint import LoadedGLiNER
from spacy_gliner.model.words import split_words
from spacy_gliner.render import render_html

# Pieces where the two tokenizations disagree, and plain words between them.
PIECES = [
    "U.S.",
    "U.S.-based",
    "can't",
    "won't",
    "O'Neil's",
    "e-mail",
    "state-of-the-art",
    "https://example.com/a-b?x=1",
    "info@example.org",
    "😀",
    "👍🏽",
    "C++",
    "foo_bar",
    "3.5km",
    "$5.00",
    "(",
    ")",
    "Dr.",
    "rock'n'roll",
    "—",
    "New",
    "York",
    "Paris",
    "the",
    "firm",
    "2024-01-31",
    "#hashtag",
    "@user",
    "Ünïcödé",
    "東京",
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
    for i, j, first, last in zip(starts, ends, aligned.first_token[starts], aligned.last_token[ends]):
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


def test_words_that_meet_in_one_token_are_two_entities_one_in_doc_ents(chosen):
    """ "U" and "S" are separate words in one token: both are entities (as officially), both
    widened to "U.S."; doc.ents takes the better scored one."""
    text = "the U.S. team"
    u, s = word_span(text, "U")[0], word_span(text, "S")[0]
    doc = chosen([(u, u, 0, 3.0), (s, s, 1, 4.0)])(text)
    group = doc.spans["sc"]
    assert [(e.text, e.label_) for e in group] == [("U.S.", "thing"), ("U.S.", "place")]
    assert [text[a:b] for a, b in exact_offsets(group)] == ["U", "S"]
    assert list(group.attrs["scores"]) == pytest.approx([torch.sigmoid(torch.tensor(x)).item() for x in (3.0, 4.0)])
    assert [(e.text, e.label_) for e in doc.ents] == [("U.S.", "place")]


# -- exact offsets that other components cannot silently invalidate ---------------------
TURING = "<p>Contact Alan Turing at Bletchley Park.</p>"
TURING_EXACT = [(11, 22), (26, 40)]  # "Alan Turing", "Bletchley Park" (spaCy's token: "Park.</p")


@pytest.fixture
def turing(chosen):
    """A pipeline whose gliner pipe finds "Alan Turing" (thing, logit 5) and "Bletchley Park" (place, logit 4)."""
    return chosen([(*word_span(TURING, "Alan Turing"), 0, 5.0), (*word_span(TURING, "Bletchley Park"), 1, 4.0)])


def entities(group) -> List[tuple]:
    return [(e.start, e.end, e.label, round(e.score, 5)) for e in exact_entities(group)]


EXPECTED = [
    (11, 22, "thing", round(torch.sigmoid(torch.tensor(5.0)).item(), 5)),
    (26, 40, "place", round(torch.sigmoid(torch.tensor(4.0)).item(), 5)),
]


def test_exact_offsets_travel_with_the_doc(turing):
    """Each span carries its characters (its id_), which a DocBin (default settings, another
    vocab), Doc.to_bytes and Doc.copy keep, with the group's scores."""
    doc = turing(TURING)
    assert [e.text for e in doc.ents] == ["Alan Turing", "Bletchley Park.</p"]
    assert exact_offsets(doc.spans["sc"]) == TURING_EXACT and entities(doc.spans["sc"]) == EXPECTED
    docbin = DocBin()
    docbin.add(doc)
    (back,) = DocBin().from_bytes(docbin.to_bytes()).get_docs(Vocab())
    restored = [Doc(Vocab()).from_bytes(doc.to_bytes()), doc.copy(), back]
    for other in restored:
        assert exact_offsets(other.spans["sc"]) == TURING_EXACT and entities(other.spans["sc"]) == EXPECTED
    # a span another component wrote is at its own characters
    back.spans["other"] = [back[0:2]]
    assert (
        exact_offsets(back.spans["other"]) == [(0, len(back[0:2].text))] and exact_entities(back.spans["other"]) == []
    )


def test_a_span_ruler_appending_to_the_group_shifts_nothing(turing):
    nlp = turing
    ruler = nlp.add_pipe("span_ruler", config={"spans_key": "sc", "overwrite": False})
    ruler.add_patterns([{"label": "RULE", "pattern": [{"ORTH": "Contact"}]}])
    doc = nlp(TURING)
    group = doc.spans["sc"]
    assert [s.label_ for s in group] == ["thing", "place", "RULE"]
    assert exact_offsets(group) == [*TURING_EXACT, (3, 10)]
    assert entities(group) == EXPECTED  # the component's entities, with their own scores
    # spans put before the component's (or the group reordered) shift no score either
    doc.spans["sc"] = SpanGroup(doc, name="sc", spans=[group[2], group[1], group[0]], attrs=group.attrs)
    assert exact_offsets(doc.spans["sc"]) == [(3, 10), *TURING_EXACT[::-1]]
    assert entities(doc.spans["sc"]) == EXPECTED[::-1]


def test_doc_from_docs_keeps_exact_offsets_and_says_the_scores_are_lost(turing):
    nlp = turing
    first, second = nlp(TURING), nlp(TURING)
    both = Doc.from_docs([first, second])
    shift = len(TURING) + 1  # from_docs puts a space between the two
    assert exact_offsets(both.spans["sc"]) == TURING_EXACT + [(a + shift, b + shift) for a, b in TURING_EXACT]
    with pytest.raises(ValueError, match=r"lost their scores.*from_docs"):
        exact_entities(both.spans["sc"])


@pytest.mark.parametrize("merge", ["merge_entities", "doc.retokenize"])
def test_retokenizing_after_the_pipe_is_a_clear_error(turing, merge):
    nlp = turing
    doc = nlp(TURING)
    if merge == "merge_entities":
        nlp.add_pipe("merge_entities")
        doc = nlp(TURING)
    else:  # tokens merged before the spans, which stay in range but point at other tokens
        with doc.retokenize() as retokenizer:
            retokenizer.merge(doc[0:3])
    for read in (exact_offsets, exact_entities):
        with pytest.raises(ValueError, match=r"no longer fits the doc's tokens.*merge_entities"):
            read(doc.spans["sc"])
    with pytest.raises(ValueError, match="merge_entities"):
        render_html(doc, "sc", False, {})


def test_damaged_or_old_groups_are_refused(turing):
    doc = turing(TURING)
    group = doc.spans["sc"]
    old = SpanGroup(
        doc, name="old", spans=[Span(doc, s.start, s.end, label=s.label) for s in group], attrs=dict(group.attrs)
    )
    with pytest.raises(ValueError, match="earlier spacy-gliner"):
        exact_entities(old)
    copied = SpanGroup(
        doc, name="copied", spans=[group[0]], attrs={"starts": [], "ends": [], "labels": [], "scores": []}
    )
    with pytest.raises(ValueError, match="has no score"):
        exact_entities(copied)
    damaged = Span(doc, group[0].start, group[0].end, label=group[0].label, span_id="gliner:x")
    with pytest.raises(ValueError, match="damaged id_"):
        exact_offsets(SpanGroup(doc, name="damaged", spans=[damaged]))


def test_multi_label_keeps_exact_offsets_per_label(loaded):
    tiny = loaded("markerV0-bert")
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"labels": ["thing", "place"], "multi_label": True})
    text = "firms in the U.S.-based group"
    spans = [(*word_span(text, "U.S"), 0, 5.0), (*word_span(text, "U.S"), 1, 4.0), (*word_span(text, "based"), 1, 3.0)]
    set_loaded(pipe.model, choose_spans(tiny, spans))
    doc = nlp(text)
    group = doc.spans["sc"]
    # decoded on words: "U.S" with both labels and "based" beside it; all three widen to the
    # token "U.S.-based", which enters doc.ents once, with the best label
    assert [(s.text, s.label_) for s in group] == [
        ("U.S.-based", "thing"),
        ("U.S.-based", "place"),
        ("U.S.-based", "place"),
    ]
    assert [text[a:b] for a, b in exact_offsets(group)] == ["U.S", "U.S", "based"]
    assert [(e.text, e.label_) for e in doc.ents] == [("U.S.-based", "thing")]


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
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [
        ("U.S.-based firm", "thing"),
        ("U.S.-based", "place"),
        ("can't", "thing"),
    ]
    assert [text[a:b] for a, b in exact_offsets(doc.spans["sc"])] == ["U.S.-based firm", "based", "can"]


# -- with the official library's entities on the same tricky text -------------------------
TRICKY = [
    "Jean-Luc Picard can't leave the U.S.-based Starfleet office at https://starfleet.example.org/hq today 😀.",
    "O'Neil's e-mail to Dr. Smith at info@acme.com said the state-of-the-art plant in São Paulo opens in 2024.",
    "The U.S. and the U.K. signed the deal in Washington, D.C. on Monday; Microsoft's CEO didn't attend 👍🏽.",
]


@pytest.mark.parity
@pytest.mark.slow
def test_official_entities_survive_in_doc_ents(official, loaded, checkpoint_path):
    labels = ["person", "organization", "location", "date", "website", "email"]
    theirs = official_inference(official("ref_minilm"), TRICKY, labels, threshold=0.2)
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(checkpoint_path("ref_minilm")), "labels": labels, "threshold": 0.2})
    comparison = Comparison()
    inside_tokens = 0
    for entities, doc in zip(theirs, nlp.pipe(TRICKY)):
        group = doc.spans["sc"]
        found = [{"start": e.start, "end": e.end, "label": e.label, "score": e.score} for e in exact_entities(group)]
        compare([entities], [found], 0.2, comparison)  # the span group: every official entity...
        assert [(s.start, s.end, s.label_) for s in group] == [
            (*expand(doc, e["start"], e["end"]), e["label"]) for e in found
        ]  # ...widened
        inside_tokens += sum(doc.char_span(e["start"], e["end"]) is None for e in found)
        # doc.ents: by score, then position, each entity whose tokens are free
        assert [(e.start, e.end, e.label_) for e in doc.ents] == fitting_ents(doc, found)
    comparison.check()
    assert inside_tokens >= 2  # some official offsets fall inside spaCy tokens
