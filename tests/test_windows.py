"""Window planning and label groups: how a text of any length and any number of labels
is cut into encoder passes.

``plan_windows`` is pure arithmetic, checked with generated inputs: windows cover every
word, respect both limits, own disjoint ranges of span starts that together cover the
text, switch ownership far enough from their edges that a span a window cuts is scored
whole by its neighbour, and prefer sentence starts. Label groups are checked with the
real tokenizer of ref_minilm, and against single passes with the real network.
"""

from typing import List, Sequence, Tuple

import numpy as np
import pytest
from helpers.data import DATA, benchmark
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_gliner.model.decoding import Candidates, greedy_decode
from spacy_gliner.model.inputs import plan_windows, sentence_starts
from spacy_gliner.model.search import SpanSearch, predict_entities
from spacy_gliner.model.words import split_words

Plan = List[Tuple[int, int, int, int]]


def check_plan(plan: Plan, counts: Sequence[int], budget: int, max_words: int) -> None:
    """The invariants every plan must satisfy."""
    n = len(counts)
    assert plan[0][0] == 0 and plan[-1][1] == n
    assert plan[0][2] == 0 and plan[-1][3] == n
    for (start, end, own_start, own_end), nxt in zip(plan, plan[1:] + [None]):
        assert start < end and end - start <= max_words
        assert end - start == 1 or sum(counts[start:end]) <= budget  # only a lone word may exceed
        assert start <= own_start < own_end <= end  # owned starts lie inside, never empty
        if nxt is not None:
            assert nxt[0] > start and nxt[1] > end  # moving forwards
            assert nxt[0] <= end  # no gap: neighbours touch or overlap
            assert nxt[2] == own_end  # ownership ranges partition [0, n)


sizes = st.integers(min_value=1, max_value=900)


@settings(max_examples=300, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=1500),
    budget=st.integers(min_value=1, max_value=600),
    max_words=st.integers(min_value=1, max_value=400),
    overlap=st.integers(min_value=0, max_value=100),
    margin=st.integers(min_value=0, max_value=15),
    data=st.data(),
)
def test_plan_covers_respects_limits_and_partitions(counts, budget, max_words, overlap, margin, data):
    n = len(counts)
    breaks = data.draw(st.lists(st.integers(min_value=-2, max_value=n + 2), max_size=60))
    plan = plan_windows(counts, budget, max_words, overlap, margin, breaks)
    check_plan(plan, counts, budget, max_words)
    for (_, end, _, switch), (start, _, _, _) in zip(plan, plan[1:]):
        shared = end - start
        assert shared <= max(overlap, 0)
        if shared >= 2 * margin:
            # a span of up to margin + 1 words starting before the switch ends inside this
            # window; one starting at the switch has margin words of context in the next
            assert start + margin <= switch <= end - margin


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=1, max_value=384), budget=st.integers(min_value=384, max_value=2000))
def test_a_text_that_fits_is_one_window(n, budget):
    """One window owning everything: the result is that of a single pass."""
    assert plan_windows([1] * n, budget, 384, 64, 12, breaks=range(0, n, 7)) == [(0, n, 0, n)]


def test_a_huge_word_gets_a_window_of_its_own():
    counts = [2, 3, 1000, 1, 4, 2000, 2]
    plan = plan_windows(counts, 10, 384, 64, 12)
    check_plan(plan, counts, 10, 384)
    assert (2, 3, 2, 3) in plan and (5, 6, 5, 6) in plan


def test_long_uniform_text_uses_full_windows_and_the_whole_overlap():
    n, max_words, overlap = 10_000, 384, 64
    plan = plan_windows([1] * n, 10_000, max_words, overlap, 12)
    check_plan(plan, [1] * n, 10_000, max_words)
    assert all(end - start == max_words for start, end, _, _ in plan[:-1])
    assert all(end - nxt[0] == overlap for (_, end, _, _), nxt in zip(plan, plan[1:]))
    # as few windows as full windows with that overlap allow
    assert len(plan) == -(-(n - overlap) // (max_words - overlap))


def test_sentence_starts_are_preferred_for_ends_starts_and_switches():
    sentences = [14, 9, 22, 17, 11, 30, 8, 19, 25, 12] * 20  # words per sentence
    breaks = [int(b) for b in np.cumsum(sentences)[:-1]]
    n = sum(sentences)
    plan = plan_windows([1] * n, 500, 384, 64, 12, breaks)
    check_plan(plan, [1] * n, 500, 384)
    assert len(plan) > 3
    cuts = set(breaks)
    switches_at_breaks = 0
    for (start, end, _, switch), nxt in zip(plan, plan[1:]):
        assert end in cuts and nxt[0] + 12 <= switch <= end - 12
        # the switch is a sentence start whenever one lies 12 words inside the overlap ...
        if any(end - 64 + 12 <= b <= end - 12 for b in cuts):
            assert switch in cuts
            switches_at_breaks += 1
        # ... and so is the next start, where one leaves 12 words before the switch
        assert nxt[0] in cuts or not any(end - 64 <= b <= switch - 12 for b in cuts)
    assert switches_at_breaks == len(plan) - 1
    # without sentence starts the same text is cut anywhere
    plain = plan_windows([1] * n, 500, 384, 64, 12)
    assert any(end not in cuts for _, end, _, _ in plain[:-1])


def test_sentence_starts_come_from_the_words_alone():
    words = [w for w, _, _ in split_words("Hello there. How are you? Fine! U.S. troops ... left")]
    starts = sentence_starts(words)
    assert [words[i] for i in starts] == ["How", "Fine", "U", "S", "troops", ".", ".", "left"]
    assert sentence_starts(["one", "."]) == []  # a final full stop starts nothing


# -- with the real tokenizer and network -----------------------------------------------
@pytest.fixture(scope="module")
def finder(loaded):
    return SpanSearch(loaded("ref_minilm"))


def many_labels(n: int) -> List[str]:
    pool = (DATA / "pilener" / "types.txt").read_text(encoding="utf8").splitlines()
    labels = list(dict.fromkeys(t.strip() for t in pool if t.strip()))[:n]
    return labels + [f"kind of thing {i}" for i in range(n - len(labels))]


def test_500_labels_split_into_groups_that_each_fit(finder):
    builder = finder.builder
    labels = many_labels(500)
    groups = builder.label_groups(labels)
    assert len(groups) > 1
    firsts = [first for first, _, _ in groups]
    sizes = [len(markers) for _, _, markers in groups]
    assert firsts == list(np.cumsum([0] + sizes[:-1])) and sum(sizes) == 500  # every label once, in order
    for first, prompt, markers in groups:
        assert len(prompt) <= builder.max_prompt_tokens
        assert [prompt[m - len(builder.prefix)] for m in markers] == [builder.ent_id] * len(markers)
        assert prompt[-1] == builder.sep_id
    for (first, prompt, markers), nxt in zip(groups, groups[1:]):  # a group is cut only when full
        label = builder._label_pieces[labels[first + len(markers)]]
        assert len(prompt) + 1 + len(label) > builder.max_prompt_tokens

    words = [w for w, _, _ in split_words(" ".join(benchmark("CrossNER_AI", 30)[0]))]
    windows = builder.windows(0, words, labels)
    assert {w.label_offset for w in windows} == set(firsts)
    for first in firsts:  # each group covers every word, within the encoder's limit
        own = sorted((w.own_start, w.own_end) for w in windows if w.label_offset == first)
        assert own[0][0] == 0 and own[-1][1] == len(words)
        assert all(a[1] == b[0] for a, b in zip(own, own[1:]))
    assert max(len(w.input_ids) for w in windows) <= builder.max_tokens


def test_labels_that_fit_run_in_one_pass(finder):
    _, labels = benchmark("CrossNER_science", 1)
    assert len(finder.builder.label_groups(labels)) == 1


def test_label_groups_equal_separate_passes_merged_before_decoding(loaded):
    """With a small prompt limit, labels run in groups: the candidates are exactly those of
    one single pass per group, and one decoding over all of them gives the entities."""
    finder = SpanSearch(loaded("ref_minilm"))
    finder.builder.max_prompt_tokens = 8  # about two labels per prompt
    texts, labels = benchmark("CrossNER_politics", 6)
    groups = finder.builder.label_groups(labels)
    assert len(groups) >= 3
    words = [[w for w, _, _ in split_words(t)] for t in texts]
    threshold = 0.3
    together = finder(words, [labels] * len(texts), threshold, batch_size=8)

    single = SpanSearch(loaded("ref_minilm"))  # default limit: each group is a single pass
    separate = []
    for i, text in enumerate(texts):
        expected = []
        for first, _, markers in groups:
            group = labels[first : first + len(markers)]
            cands = single([words[i]], [group], threshold, batch_size=8)[0]
            expected += [
                (int(s), int(e), first + int(c), float(p))
                for s, e, c, p in zip(cands.starts, cands.ends, cands.labels, cands.scores)
            ]
        got = together[i]
        assert sorted(x[:3] for x in expected) == sorted(
            zip(got.starts.tolist(), got.ends.tolist(), got.labels.tolist())
        )
        scores = dict(((s, e, c), p) for s, e, c, p in expected)
        np.testing.assert_allclose(
            [scores[k] for k in zip(got.starts.tolist(), got.ends.tolist(), got.labels.tolist())], got.scores, atol=1e-5
        )

        separate.append(expected)

    # one decoding over the candidates of all groups: a span of one group can block a span
    # of another, as when all labels share one pass
    ents = predict_entities(finder.loaded, texts, labels, threshold=threshold, search=finder)
    assert len({e["label"] for found in ents for e in found}) > 1
    for text, expected, found in zip(texts, separate, ents):
        rows = np.array(expected, dtype=np.float64).reshape(-1, 4)
        cands = Candidates(*(rows[:, i].astype(np.int64) for i in range(3)), rows[:, 3]).canonical()
        spans = split_words(text)
        decoded = [
            (spans[cands.starts[k]][1], spans[cands.ends[k]][2], labels[cands.labels[k]]) for k in greedy_decode(cands)
        ]
        assert decoded == [(e["start"], e["end"], e["label"]) for e in found]


def test_a_huge_word_is_cut_to_fit_the_encoder(finder):
    builder = finder.builder
    huge = "-".join(["abc"] * 400)  # one GLiNER word, ~800 sub-tokens
    words = ["Paris", "is", huge, "in", "France", "."] * 3
    assert len(builder.pieces([[huge]])[0][0]) > builder.max_tokens
    windows = builder.windows(0, words, ["location", "person"])
    assert max(len(w.input_ids) for w in windows) <= builder.max_tokens
    assert all(any(w.start <= i < w.end and w.word_has_token[i - w.start] for w in windows) for i in range(len(words)))
    lone = [w for w in windows if w.end - w.start == 1]
    assert [words[w.start] for w in lone] == [huge] * 3
