"""The tiny official GLiNER checkpoints of ``helpers.official_checkpoints`` are usable fixtures.

Each checkpoint is written by the official ``gliner`` library with all network
connections refused, reloaded offline with ``GLiNER.from_pretrained`` and run on
real CrossNER_AI sentences; the scores must be spread out enough to exercise
entity decoding.
"""

from __future__ import annotations

import json

import pytest
from gliner import GLiNER
from helpers.data import BENCHMARKS  # noqa: E402
from helpers.official_checkpoints import ENCODER_WIDTH, write_official_checkpoint
from safetensors import safe_open

CROSSNER_AI = BENCHMARKS / "CrossNER_AI"

VARIANTS = [
    ("markerV0", "bert", None),
    ("marker", "bert", None),
    ("markerV0", "deberta", None),
    ("marker", "deberta", None),
    ("marker", "bert", 48),
    ("markerV0", "deberta", 64),
]


@pytest.fixture(scope="module")
def crossner():
    sentences = [item["sentence"] for item in json.loads((CROSSNER_AI / "test.json").read_text())[:3]]
    labels = json.loads((CROSSNER_AI / "labels.json").read_text())
    return sentences, labels


@pytest.mark.parametrize(("span_mode", "encoder", "hidden_size"), VARIANTS)
def test_checkpoint_reloads_and_predicts(tmp_path, offline, crossner, span_mode, encoder, hidden_size):
    path = write_official_checkpoint(tmp_path / "ckpt", span_mode=span_mode, encoder=encoder, hidden_size=hidden_size)
    assert path == tmp_path / "ckpt"
    assert {
        "gliner_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    } <= {p.name for p in path.iterdir()}

    config = json.loads((path / "gliner_config.json").read_text())
    expected_hidden = ENCODER_WIDTH if hidden_size is None else hidden_size
    assert config["span_mode"] == span_mode
    assert config["hidden_size"] == expected_hidden
    assert config["encoder_config"]["model_type"] == {"bert": "bert", "deberta": "deberta-v2"}[encoder]
    assert config["encoder_config"]["hidden_size"] == ENCODER_WIDTH
    assert config["vocab_size"] == config["encoder_config"]["vocab_size"]

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert ("token_rep_layer.projection.weight" in keys) == (expected_hidden != ENCODER_WIDTH)
        embeddings = next(k for k in keys if k.endswith("word_embeddings.weight"))
        assert f.get_slice(embeddings).get_shape() == [
            config["vocab_size"],
            ENCODER_WIDTH,
        ]

    model = GLiNER.from_pretrained(str(path), local_files_only=True)
    tokenizer = model.data_processor.transformer_tokenizer
    assert len(tokenizer) == config["vocab_size"]
    assert tokenizer.convert_tokens_to_ids("<<ENT>>") == config["class_token_index"] == len(tokenizer) - 2
    assert model.config.span_mode == span_mode

    sentences, labels = crossner
    predictions = [model.predict_entities(text, labels, threshold=0.5) for text in sentences]
    assert any(predictions), "no entities at threshold 0.5"
    scores = [entity["score"] for entities in predictions for entity in entities]
    assert len(set(scores)) > 1, "all scores identical"
    assert all(0.5 <= score <= 1.0 for score in scores)

    # Batched inference finds the same entities (scores differ by float noise
    # from padding, ~1e-6); thresholds change the output.
    batched = model.inference(sentences, labels, threshold=0.5)
    assert [[(e["start"], e["end"], e["label"]) for e in ents] for ents in batched] == [
        [(e["start"], e["end"], e["label"]) for e in ents] for ents in predictions
    ]
    assert [e["score"] for ents in batched for e in ents] == pytest.approx(scores, abs=1e-4)
    low = model.inference(sentences, labels, threshold=0.3)
    high = model.inference(sentences, labels, threshold=0.7)
    assert any(high), "no entities at threshold 0.7"
    assert low != high, "thresholds 0.3 and 0.7 decode the same entities"
    assert min(e["score"] for ents in low for e in ents) < 0.7


def test_checkpoint_is_deterministic(tmp_path, offline):
    first = write_official_checkpoint(tmp_path / "a", encoder="deberta", seed=7)
    second = write_official_checkpoint(tmp_path / "b", encoder="deberta", seed=7)
    other = write_official_checkpoint(tmp_path / "c", encoder="deberta", seed=8)
    for name in (
        "gliner_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "model.safetensors").read_bytes() != (other / "model.safetensors").read_bytes()
