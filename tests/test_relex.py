"""Relation extraction (relex) checkpoints in the torch-only core: the official library's entities and relations.

Tiny relex checkpoints are created and saved by the official library (``relex_checkpoints``);
``relation_search.predict_relations`` must give its ``inference(..., relations=...)``
output: the official entities (differences allowed only where float near-ties explain
them, conftest's ``Comparison``) and, for texts with the official entities, the same
relations (heads, tails, labels, entity indices, in the same order) with scores within
``SCORE_TOL``, for both families and both published relation layers, flat and nested, at
several thresholds, on benchmark sentences. Then long texts in windows, and what is refused.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import torch
from helpers.data import benchmark
from helpers.parity import SCORE_TOL, Comparison, compare, load_official, official_inference
from helpers.relex_checkpoints import RELATION_TYPES, RELEX_CHECKPOINTS

from spacy_gliner.model import checkpoint, relations
from spacy_gliner.model.inputs import Window
from spacy_gliner.model.relation_search import RelationSearch, _one_window_each, predict_relations
from spacy_gliner.model.relation_settings import NOT_IN_PIPELINE, UNSUPPORTED_RELATION_LAYERS
from spacy_gliner.model.search import SpanSearch
from spacy_gliner.model.settings import CheckpointError
from spacy_gliner.model.words import split_words

# thresholds where each tiny checkpoint has entities and relations, but not between all pairs
THRESHOLDS = {"span-none": (0.5, 0.7), "span-gcn": (0.5, 0.7), "token-none": (0.4, 0.45), "token-gcn": (0.35, 0.4)}


@pytest.fixture(scope="module")
def relex_models(relex_checkpoint):
    """(ours, official) of each relex checkpoint, loaded once for the module."""
    cache: Dict[str, Tuple[Any, Any]] = {}

    def get(name: str) -> Tuple[Any, Any]:
        if name not in cache:
            folder = relex_checkpoint(name)
            cache[name] = (checkpoint.load(folder, relations=True), load_official(folder))
        return cache[name]

    return get


@pytest.fixture(scope="module")
def sentences() -> Tuple[List[str], List[str]]:
    return benchmark("conll2003", 8)


def assert_official(
    official: Any,
    ours: Any,
    texts: List[str],
    labels: List[str],
    relation_types: List[str],
    batch_size: int = 4,
    **run: Any,
) -> int:
    """Our entities are the official ones, or differ by float near-ties only (``Comparison``);
    where a text's entities are the official ones, so are its relations: the same heads,
    tails (``entity_idx`` included) and types in the same order, scores within ``SCORE_TOL``
    (where they differ, the relations between other entities differ too: not compared).
    The number of official relations."""
    entity_run = {k: v for k, v in run.items() if k in ("threshold", "flat_ner", "multi_label")}
    their_entities = official_inference(
        official, texts, labels, batch_size=batch_size, relations=relation_types, return_relations=False, **entity_run
    )
    their_relations = official.inference(texts, labels, relations=relation_types, batch_size=batch_size, **run)[1]
    our_entities, our_relations = predict_relations(ours, texts, labels, relation_types, batch_size=batch_size, **run)
    compare(their_entities, our_entities, run["threshold"], Comparison()).check()
    for i, (a, b) in enumerate(zip(their_entities, our_entities)):
        for r in our_relations[i]:  # each end is the entity it points at
            for end in ("head", "tail"):
                e = b[r[end]["entity_idx"]]
                assert (e["start"], e["end"], e["text"], e["label"]) == tuple(
                    r[end][k] for k in ("start", "end", "text", "type")
                )
        if [(e["start"], e["end"], e["label"]) for e in a] != [(e["start"], e["end"], e["label"]) for e in b]:
            continue
        theirs, mine = their_relations[i], our_relations[i]
        assert [(r["head"], r["tail"], r["relation"]) for r in theirs] == [
            (r["head"], r["tail"], r["relation"]) for r in mine
        ], i
        assert all(abs(x["score"] - y["score"]) <= SCORE_TOL for x, y in zip(theirs, mine)), i
    return sum(map(len, their_relations))


@pytest.mark.parity
@pytest.mark.parametrize("name", list(RELEX_CHECKPOINTS))
def test_entities_and_relations_are_the_official_ones(relex_models, sentences, name):
    ours, official = relex_models(name)
    texts, labels = sentences
    low, high = THRESHOLDS[name]
    runs = [
        dict(threshold=low),
        dict(threshold=high),
        dict(threshold=high, flat_ner=False),
        dict(threshold=high, flat_ner=False, multi_label=True),
        dict(threshold=low, relation_threshold=0.8, adjacency_threshold=0.3),
    ]
    found = [assert_official(official, ours, texts, labels, RELATION_TYPES, **run) for run in runs]
    assert min(found[:4]) > 0 and found[2] > found[1]  # not the parity of empty outputs; nested finds more


@pytest.mark.parity
def test_no_relation_types_gives_the_official_entities(relex_models, sentences):
    """Relation types are part of the prompt: without any, entities are still the relex model's own."""
    ours, official = relex_models("span-none")
    texts, labels = sentences
    assert assert_official(official, ours, texts, labels, [], threshold=0.5) == 0


def test_pairs_projected_in_parts_give_the_same_relations(relex_models, sentences, monkeypatch):
    ours, _ = relex_models("span-none")
    texts, labels = sentences
    whole = predict_relations(ours, texts, labels, RELATION_TYPES, threshold=0.5)
    monkeypatch.setattr(relations, "PAIRS_PER_PASS", 7)
    assert predict_relations(ours, texts, labels, RELATION_TYPES, threshold=0.5) == whole


# -- long texts: relations inside windows ---------------------------------------------
def _window(start: int, end: int, own_start: int, own_end: int) -> Window:
    return Window(0, start, end, own_start, own_end, 0, 1, [], [], [], [])


def test_each_relation_is_read_from_one_window():
    """Windows [0, 10) and [6, 16), ownership switching at 8: a relation both windows find comes
    from the window owning its head; one whose tail is outside that window from the other."""
    first, second = _window(0, 10, 0, 8), _window(6, 16, 8, 16)
    both_in_overlap = (6, 6, 8, 9, 0, 0.9)  # head owned by the first window, which holds the tail
    head_second = (8, 8, 6, 7, 1, 0.8)  # head owned by the second window, which holds the tail
    tail_beyond = (7, 7, 12, 13, 2, 0.7)  # head owned by the first, tail only in the second
    parts = [(second, [both_in_overlap, head_second, tail_beyond]), (first, [both_in_overlap, head_second])]
    assert _one_window_each(parts) == [both_in_overlap, head_second, tail_beyond]


def test_a_long_text_gets_each_relation_once_and_only_between_spans_a_window_holds(relex_models, sentences):
    ours, _ = relex_models("span-none")
    texts, labels = sentences
    text = " ".join(texts)
    search = RelationSearch(ours)
    search.builder.max_words = 40  # windows of 40 words, sharing 20
    entities, found = predict_relations(ours, [text], labels, RELATION_TYPES, threshold=0.5, search=search)
    words = split_words(text)
    search.builder.relation_types = [RELATION_TYPES]
    windows = search.builder.windows(0, [w for w, _, _ in words], labels)
    assert len(windows) >= 6
    word_of = {start: i for i, (_, start, _) in enumerate(words)}
    last_word_of = {end: i for i, (_, _, end) in enumerate(words)}
    keys = [(r["head"]["entity_idx"], r["tail"]["entity_idx"], r["relation"]) for r in found[0]]
    assert len(keys) > 20 and len(set(keys)) == len(keys)
    for r in found[0]:
        first = min(word_of[r["head"]["start"]], word_of[r["tail"]["start"]])
        last = max(last_word_of[r["head"]["end"]], last_word_of[r["tail"]["end"]])
        assert any(w.start <= first and last < w.end for w in windows)
        assert entities[0][r["head"]["entity_idx"]]["start"] == r["head"]["start"]
    # the document has entities that no window holds together: never related
    spans = [(word_of[e["start"]], last_word_of[e["end"]]) for e in entities[0]]
    assert any(not any(w.start <= a[0] and b[1] < w.end for w in windows) for a in spans for b in spans if a[0] < b[0])


# -- what is refused, and why ---------------------------------------------------------
def _copy(folder: Path, tmp_path: Path, **changes: Any) -> Path:
    copy = Path(shutil.copytree(folder, tmp_path / "relex"))
    config = copy / "gliner_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **changes}))
    return copy


@pytest.mark.parametrize("layer", list(UNSUPPORTED_RELATION_LAYERS))
def test_unpublished_relation_layers_are_refused_by_name(relex_checkpoint, tmp_path, layer):
    folder = _copy(relex_checkpoint("span-none"), tmp_path, relations_layer=layer)
    with pytest.raises(CheckpointError, match=f"relations_layer='{layer}'.*no published relex checkpoint uses"):
        checkpoint.check_local(folder, relations=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"triples_layer": "TransE"}, "triples_layer='TransE'"),
        ({"relations_layer": "biaffine"}, "unknown relations_layer='biaffine'"),
        ({"span_mode": "marker"}, "span_mode='marker' is not implemented"),
        ({"rel_token_index": 5}, "says <<REL>> has id 5"),
    ],
)
def test_bad_relex_configs_are_refused(relex_checkpoint, tmp_path, change, message):
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(_copy(relex_checkpoint("span-none"), tmp_path, **change), relations=True)


@pytest.mark.parametrize(
    ("name", "layer", "drop", "message"),
    [
        ("span-none", "none", "pair_rep_layer.", "lack the relation head"),
        ("span-gcn", "none", "", "hold the adjacency layer"),
        ("span-none", "gcn", "", "lack the adjacency layer"),
    ],
)
def test_weights_of_another_relex_family_fail_at_the_header(relex_checkpoint, tmp_path, name, layer, drop, message):
    """A relex checkpoint in safetensors: its tensor names are checked against the config
    before any weight is read (the official library writes pytorch_model.bin, read whole)."""
    from safetensors.torch import save_file

    folder = _copy(relex_checkpoint(name), tmp_path, relations_layer=layer)
    state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    save_file(
        {k: v.contiguous() for k, v in state.items() if not (drop and k.startswith(drop))},
        str(folder / "model.safetensors"),
    )
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match=message):
        checkpoint.check_local(folder, relations=True)


def test_a_caller_that_reads_no_relations_refuses_relex_checkpoints(relex_checkpoint, relex_models):
    folder = relex_checkpoint("span-none")
    with pytest.raises(CheckpointError) as refused:
        checkpoint.load(folder)
    assert str(refused.value) == NOT_IN_PIPELINE
    with pytest.raises(ValueError, match="relation_search.RelationSearch"):
        SpanSearch(relex_models("span-none")[0])


def test_a_plain_model_is_no_relex_model(loaded):
    with pytest.raises(ValueError, match="SpanSearch, not RelationSearch"):
        RelationSearch(loaded("markerV0-bert"))


def test_labels_and_relation_types_must_fit_one_prompt(relex_models):
    ours, _ = relex_models("span-none")
    labels = [f"entity label number {i}" for i in range(60)]
    with pytest.raises(ValueError, match="60 entity labels and 5 relation types do not fit in one prompt"):
        predict_relations(ours, ["Alice works for Acme in Paris."], labels, RELATION_TYPES)


def test_pickle_code_in_pytorch_model_bin_never_runs(relex_checkpoint, tmp_path):
    """Relex checkpoints come as pytorch_model.bin: it is read with weights_only=True."""
    folder = _copy(relex_checkpoint("span-none"), tmp_path)
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"pair_rep_layer.0.weight": Payload()}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="damaged or not a weights file"):
        checkpoint.load(folder, relations=True)
    assert not marker.exists()
