"""Loading GLiNER2 checkpoints, good and hostile: every config field checked by type and
range, sizes checked against the weights header before anything is built, every tensor
checked, no code of a checkpoint ever run, a clear CheckpointError naming the problem."""

import io
import json
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import torch
from helpers.data import REF_MINILM
from helpers.gliner2_checkpoints import write_encoder, write_gliner2_checkpoint

from spacy_gliner.model.gliner2 import checkpoint
from spacy_gliner.model.gliner2.decoding import as_gliner2
from spacy_gliner.model.gliner2.extract import Extractor
from spacy_gliner.model.gliner2.schema import Schema
from spacy_gliner.model.settings import CheckpointError

TEXTS = ["Tim Cook is the CEO of Apple , based in Cupertino .", "Angela Merkel met Emmanuel Macron in Paris"]
SCHEMA = Schema.build(["person", "organization", "location"], {"sentiment": ["positive", "negative"]}, ["works for"])


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    encoder = write_encoder(tmp_path_factory.mktemp("encoder"))
    return {
        "span": write_gliner2_checkpoint(tmp_path_factory.mktemp("span") / "model", encoder),
        "boundary": write_gliner2_checkpoint(
            tmp_path_factory.mktemp("boundary") / "model", encoder, "boundary", boundary_head={"enable_relations": True}
        ),
    }


@pytest.fixture
def copy(folders: Dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """A fresh copy of a checkpoint folder, to damage."""
    return lambda name: Path(shutil.copytree(folders[name], tmp_path / name))


def edit_json(path: Path, change: Callable[[Dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf8")


def results(loaded: Any) -> list:
    return [as_gliner2(e, SCHEMA) for e in Extractor(loaded)(TEXTS, SCHEMA, threshold=0.3)]


def test_folders_are_told_apart(folders: Dict[str, Path]) -> None:
    assert checkpoint.is_gliner2(folders["span"]) and checkpoint.is_gliner2(folders["boundary"])
    assert not checkpoint.is_gliner2(REF_MINILM)  # a GLiNER checkpoint
    with pytest.raises(CheckpointError, match="no config.json"):
        checkpoint.load(REF_MINILM.parent)


@pytest.mark.parametrize(
    "name, field, value, message",
    [
        ("span", "max_width", "12", "max_width in config.json must be an integer"),
        ("span", "max_width", 12.0, "max_width in config.json must be an integer"),
        (
            "span",
            "span_head",
            {"max_width": 1_000_000},
            "span_head.max_width in config.json must be an integer with 1 <= value <= 128",
        ),
        ("span", "span_head", {"max_width": True}, "span_head.max_width in config.json must be an integer"),
        (
            "span",
            "span_head",
            {"span_mode": "markerV1"},
            "span_head.span_mode in config.json must be one of 'markerV0'",
        ),
        ("span", "span_head", ["markerV0"], "span_head in config.json must be a JSON object"),
        ("span", "counting_layer", "count_gru", "counting_layer in config.json must be one of"),
        ("span", "token_pooling", "mean", "token_pooling='mean' in config.json is refused"),
        ("span", "architecture", ["span"], "architecture in config.json must be a non-empty string"),
        ("span", "architecture", "token", "architecture in config.json must be one of 'span', 'boundary'"),
        ("span", "model_type", "bert", "model_type 'bert'"),
        ("span", "max_len", -3, "max_len in config.json must be an integer with 1 <="),
        ("span", "attn_implementation", 5, "attn_implementation in config.json must be a non-empty string"),
        (
            "boundary",
            "boundary_head",
            {"pool_size": 10**9},
            "boundary_head.pool_size in config.json must be an integer with 1 <= value <= 65536",
        ),
        (
            "boundary",
            "boundary_head",
            {"start_top_k": 0},
            "boundary_head.start_top_k in config.json must be an integer with 1 <=",
        ),
        (
            "boundary",
            "boundary_head",
            {"abstention_threshold": float("nan")},
            "abstention_threshold in config.json must be a finite number",
        ),
        (
            "boundary",
            "boundary_head",
            {"abstention_threshold": 1.5},
            "abstention_threshold in config.json must be a finite number with 0.0 <= value <= 1.0",
        ),
        (
            "boundary",
            "boundary_head",
            {"dropout": 1.0},
            "boundary_head.dropout in config.json must be a finite number with 0.0 <= value < 1.0",
        ),
        (
            "boundary",
            "boundary_head",
            {"pair_temperature": 0},
            "pair_temperature in config.json must be a finite number >= 1e-12",
        ),
        ("boundary", "boundary_head", {"enable_relations": 1}, "enable_relations in config.json must be true or false"),
        ("boundary", "boundary_head", {"candidate_pool": "global"}, "candidate_pool in config.json must be one of"),
        (
            "boundary",
            "boundary_head",
            {"boundary_refinement_layers": 100_000},
            "boundary_refinement_layers in config.json must be an integer with 0 <= value <= 64",
        ),
        ("boundary", "boundary_head", {"sparkle": True}, "options this version does not know \\(sparkle\\)"),
        ("boundary", "boundary_head", {"pair_dim": 100}, "divisible by multihead_pair_compat_heads"),
        ("boundary", "boundary_head", {"end_top_k": 200}, "boundary_top_k_max must be at least"),
        ("boundary", "boundary_head", "big", "boundary_head in config.json must be a JSON object"),
    ],
)
def test_config_fields_are_checked(copy: Callable, name: str, field: str, value: Any, message: str) -> None:
    folder = copy(name)

    def change(cfg: Dict[str, Any]) -> None:
        if isinstance(value, dict) and isinstance(cfg.get(field), dict):
            cfg[field].update(value)
        else:
            cfg[field] = value

    edit_json(folder / "config.json", change)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(folder)


def test_old_boundary_configs_build_no_relation_head(copy: Callable) -> None:
    """Configs before version 3 did not build the relation and record heads (gliner2's
    migration): such a config with weights that hold them does not fit, and says so."""
    folder = copy("boundary")

    def change(cfg: Dict[str, Any]) -> None:
        cfg["config_version"] = 2
        for key in ("enable_relations", "enable_records"):
            cfg["boundary_head"].pop(key)

    edit_json(folder / "config.json", change)
    with pytest.raises(CheckpointError, match="unexpected tensors: boundary_head.candidate_encoder.bias"):
        checkpoint.load(folder)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_hidden_layers", 100_000, "num_hidden_layers=100000 but the weights .* hold 2 encoder layers"),
        (
            "intermediate_size",
            100_000_000,
            "tensors of the wrong shape: encoder.encoder.layer.0.intermediate.dense.weight",
        ),
        ("max_position_embeddings", 10**9, "wrong shape: encoder.embeddings.position_embeddings.weight"),
        ("hidden_size", 4096, "wrong shape"),
        ("num_attention_heads", 5, "cannot build"),
        ("model_type", "no-such-model", "cannot build"),
    ],
)
def test_encoder_sizes_are_checked_against_the_weights_before_building(
    copy: Callable, field: str, value: Any, message: str
) -> None:
    """Sizes that would allocate gigabytes fail on the header, before any real tensor exists."""
    folder = copy("span")
    edit_json(folder / "encoder_config" / "config.json", lambda cfg: cfg.update({field: value}))
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(folder)


def rewrite_weights(folder: Path, change: Callable[[Dict[str, torch.Tensor]], None]) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    change(state)
    save_file(state, str(folder / "model.safetensors"))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("count_pred.2.bias"), "missing tensors: count_pred.2.bias"),
        (lambda s: s.update({"span_rep.extra.weight": torch.zeros(2)}), "unexpected tensors: span_rep.extra.weight"),
        (
            lambda s: s.update({"classifier.0.weight": torch.zeros(3, 3)}),
            "wrong shape: classifier.0.weight: checkpoint \\(3, 3\\)",
        ),
        (
            lambda s: s["count_embed.gru.weight_hh_l0"].view(-1).__setitem__(0, float("nan")),
            "NaN or infinite values \\(count_embed.gru.weight_hh_l0\\)",
        ),
        (
            lambda s: s.update({"classifier.0.bias": torch.zeros(64, dtype=torch.int64)}),
            "not floating point, .* \\(classifier.0.bias\\)",
        ),
    ],
)
def test_every_tensor_is_checked(copy: Callable, change: Callable, message: str) -> None:
    folder = copy("span")
    rewrite_weights(folder, change)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(folder)


def test_record_head_weights_are_checked_though_not_run(copy: Callable) -> None:
    folder = copy("boundary")
    rewrite_weights(folder, lambda s: s.update({"record_decoder.null_embed": torch.zeros(7)}))
    with pytest.raises(CheckpointError, match="record_decoder.null_embed: checkpoint \\(7,\\)"):
        checkpoint.load(folder)


def test_damaged_and_foreign_files(copy: Callable) -> None:
    folder = copy("span")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged"):
        checkpoint.load(folder)
    (folder / "config.json").write_text("{not json", encoding="utf8")
    with pytest.raises(CheckpointError, match="Cannot read .*config.json"):
        checkpoint.load(folder)
    (folder / "config.json").write_text(json.dumps([1, 2]), encoding="utf8")
    with pytest.raises(CheckpointError, match="must hold a JSON object"):
        checkpoint.load(folder)
    (folder / "config.json").write_text(" " * (17 << 20), encoding="utf8")
    with pytest.raises(CheckpointError, match="larger than"):
        checkpoint.load(folder)


def test_tokenizer_must_fit_the_weights(copy: Callable) -> None:
    from transformers import AutoTokenizer

    folder = copy("span")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.add_tokens([f"extra{i}" for i in range(50)])
    tokenizer.save_pretrained(str(folder))
    with pytest.raises(CheckpointError, match="embeddings only .* rows"):
        checkpoint.load(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="holds no tokenizer files"):
        checkpoint.load(folder)


@pytest.mark.parametrize("config", ["tokenizer_config.json", "encoder_config/config.json", "config.json"])
def test_no_code_of_a_checkpoint_runs(
    copy: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str
) -> None:
    """A config that names custom code (auto_map) is refused by name, as for GLiNER
    checkpoints, and its code never runs: transformers never asks on stdin whether to run
    it (stdin answers "yes"). Nor does code hidden in a pickle."""
    marker = tmp_path / "ran"
    folder = copy("span")
    (folder / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nfrom transformers import BertTokenizerFast as EvilTokenizer\n"
    )
    (folder / "encoder_config" / "evil.py").write_text((folder / "evil.py").read_text())
    edit_json(
        folder / config,
        lambda cfg: cfg.update(
            auto_map={"AutoTokenizer": [None, "evil.EvilTokenizer"], "AutoConfig": "evil.EvilTokenizer"}
        ),
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n" * 10))
    with pytest.raises(CheckpointError, match=f"{config.split('/')[-1]} names custom code"):
        checkpoint.load(folder)
    assert not marker.exists()

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = copy("boundary")
    (bad / "model.safetensors").unlink()
    (bad / "pytorch_model.bin").write_bytes(pickle.dumps({"classifier.0.weight": Evil()}))
    with pytest.raises(CheckpointError, match="damaged"):
        checkpoint.load(bad)
    assert not marker.exists()


def test_pytorch_bin_weights_load_like_safetensors(folders: Dict[str, Path], copy: Callable) -> None:
    from safetensors.torch import load_file

    folder = copy("boundary")
    torch.save(load_file(str(folder / "model.safetensors")), str(folder / "pytorch_model.bin"))
    (folder / "model.safetensors").unlink()
    assert results(checkpoint.load(folder)) == results(checkpoint.load(folders["boundary"]))


def test_hub_id_offline_gives_a_clear_error(offline: None) -> None:
    with pytest.raises(
        CheckpointError,
        match=(
            "GLiNER checkpoint 'fastino/gliner2-base-v1' is neither a folder here .* nor a checkpoint the Hugging Face"
            " Hub could give"
        ),
    ):
        checkpoint.load("fastino/gliner2-base-v1")


def test_max_len_of_the_config_does_not_cut_texts(folders: Dict[str, Path], copy: Callable) -> None:
    """``max_len`` is a training setting that gliner2's inference ignores: so do we."""
    folder = copy("span")
    edit_json(folder / "config.json", lambda cfg: cfg.update(max_len=3))
    assert results(checkpoint.load(folder)) == results(checkpoint.load(folders["span"]))


def test_closed_ranges_are_gliner2s(copy: Callable, folders: Dict[str, Path]) -> None:
    """gliner2 allows a threshold of exactly 1 (``0 <= x <= 1``): so do we."""
    folder = copy("boundary")
    edit_json(
        folder / "config.json",
        lambda cfg: cfg["boundary_head"].update(abstention_threshold=1.0, relation_argument_proposal_threshold=1.0),
    )
    assert checkpoint.load(folder).settings.boundary_head["abstention_threshold"] == 1.0
