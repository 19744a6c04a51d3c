"""The other GLiNER families: token-level models (official ``UniEncoderTokenModel``) and
bi-encoders (``BiEncoderSpanModel``, ``BiEncoderTokenModel``), on tiny random checkpoints
written by the official library; and what is refused, by name.

Proof for each family: the same entities (label, character start, end) as the official
library on benchmark sentences in flat, nested and multi-label modes, scores within 1e-4;
a save/load round trip; the saved folder loads in the official library and predicts the same.
"""

import json
import re
import shutil
from pathlib import Path
from typing import List

import numpy as np
import pytest
import spacy
from helpers.data import benchmark
from helpers.parity import Comparison, compare, official_inference
from helpers.pipelines import gliner_pipeline
from safetensors.torch import load_file, save_file

from spacy_gliner.architectures import build_gliner_encoder_model, get_loaded
from spacy_gliner.model import checkpoint, tokenizers
from spacy_gliner.model.decoding import token_candidates
from spacy_gliner.model.search import predict_entities
from spacy_gliner.model.settings import UNSUPPORTED_SPAN_MODES, CheckpointError

FAMILIES = ("token-bert-w3", "token-deberta-h48", "bi-markerV0-bert-h48", "bi-token-deberta")
MODES = {"flat": (True, False), "nested": (False, False), "multi_label": (False, True)}
DATASETS = (("CrossNER_AI", 20), ("conll2003", 20))


def _texts():
    return [benchmark(name, n) for name, n in DATASETS]


@pytest.mark.parity
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FAMILIES)
def test_same_entities_as_the_official_library(name, mode, loaded, official):
    flat, multi = MODES[mode]
    comparison = Comparison()
    for texts, labels in _texts():
        theirs = official_inference(official(name), texts, labels, threshold=0.5, flat_ner=flat, multi_label=multi)
        ours = predict_entities(loaded(name), texts, labels, threshold=0.5, flat_ner=flat, multi_label=multi)
        compare(theirs, ours, 0.5, comparison)
    assert comparison.entities > 50  # the fixtures' scores spread: many entities to compare
    comparison.check()


@pytest.mark.parity
def test_token_level_entities_are_not_capped_by_max_width(loaded, official):
    """The token-level checkpoint has max_width 3; its entities (official and ours) run longer."""
    texts, labels = benchmark("CrossNER_AI", 20)
    theirs = official_inference(official("token-bert-w3"), texts, labels, threshold=0.5)
    ours = predict_entities(loaded("token-bert-w3"), texts, labels, threshold=0.5)
    compare(theirs, ours, 0.5, Comparison()).check()
    assert any(len(e["text"].split()) > 3 for ents in ours for e in ents)


def test_token_level_spans_follow_the_official_rule():
    """Start and end above the threshold, every word inside at least the threshold, score the minimum."""
    probs = np.zeros((6, 2, 3), np.float32)
    probs[1, 0] = (0.9, 0.2, 0.8)  # starts an entity of label 0
    probs[2, 0] = (0.1, 0.6, 0.5)  # inside exactly at the threshold: allowed; ends one
    probs[3, 0] = (0.1, 0.7, 0.4)  # inside below: the run stops, no span reaches this end
    probs[4, 1] = (0.8, 0.9, 0.9)  # a one-word entity of label 1
    cands = token_candidates(probs, 0.5)
    assert list(zip(cands.starts, cands.ends, cands.labels)) == [(1, 2, 0), (4, 4, 1)]
    assert cands.scores.tolist() == pytest.approx([0.5, 0.8])


@pytest.mark.slow
def test_token_level_scores_cover_a_long_text(loaded):
    """Past max_len words the official library drops the text; here every word is scored by
    the window that owns it, so entities are found to the end."""
    tiny = loaded("token-bert-w3")
    texts, labels = benchmark("CrossNER_AI", 20)
    text = " ".join(texts + texts)
    words = text.split()
    assert len(words) > 2 * tiny.settings.max_len  # several windows
    tail = len(" ".join(words[: 2 * tiny.settings.max_len]))
    found = predict_entities(tiny, [text], labels)[0]
    assert any(e["start"] > tail for e in found)


@pytest.mark.parity
@pytest.mark.parametrize("name", FAMILIES)
def test_round_trip_and_export_to_the_official_library(name, loaded, tmp_path, offline):
    from helpers.parity import load_official

    texts, labels = benchmark("conll2003", 12)
    before = predict_entities(loaded(name), texts, labels)
    folder = checkpoint.save(loaded(name), tmp_path / "saved")
    again = checkpoint.load(folder)
    assert predict_entities(again, texts, labels) == before
    theirs = official_inference(load_official(folder), texts, labels, threshold=0.5)
    compare(theirs, before, 0.5, Comparison()).check()


def test_bi_encoder_saves_its_labels_tokenizer(loaded, tmp_path):
    folder = checkpoint.save(loaded("bi-markerV0-bert-h48"), tmp_path / "saved")
    assert (folder / tokenizers.LABELS_TOKENIZER_DIR / "tokenizer_config.json").is_file()
    cfg = json.loads((folder / checkpoint.CONFIG_FILE).read_text())
    assert cfg["labels_encoder"] and cfg["labels_encoder_config"]["model_type"] == "bert"


# -- every tensor is checked -------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("token-bert-w3", "scorer.out_mlp.3.weight"),
        ("bi-markerV0-bert-h48", "token_rep_layer.labels_projection.weight"),
        ("bi-markerV0-bert-h48", "token_rep_layer.labels_encoder.model.encoder.layer.0.output.dense.weight"),
    ],
)
def test_a_missing_tensor_is_named(name, key, tiny_checkpoint, tmp_path):
    folder = Path(shutil.copytree(tiny_checkpoint(name), tmp_path / "ckpt"))
    state = load_file(str(folder / "model.safetensors"))
    del state[key]
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"missing tensors: {key}"):
        checkpoint.load(folder)


def test_weights_of_another_family_are_refused_at_add_pipe(tiny_checkpoint, tmp_path):
    folder = Path(shutil.copytree(tiny_checkpoint("token-bert-w3"), tmp_path / "ckpt"))
    path = folder / checkpoint.CONFIG_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "span_mode": "markerV0"}))
    with pytest.raises(
        CheckpointError, match=r"do not fit the uni-encoder span GLiNER model.*hold the token-level scorer"
    ):
        spacy.blank("en").add_pipe("gliner", config={"model": str(folder), "labels": ["person"]})


# -- refused by name ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", sorted(UNSUPPORTED_SPAN_MODES))
def test_unimplemented_span_modes_are_refused_by_name(mode, tiny_checkpoint, tmp_path):
    folder = Path(shutil.copytree(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt"))
    path = folder / checkpoint.CONFIG_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "span_mode": mode}))
    with pytest.raises(
        CheckpointError, match=f"span_mode='{mode}' GLiNER model, which spacy-gliner does not implement: "
    ):
        checkpoint.check_local(folder)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("post_fusion_schema", "l2l-l2t-t2t"),
        ("fuse_layers", True),
        ("represent_spans", True),
        ("span_encoder_config", {"model_type": "rnn"}),
    ],
)
def test_unimplemented_options_are_refused_by_name(option, value, tiny_checkpoint, tmp_path):
    folder = Path(shutil.copytree(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt"))
    path = folder / checkpoint.CONFIG_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), option: value}))
    with pytest.raises(CheckpointError, match=f"sets {option}="):
        checkpoint.check_local(folder)


def test_token_level_models_cannot_be_built_for_training():
    with pytest.raises(ValueError, match="token-level models load from checkpoints but cannot be trained"):
        build_gliner_encoder_model(encoder="x", span_mode="token_level")


@pytest.mark.parametrize("name", ["token-bert-w3", "bi-markerV0-bert-h48"])
def test_update_says_the_family_cannot_be_trained(name, tiny_checkpoint):
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint(name)), "labels": ["person"]})
    nlp.initialize()
    doc = nlp.make_doc("Ada Lovelace wrote programs .")
    example = Example.from_dict(doc, {"entities": [(0, 12, "person")]})
    family = "uni-encoder token-level" if name.startswith("token") else "bi-encoder span"
    with pytest.raises(NotImplementedError, match=f"Training a {family} GLiNER model is not supported yet"):
        nlp.update([example])


# -- the component's label cache (bi-encoders) -------------------------------------------
def _initialized(folder: Path, labels: List[str]) -> spacy.Language:
    """A nested pipeline on ``folder``, initialized (the label cache starts empty)."""
    nlp = gliner_pipeline(folder, labels, nested=True)
    nlp.initialize()
    return nlp


def _spans(doc) -> list:
    return [
        (s.start, s.end, s.label_, round(float(x), 5)) for s, x in zip(doc.spans["sc"], doc.spans["sc"].attrs["scores"])
    ]


def test_bi_encoder_encodes_each_label_once_and_never_reuses_stale_vectors(tiny_checkpoint):
    folder = tiny_checkpoint("bi-markerV0-bert-h48")
    texts, labels = benchmark("CrossNER_AI", 6)
    first, second = labels[:5], labels[5:] + ["planet"]
    nlp = _initialized(folder, first)
    pipe = nlp.get_pipe("gliner")
    network = get_loaded(pipe.model).network
    encoded: List[int] = []
    original = network.encode_labels

    def counting(input_ids, attention_mask):
        encoded.append(int(input_ids.shape[0]))
        return original(input_ids, attention_mask)

    network.encode_labels = counting
    docs = list(nlp.pipe(texts))
    assert sum(encoded) == len(first)  # one labels-encoder pass for every doc
    list(nlp.pipe(texts))
    assert sum(encoded) == len(first)  # cached
    # labels per call and per doc: new labels are encoded once, results match a fresh pipeline's
    per_call = [pipe(nlp.make_doc(t), labels=second) for t in texts]
    assert sum(encoded) == len(first) + len(second)
    mixed = nlp.make_doc(texts[0])
    mixed.user_data["gliner_labels"] = [second[0], first[0]]
    pipe(mixed)
    assert sum(encoded) == len(first) + len(second)  # both labels known
    fresh_second = _initialized(folder, second)
    assert [_spans(d) for d in per_call] == [_spans(fresh_second(t)) for t in texts]
    assert _spans(mixed) == _spans(_initialized(folder, [second[0], first[0]])(texts[0]))
    # changing the configured labels changes the results, with no stale vectors
    assert [_spans(d) for d in docs] == [_spans(d) for d in _initialized(folder, first).pipe(texts)]
    assert [_spans(d) for d in docs] != [_spans(d) for d in per_call]


def test_bi_encoder_refuses_a_label_its_labels_tokenizer_cannot_read(tiny_checkpoint):
    nlp = _initialized(tiny_checkpoint("bi-markerV0-bert-h48"), ["person"])
    with pytest.raises(ValueError, match=re.escape(repr("\ufffd")) + ".*no sub-token"):
        nlp("Marie Curie worked in Paris.", component_cfg={"gliner": {"labels": ["person", "\ufffd"]}})


def test_bi_encoder_cache_starts_afresh_when_the_model_is_reloaded(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint("bi-markerV0-bert-h48")
    texts, labels = benchmark("CrossNER_AI", 3)
    nlp = _initialized(folder, labels[:4])
    before = [_spans(nlp(t)) for t in texts]
    pipe = nlp.get_pipe("gliner")
    # another model in the same component: new weights, so no vector may be reused
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    state = load_file(str(other / "model.safetensors"))
    key = "token_rep_layer.labels_projection.bias"
    state[key] = state[key] + 1.0
    save_file(state, str(other / "model.safetensors"))
    pipe.from_disk(_saved_component(nlp, other, tmp_path))
    after = [_spans(nlp(t)) for t in texts]
    assert after != before
    assert after == [_spans(_initialized(other, labels[:4])(t)) for t in texts]


def _saved_component(nlp, model_folder: Path, tmp_path: Path) -> Path:
    """A component folder (as ``to_disk`` writes it) holding ``model_folder`` as its model."""
    target = tmp_path / "component"
    nlp.get_pipe("gliner").to_disk(target)
    shutil.rmtree(target / "model")
    shutil.copytree(model_folder, target / "model")
    return target
