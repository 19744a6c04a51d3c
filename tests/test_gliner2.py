"""GLiNER2 inference against gliner2 2.1.0 itself, on checkpoints gliner2 writes.

Both architectures (span with each count layer; boundary with its per-query and shared
candidate pools and the optional layers), entities with per-type thresholds and
descriptions, single- and multi-label classes, relations, on benchmark sentences at two
thresholds; long texts in several windows against gliner2 run on the same windows and
merged by gliner2's own ``merge_chunk_results``; batching, words given by the caller, the
"char" splitter, overlap policies, and the schema's checks.
"""

import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
from helpers.data import benchmark
from helpers.gliner2_checkpoints import (
    Report,
    comparable,
    compare_extraction,
    minilm,
    write_encoder,
    write_gliner2_checkpoint,
)

from spacy_gliner.model.gliner2 import checkpoint
from spacy_gliner.model.gliner2.decoding import as_gliner2
from spacy_gliner.model.gliner2.extract import Extractor
from spacy_gliner.model.gliner2.schema import Schema

SHARED_OPTIONS = {
    "enable_relations": True,
    "candidate_pool": "shared",
    "pool_size": 48,
    "enable_span_content": True,
    "content_soft_max_pool": True,
    "enable_rotary_endpoints": True,
    "endpoint_difference_features": True,
    "query_conditioned_inside_weight": True,
    "boundary_attention_layers": 1,
    "directional_relation_states": True,
    "relation_biaffine_content": True,
}
VARIANTS: Dict[str, Dict[str, Any]] = {
    "span": {},
    "span-moe": {"counting_layer": "count_lstm_moe"},
    "span-v2": {"counting_layer": "count_lstm_v2", "max_width": 5},
    "boundary": {"architecture": "boundary", "boundary_head": {"enable_relations": True}},
    "boundary-shared": {"architecture": "boundary", "boundary_head": SHARED_OPTIONS, "abstain": True},
    "boundary-adaptive": {
        "architecture": "boundary",
        "abstain": True,
        "boundary_head": {
            "enable_relations": True,
            "adaptive_threshold": True,
            "overlap_policy": "nested",
            "bidirectional_proposals": False,
            "enable_records": False,
        },
    },
    # a real encoder, and DeBERTa-v3's SentencePiece tokenization (words become "▁" pieces)
    "span-minilm": {"encoder": "minilm"},
    "boundary-minilm": {
        "encoder": "minilm",
        "architecture": "boundary",
        "boundary_head": {"enable_relations": True, "candidate_pool": "shared"},
    },
    "boundary-deberta": {"encoder": "deberta", "architecture": "boundary", "boundary_head": {"enable_relations": True}},
}
SLOW = ("span-minilm", "boundary-minilm", "boundary-deberta")
PARITY_SETS = (("conll2003", 12), ("CrossNER_AI", 8), ("mit-movie", 8))
THRESHOLDS = (0.3, 0.6)
CLASSES = ("sentiment", ["positive", "negative", "neutral"]), ("topic", ["sports", "politics", "business", "science"])


@pytest.fixture(scope="session")
def gliner2_folder(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Folder of a gliner2 checkpoint by variant name (written once)."""
    encoders: Dict[str, Path] = {}
    written: Dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in written:
            options = dict(VARIANTS[name])
            kind = options.pop("encoder", "bert")
            if kind not in encoders:
                encoders[kind] = minilm() if kind == "minilm" else write_encoder(tmp_path_factory.mktemp(kind), kind)
            written[name] = write_gliner2_checkpoint(tmp_path_factory.mktemp(name) / "model", encoders[kind], **options)
        return written[name]

    return get


@pytest.fixture(scope="session")
def gliner2_models(gliner2_folder: Callable[[str], Path]) -> Callable[[str], Tuple[Any, Extractor]]:
    """(gliner2's AutoExtractor, our Extractor) of a variant, loaded once (do not modify)."""
    cache: Dict[str, Tuple[Any, Extractor]] = {}

    def get(name: str) -> Tuple[Any, Extractor]:
        if name not in cache:
            from gliner2 import AutoExtractor

            folder = gliner2_folder(name)
            cache[name] = (AutoExtractor.from_pretrained(str(folder)), Extractor(checkpoint.load(folder)))
        return cache[name]

    return get


def schemas(labels: List[str], threshold: float) -> Tuple[Any, Schema, Dict[str, float]]:
    """The same schema for gliner2 and for us, with the effective threshold of each type:
    six entity types (one with a description, one with a threshold of its own), a
    single-label class with choice descriptions, a multi-label class, two relation types
    (one with a threshold of its own)."""
    from gliner2 import Schema as Gliner2Schema

    own = min(threshold + 0.15, 0.95)
    entities: Dict[str, Any] = {name: {} for name in labels[:6]}
    entities[labels[0]] = {"description": f"a {labels[0]} mentioned by name"}
    entities[labels[1]] = {"threshold": own}
    (task, choices), (multi, topics) = CLASSES
    described = {c: f"the text is {c}" for c in choices}
    relations = {"works for": {"threshold": own}, "located in": {}}
    reference = (
        Gliner2Schema()
        .entities(entities)
        .classification(task, described)
        .classification(multi, topics, multi_label=True, cls_threshold=0.4)
        .relations(relations)
    )
    ours = Schema.build(
        entities, {task: described, multi: {"labels": topics, "multi_label": True, "cls_threshold": 0.4}}, relations
    )
    thresholds = {name: own if "threshold" in spec else threshold for name, spec in {**entities, **relations}.items()}
    return reference, ours, thresholds


def run_parity(gliner2_models: Callable, name: str, sets=PARITY_SETS) -> Report:
    reference_model, ours = gliner2_models(name)
    report = Report()
    for dataset, n in sets:
        texts, labels = benchmark(dataset, n)
        for threshold in THRESHOLDS:
            reference_schema, schema, thresholds = schemas(labels, threshold)
            found = ours(texts, schema, threshold=threshold, batch_size=4)
            for i, (text, extraction) in enumerate(zip(texts, found)):
                expected = reference_model.extract(
                    text, reference_schema, threshold=threshold, include_confidence=True, include_spans=True
                )
                compare_extraction(
                    expected, extraction, text, schema, thresholds, report, f"{dataset} {i} @{threshold}"
                )
                assert_exact_offsets(text, extraction)
    return report


def assert_exact_offsets(text: str, extraction: Any) -> None:
    """Every span is a non-empty piece of the text, its text exactly the text's characters."""
    mentions = list(extraction.entities) + [m for r in extraction.relations for m in (r.head, r.tail)]
    for m in mentions:
        assert 0 <= m.start < m.end <= len(text) and text[m.start : m.end] == m.text, (m, text)


@pytest.mark.parity
@pytest.mark.parametrize("name", [n for n in VARIANTS if n not in SLOW])
def test_parity_with_gliner2(gliner2_models: Callable, name: str) -> None:
    report = run_parity(gliner2_models, name)
    report.check()
    assert report.counts["relations"] > 0, report.counts


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_parity_with_gliner2_real_encoders(gliner2_models: Callable, name: str) -> None:
    run_parity(gliner2_models, name).check()


@pytest.mark.slow
def test_sentencepiece_inputs_are_gliner2s(gliner2_folder: Callable[[str], Path]) -> None:
    """DeBERTa-v3 tokenization (each word on its own: "▁" pieces): our prompt and word ids
    are exactly the input ids gliner2 collates, on every benchmark sentence."""
    from gliner2 import AutoExtractor

    from spacy_gliner.model.gliner2.inputs import model_words, split_words

    folder = gliner2_folder("boundary-deberta")
    reference, ours = AutoExtractor.from_pretrained(str(folder)), Extractor(checkpoint.load(folder))
    for dataset, n in PARITY_SETS:
        texts, labels = benchmark(dataset, n)
        reference_schema, schema, _ = schemas(labels, 0.5)
        layout = ours.tokens.prompt(schema.tasks())
        for text in texts:
            ids = list(layout.ids) + [
                i for w, _, _ in model_words(text, split_words(text)) for i in ours.tokens.ids(w.lower())
            ]
            assert ids == reference.processor.collate_fn_inference([(text, reference_schema)]).input_ids[0].tolist()


def long_document(sentences: int) -> str:
    texts, _ = benchmark("conll2003", 40 + sentences)
    return " ".join(texts[40:])


@pytest.mark.parity
@pytest.mark.parametrize("name", ["span", "boundary"])
def test_long_text_is_gliner2_on_each_window_merged_as_extract_long(gliner2_models: Callable, name: str) -> None:
    """A text longer than the encoder reads at once: several windows, each decoded as gliner2
    decodes that window's words, merged as gliner2's extract_long merges its chunks."""
    from gliner2.inference.chunking import TextChunk, merge_chunk_results

    reference_model, ours = gliner2_models(name)
    # no end mark: the last window reads gliner2's added "."
    text = long_document(80).rstrip(" .")
    _, labels = benchmark("conll2003", 1)
    reference_schema, schema, thresholds = schemas(labels, 0.5)
    windows = ours.windows([text], schema)
    assert len(windows) >= 3
    words = ours.words([text])[0]
    chunks, results = [], []
    for w in windows:
        start, end = words[w.start][1], min(words[w.end - 1][2], len(text))
        chunk = TextChunk(text[start:end], start, end, w.start, w.end)
        chunks.append(chunk)
        results.append(
            reference_model.extract(
                chunk.text,
                reference_schema,
                threshold=0.5,
                include_confidence=True,
                include_spans=True,
                max_len=w.end - w.start,
            )
        )
    policy = None if name == "span" else "flat"
    expected = merge_chunk_results(
        text, chunks, results, include_confidence=True, include_spans=True, overlap_policy=policy
    )
    got = ours([text], schema, threshold=0.5)[0]
    report = compare_extraction(expected, got, text, schema, thresholds, Report(), "long text")
    report.check()
    assert_exact_offsets(text, got)
    assert got.entities and got.entities[-1].end > words[windows[-2].end - 1][2]  # found past the second-last window


def test_batches_and_window_order_do_not_change_results(gliner2_models: Callable) -> None:
    """Windows are sorted by length and padded into batches: any batch size gives the same."""
    _, ours = gliner2_models("boundary")
    texts, labels = benchmark("CrossNER_AI", 10)
    texts = texts + [long_document(40)]
    _, schema, _ = schemas(labels, 0.4)
    one = [comparable(as_gliner2(e, schema), t, schema) for t, e in zip(texts, ours(texts, schema, 0.4, batch_size=1))]
    many = [
        comparable(as_gliner2(e, schema), t, schema) for t, e in zip(texts, ours(texts, schema, 0.4, batch_size=16))
    ]
    for a, b in zip(one, many):
        assert a.keys() == b.keys()
        for key in ("entities", "relations"):
            assert a[key].keys() == b[key].keys()
        assert all(abs(a["entities"][k] - b["entities"][k]) < 1e-5 for k in a["entities"])


@pytest.mark.parametrize("name", ["span", "boundary"])
def test_words_given_by_the_caller(gliner2_models: Callable, name: str) -> None:
    """Words with their offsets (e.g. a Doc's tokens) instead of gliner2's splitter."""
    from spacy_gliner.model.gliner2.inputs import split_words

    _, ours = gliner2_models(name)
    texts, labels = benchmark("conll2003", 6)
    _, schema, _ = schemas(labels, 0.3)
    same = ours(texts, schema, 0.3, words=[split_words(t) for t in texts])
    assert [as_gliner2(e, schema) for e in same] == [as_gliner2(e, schema) for e in ours(texts, schema, 0.3)]
    spaced = [[(t[m.start() : m.end()], m.start(), m.end()) for m in re.finditer(r"\S+", t)] for t in texts]
    for text, words, extraction in zip(texts, spaced, ours(texts, schema, 0.3, words=spaced)):
        assert_exact_offsets(text, extraction)
        assert {(e.start, e.end) for e in extraction.entities} <= {(s, e) for _, s, _ in words for _, _, e in words}


@pytest.mark.parametrize(
    "words, message",
    [
        ([("Paris", 0, 60)], "inside the text"),
        ([("  ", 5, 7)], "not blank"),
        ([("is", 6, 8), ("Paris", 0, 5)], "after the previous"),
        (["Paris"], "triples"),
        ([("", 0, 0)], "not a word"),
    ],
)
def test_bad_words_are_refused(gliner2_models: Callable, words: list, message: str) -> None:
    _, ours = gliner2_models("span")
    schema = Schema.build(["city"])
    with pytest.raises(ValueError, match=message):
        ours(["Paris is big."], schema, words=[words])


@pytest.mark.parity
def test_char_splitter_is_gliner2s(gliner2_folder: Callable[[str], Path]) -> None:
    """gliner2's "char" splitter (Chinese, Japanese): Latin words whole, any other character alone."""
    from gliner2 import AutoExtractor

    folder = gliner2_folder("boundary")
    reference, ours = (
        AutoExtractor.from_pretrained(str(folder), word_splitter="char"),
        Extractor(checkpoint.load(folder)),
    )
    texts = [
        "阿里巴巴在杭州成立，马云是创始人。",
        "Apple 在 Cupertino 发布了 iPhone 15",
        "東京で田中さんがSonyに入社した",
    ]
    reference_schema, schema, thresholds = schemas(
        ["person", "organization", "location", "date", "product", "city"], 0.4
    )
    report = Report()
    for text, extraction in zip(texts, ours(texts, schema, 0.4, splitter="char")):
        expected = reference.extract(text, reference_schema, threshold=0.4, include_confidence=True, include_spans=True)
        compare_extraction(expected, extraction, text, schema, thresholds, report, text)
        assert_exact_offsets(text, extraction)
    report.check()


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, policy", [("span", "nested"), ("span", "flat"), ("boundary", "longest"), ("boundary", "allow")]
)
def test_overlap_policy_is_gliner2s(gliner2_models: Callable, name: str, policy: str) -> None:
    reference_model, ours = gliner2_models(name)
    texts, labels = benchmark("CrossNER_AI", 6)
    reference_schema, schema, thresholds = schemas(labels, 0.4)
    report = Report()
    for text, extraction in zip(texts, ours(texts, schema, 0.4, overlap_policy=policy)):
        expected = reference_model.extract(
            text, reference_schema, threshold=0.4, include_confidence=True, include_spans=True, overlap_policy=policy
        )
        compare_extraction(expected, extraction, text, schema, thresholds, report, text)
    report.check()


@pytest.mark.parametrize("name", ["span", "boundary"])
def test_odd_texts(gliner2_models: Callable, name: str) -> None:
    """Empty and blank texts, a word with no sub-token, gliner2's added "." alone: gliner2's
    results (under the rules of ``comparable``), offsets inside the text."""
    reference_model, ours = gliner2_models(name)
    texts = ["", "   ", "\u200b", "Paris \u200b", "Berlin", "Angela Merkel visited Paris\u200b", "x\n\n"]
    reference_schema, schema, thresholds = schemas(
        ["person", "organization", "location", "date", "product", "city"], 0.3
    )
    report = Report()
    for text, extraction in zip(texts, ours(texts, schema, 0.3)):
        expected = reference_model.extract(
            text, reference_schema, threshold=0.3, include_confidence=True, include_spans=True
        )
        compare_extraction(expected, extraction, text, schema, thresholds, report, repr(text))
        assert_exact_offsets(text, extraction)
        assert [c.task for c in extraction.classes] == ["sentiment", "topic"]
    assert not report.errors and not report.near_ties and report.max_diff < 1e-4, (report.errors, report.near_ties)


def test_every_choice_is_scored(gliner2_models: Callable) -> None:
    """A class carries every choice's probability (doc.cats needs them all); single-label
    probabilities sum to 1, the chosen one is the best."""
    _, ours = gliner2_models("span")
    texts, labels = benchmark("conll2003", 3)
    _, schema, _ = schemas(labels, 0.5)
    for extraction in ours(texts, schema):
        single, multi = extraction.classes
        assert set(single.scores) == set(CLASSES[0][1]) and abs(sum(single.scores.values()) - 1) < 1e-5
        assert single.labels == [max(single.scores, key=single.scores.get)]
        assert set(multi.scores) == set(CLASSES[1][1]) and multi.labels


def test_prompt_that_leaves_no_room_for_the_text_is_refused(gliner2_models: Callable) -> None:
    _, ours = gliner2_models("span")
    schema = Schema.build(
        {f"label number {i}": "a long description of what this label means in context" for i in range(60)}
    )
    with pytest.raises(ValueError, match="fewer or shorter labels"):
        ours(["Paris is big."], schema)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({}, ValueError, "asks for nothing"),
        ({"entities": [""]}, ValueError, "non-empty string"),
        ({"entities": {"person": 3}}, ValueError, "takes a description"),
        ({"entities": {"person": {"threshold": 1.5}}}, ValueError, "from 0 to 1"),
        ({"entities": {"person": {"threshold": True}}}, ValueError, "from 0 to 1"),
        ({"entities": 5}, TypeError, "list of names"),
        ({"classes": {"sentiment": ["good", "good"]}}, ValueError, "no repeated"),
        ({"classes": {"sentiment": []}}, ValueError, "at least one choice"),
        ({"classes": {"sentiment": "good"}}, ValueError, "a list or a mapping"),
        ({"classes": {"sentiment": {"labels": ["a"], "top_k": 2}}}, ValueError, "unknown options"),
        ({"classes": {"sentiment": {"labels": ["a"], "multi_label": "yes"}}}, ValueError, "true or false"),
        ({"classes": ["sentiment"]}, TypeError, "mapping of task name"),
        ({"relations": ["entities"]}, ValueError, "may not be 'entities'"),
        ({"classes": {"entities": ["a", "b"]}}, ValueError, "may not be 'entities'"),
        ({"entities": ["person"], "structures": {"product": ["name"]}}, ValueError, "Structured records"),
    ],
)
def test_schema_checks(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Schema.build(**kwargs)


def test_schema_prompt_is_gliner2s(gliner2_models: Callable) -> None:
    """Task order and schema tokens as gliner2's processor writes them."""
    reference_model, _ = gliner2_models("span")
    reference_schema, schema, _ = schemas(["person", "organization", "location", "date", "product", "city"], 0.5)
    reference_model.processor.change_mode(is_training=False)
    expected = reference_model.processor._infer_from_json(json.loads(json.dumps(reference_schema.build())))["schemas"]
    assert [list(t.tokens) for t in schema.tasks()] == expected


def test_threshold_and_batch_size_are_checked(gliner2_models: Callable) -> None:
    _, ours = gliner2_models("span")
    schema = Schema.build(["city"])
    with pytest.raises(ValueError, match="from 0 to 1"):
        ours(["Paris."], schema, threshold=2)
    with pytest.raises(ValueError, match="batch_size"):
        ours(["Paris."], schema, batch_size=0)
    with pytest.raises(TypeError, match="list of strings"):
        ours("Paris.", schema)
    with pytest.raises(ValueError, match="overlap policy"):
        ours(["Paris."], schema, overlap_policy="sideways")


def test_overlap_resolution_is_gliner2s() -> None:
    """Every policy on random spans with tied scores, against gliner2's resolve_overlaps."""
    import random

    from gliner2.inference.overlap import resolve_overlaps as reference

    from spacy_gliner.model.gliner2.decoding import resolve_overlaps

    rng = random.Random(0)
    for _ in range(1500):
        starts = [rng.randint(0, 10) for _ in range(rng.randint(0, 12))]
        items = [(rng.choice([0.5, 0.6, round(rng.random(), 2)]), s, s + rng.randint(1, 4)) for s in starts]
        for policy in ("disallow", "nested", "longest", "allow"):
            expected = reference(items, policy, score=lambda x: x[0], start=lambda x: x[1], end=lambda x: x[2])
            assert resolve_overlaps(items, policy, lambda x: x[0], lambda x: x[1], lambda x: x[2]) == expected


def test_multi_label_threshold_is_compared_as_gliner2_compares_it() -> None:
    """gliner2 compares a choice's probability (a float32) with the threshold as Python
    floats: float32(0.7) is just below 0.7, so it is not chosen."""
    import numpy as np

    from spacy_gliner.model.gliner2.decoding import classify
    from spacy_gliner.model.gliner2.schema import ClassTask

    task = ClassTask("topic", ("a", "b", "c"), multi_label=True, threshold=0.7)
    assert classify(task, np.array([0.7, 0.75, 0.1], dtype=np.float32)).labels == ["b"]
