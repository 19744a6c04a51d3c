"""Documents of any length are processed whole, in overlapping windows merged before one
decoding, with ref_minilm on real CoNLL-2003 test sentences (threshold 0.3, CoNLL labels).

What equality holds, and why. A window gives its words up to ~380 words of context, and
ref_minilm (trained briefly on short passages) changes its mind with context: on a passage
of 20 CoNLL sentences the official library itself tags "Bulgaria" as a person, while on
the sentence alone it says location. So the entities of the last sentences of a long
document are not those of each sentence run alone, and no windowing can make them so
short of giving up context. What holds exactly is this: every window is a run of whole
sentences (windows start, end and hand over ownership at sentence starts, found from the
words themselves, so no parser is needed), and the entities the document gets in a
window's owned range are exactly those the official library finds when that passage runs
alone, in the same range. Any entity that a window boundary cuts is therefore found whole
by the neighbouring window, as the official library would find it in that passage.
Left out of the comparison: max_width - 1 words on each side of an ownership switch,
where a span that the neighbouring window scored can reach and win a conflict: the
document is decoded once, with that window's score for it, which the passage alone cannot
see (in the 2,000-word document, "France ) 24.31 3. Minna Karhu ( Finland", scored by
the previous window, blocks "Finland"; "3." looks like a sentence end to the word-level
rule, so the switch fell inside that list of results).
"""

import json
from typing import Dict, List, Set, Tuple

import pytest
import spacy
from helpers.data import BENCHMARKS, REF_MINILM
from helpers.parity import Comparison, compare, official_inference

from spacy_gliner.model.inputs import sentence_starts
from spacy_gliner.model.search import SpanSearch, predict_entities
from spacy_gliner.model.words import split_words

THRESHOLD = 0.3
Entity = Tuple[int, int, str]


def conll_document(n_words: int) -> Tuple[str, List[Tuple[int, int]]]:
    """CoNLL-2003 test sentences joined by spaces until ``n_words`` words, and each sentence's char range."""
    data = json.loads((BENCHMARKS / "conll2003" / "test.json").read_text(encoding="utf8"))
    sentences, count = [], 0
    for item in data:
        sentences.append(item["sentence"])
        count += len(split_words(item["sentence"]))
        if count >= n_words:
            break
    assert count >= n_words, "not enough sentences"
    spans, pos = [], 0
    for sentence in sentences:
        spans.append((pos, pos + len(sentence)))
        pos += len(sentence) + 1
    return " ".join(sentences), spans


@pytest.fixture(scope="module")
def labels() -> List[str]:
    return json.loads((BENCHMARKS / "conll2003" / "labels.json").read_text(encoding="utf8"))


def keys(entities: List[dict], offset: int = 0) -> Set[Entity]:
    return {(e["start"] + offset, e["end"] + offset, e["label"]) for e in entities}


def check_document(n_words: int, labels: List[str], loaded, official) -> Dict[str, int]:
    text, sentence_spans = conll_document(n_words)
    model = loaded("ref_minilm")
    finder = SpanSearch(model)
    words = split_words(text)
    windows = finder.builder.windows(0, [w for w, _, _ in words], labels)
    assert len(windows) > 1 and max(len(w.input_ids) for w in windows) <= finder.builder.max_tokens
    entities = predict_entities(model, [text], labels, threshold=THRESHOLD, batch_size=8, search=finder)[0]
    found = keys(entities)

    starts = set(sentence_starts([w for w, _, _ in words])) | {0}
    max_width = model.settings.max_width
    last_ten = sentence_spans[-10][0]
    stats = {
        "windows": len(windows),
        "entities": len(found),
        "cut_by_a_window_end": 0,
        "in_last_ten": 0,
        "switch_at_sentence_start": 0,
    }
    for w in windows:
        stats["switch_at_sentence_start"] += w.own_start in starts
        passage_start, passage_end = words[w.start][1], words[w.end - 1][2]
        reference = official_inference(official, [text[passage_start:passage_end]], labels, threshold=THRESHOLD)[0]
        # the owned range less max_width - 1 words at each switch, where spans that the
        # neighbouring window scored can still reach and win a conflict
        first = w.own_start + (max_width - 1 if w.own_start else 0)
        last = w.own_end - (max_width - 1 if w.own_end < len(words) else 0)
        low = words[first][1] - passage_start
        high = (words[last][1] if last < len(words) else len(text)) - passage_start
        ours = [
            {**e, "start": e["start"] - passage_start, "end": e["end"] - passage_start}
            for e in entities
            if low <= e["start"] - passage_start < high
        ]
        # the passage's official entities, ours in the range: the same, or another official reading
        reading = sorted([e for e in reference if not low <= e["start"] < high] + ours, key=lambda e: e["start"])
        compare([reference], [reading], THRESHOLD, Comparison()).check()
        in_doc = keys(ours, passage_start)
        stats["in_last_ten"] += sum(e[0] >= last_ten for e in in_doc)
        if w.end < len(words):
            stats["cut_by_a_window_end"] += sum(e[0] < words[w.end][1] < e[1] for e in found)
    # ownership changes hands between sentences, unless a window holds no sentence start
    # where the switch may go (CoNLL has long tables of results without full stops)
    assert stats["switch_at_sentence_start"] >= 0.8 * len(windows)
    assert stats["in_last_ten"] > 0  # the end of the document is read...

    truncated = keys(official.inference([text], labels, threshold=THRESHOLD)[0])
    assert not any(e[0] >= last_ten for e in truncated)  # ...which the official library does not do
    return stats


@pytest.mark.parity
def test_2000_word_document_equals_the_official_library_on_each_window(labels, loaded, official):
    stats = check_document(2_000, labels, loaded, official("ref_minilm"))
    assert stats["windows"] >= 6


@pytest.mark.parity
@pytest.mark.slow
def test_20000_word_document_finds_entities_up_to_its_last_sentences(labels, loaded, official):
    stats = check_document(20_000, labels, loaded, official("ref_minilm"))
    assert stats["windows"] >= 60
    assert stats["cut_by_a_window_end"] > 0  # entities that one window cuts, found whole


def test_component_annotates_a_long_doc_to_its_end(labels):
    """The spaCy component on one long Doc: its entities are predict_entities' entities
    on the doc's text, expanded to token boundaries, up to the last sentences."""
    text, sentence_spans = conll_document(3_000)
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": labels, "threshold": THRESHOLD, "batch_size": 4})
    doc = nlp(text)
    loaded = nlp.get_pipe("gliner").search().loaded
    expected = []
    for e in predict_entities(loaded, [text], labels, threshold=THRESHOLD)[0]:
        span = doc.char_span(e["start"], e["end"], label=e["label"], alignment_mode="expand")
        expected.append((span.start_char, span.end_char, span.label_))
    assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == sorted(expected)
    assert any(e.start_char >= sentence_spans[-10][0] for e in doc.ents)


def test_windows_do_not_need_a_parser(labels):
    """The same entities whether or not the pipeline sets sentence boundaries."""
    text, _ = conll_document(1_000)
    plain = spacy.blank("en")
    plain.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": labels, "threshold": THRESHOLD})
    with_sents = spacy.blank("en")
    with_sents.add_pipe("sentencizer")
    with_sents.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": labels, "threshold": THRESHOLD})
    a, b = plain(text), with_sents(text)
    assert b.has_annotation("SENT_START") and not a.has_annotation("SENT_START")
    assert [(e.start, e.end, e.label_) for e in a.ents] == [(e.start, e.end, e.label_) for e in b.ents]
    assert len(a.ents) > 0
