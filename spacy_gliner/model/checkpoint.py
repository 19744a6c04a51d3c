"""Reading and writing official GLiNER checkpoint folders.

A folder holds ``gliner_config.json``, ``model.safetensors`` (or ``pytorch_model.bin``)
and, usually, the tokenizer files (``tokenizers``). The component saves itself in exactly
this format, so a saved pipeline is self-contained and its ``gliner/model`` folder loads in
the official library too. Nothing is built before every size in the config is checked
against the weights file's header; files are read as ``files`` allows (bounded, no code).
"""

import json
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Union

from .files import check_code_free, new_file_mode, pretrained, read_json
from .relation_settings import NOT_IN_PIPELINE, RelationSettings
from .settings import CheckpointError, GLiNERSettings, Rule
from .tokenizers import LABELS_TOKENIZER_DIR, add_special_tokens, load_labels_tokenizer, load_tokenizer, save_tokenizer

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PreTrainedTokenizerBase

    from .network import GLiNERNetwork

CONFIG_FILE = "gliner_config.json"
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")
# encoder config fields that multiply the modules built: each such layer holds at least one tensor
LAYER_COUNTS = ("num_hidden_layers", "num_layers", "n_layers", "num_hidden_groups", "inner_group_num")

ENCODER = "token_rep_layer.bert_layer.model."  # official prefix of the text encoder's tensors
LABELS_ENCODER = "token_rep_layer.labels_encoder.model."  # and of a bi-encoder's labels encoder
Shapes = Dict[str, Tuple[int, ...]]

# official state-dict prefix -> ours
_KEY_PREFIXES = (
    (ENCODER, "encoder."),
    (LABELS_ENCODER, "labels_encoder."),
    ("token_rep_layer.labels_projection.", "labels_projection."),
    ("token_rep_layer.projection.", "projection."),
    ("rnn.lstm.", "lstm."),
    ("span_rep_layer.span_rep_layer.", "span_layer."),
    ("prompt_rep_layer.", "prompt_layer."),
)
# tensors that some checkpoints carry or lack without consequence
_OPTIONAL_SUFFIXES = ("position_ids",)
_OPTIONAL_PREFIXES = ("encoder.pooler.",)


@dataclass
class LoadedGLiNER:
    """Everything needed to run a checkpoint: settings, network and tokenizer."""

    settings: GLiNERSettings
    network: "GLiNERNetwork"
    tokenizer: "PreTrainedTokenizerBase"
    labels_tokenizer: Optional["PreTrainedTokenizerBase"] = None  # bi-encoders only

    @property
    def device(self) -> "torch.device":
        """Where the network's weights are (thinc's shim may have moved them)."""
        return next(self.network.parameters()).device


def resolve(source: Union[str, Path], config_file: Optional[str] = CONFIG_FILE) -> Path:
    """A local checkpoint folder for ``source`` (a folder, or a Hugging Face Hub id to download)
    that holds ``config_file`` (GLiNER2 checkpoints: ``config.json``; None: either family's)."""
    path = Path(source).expanduser()
    if path.is_dir():
        from .gliner2.settings import CONFIG_FILE as GLINER2_CONFIG

        wanted = (config_file,) if config_file else (CONFIG_FILE, GLINER2_CONFIG)
        if not any((path / name).exists() for name in wanted):
            raise CheckpointError(
                f"{path} is not a GLiNER checkpoint folder: it has no {' or '.join(wanted)}"
                + ("." if config_file else " (GLiNER: gliner_config.json; GLiNER2: config.json).")
            )
        return path
    if path.exists() or str(source).startswith((".", "/", "~")) or str(source).count("/") != 1:
        raise CheckpointError(
            f"GLiNER checkpoint {str(source)!r} is neither an existing folder nor a Hugging Face Hub id "
            f"('owner/name'). Pass the path of a folder holding {config_file} and the weights."
        )
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id=str(source),
            allow_patterns=["*.json", "*.safetensors", "*.bin", "*.model", "*.txt"],
        )
    except Exception as err:  # the hub raises many types: connection, auth, not found, offline
        raise CheckpointError(
            f"GLiNER checkpoint {str(source)!r} is neither a folder here (there is no folder "
            f"{path.absolute()}) nor a checkpoint the Hugging Face Hub could give ({type(err).__name__}: {err}). "
            "If you meant a folder, check the path. If you meant a Hub id and this machine is offline, download "
            f"it where the Hub is reachable (`hf download {source} --local-dir <folder>`), copy the folder here "
            "and pass it instead "
            'of the id: `nlp.add_pipe("gliner", config={"model": "<folder>"})` in Python, `--model <folder>` '
            "on the command line, `make demo MODEL=<folder>`. Saved pipelines (`nlp.to_disk`) carry their "
            "weights and load offline."
        ) from err
    return resolve(folder, config_file)


def read_settings(folder: Path, relations: bool = False) -> GLiNERSettings:
    """The checked settings of ``folder``'s gliner_config.json (every field by type and range);
    a relation-extraction model only where the caller reads ``relations``."""
    cfg = read_json(folder / CONFIG_FILE)
    settings = GLiNERSettings.from_official(cfg)
    if RelationSettings.from_official(cfg) is not None and not relations:
        raise CheckpointError(NOT_IN_PIPELINE)
    return settings


def check_local(source: Union[str, Path], relations: bool = False) -> None:
    """Cheap checks of a local checkpoint folder, so that a bad one fails when the pipeline is built.

    Reads the config (every field, model family, options), the weights file's header (a
    truncated or foreign file fails here; each tensor's name and shape, no data) and the
    tokenizer files' configs (custom code is refused). Hub ids and paths that do not exist
    here are left to ``load``: a saved pipeline brings its own weights.
    """
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return
    folder = resolve(folder, None)
    if is_gliner2(folder):  # its config (every field) and code-free files; the weights at load
        from .gliner2.settings import CONFIG_FILE as GLINER2_CONFIG
        from .gliner2.settings import ENCODER_DIR, Gliner2Settings

        check_code_free(folder, folder / ENCODER_DIR)
        Gliner2Settings.read(read_json(folder / GLINER2_CONFIG))
        _weights_file(folder)
        return
    _check_files(folder, read_settings(folder, relations))


def is_gliner2(source: Union[str, Path]) -> bool:
    """A local folder holding a GLiNER2 ``config.json`` (not a GLiNER ``gliner_config.json``): the
    family is told by the files, never by the name."""
    from .gliner2.settings import CONFIG_FILE as GLINER2_CONFIG

    path = Path(source).expanduser()
    return path.is_dir() and (path / GLINER2_CONFIG).is_file() and not (path / CONFIG_FILE).exists()


def _check_files(folder: Path, settings: GLiNERSettings) -> Tuple[Path, Shapes]:
    """The weights file and its tensors' shapes, checked against the config (family, layer
    counts), and the tokenizer folders checked for custom code: all that reads no tensor data."""
    path = _weights_file(folder)
    shapes = weight_shapes(path)
    check_family(shapes, settings, str(folder))
    check_counts(shapes, settings, str(folder))
    check_code_free(folder, folder / LABELS_TOKENIZER_DIR)
    return path, shapes


# A tensor (official name prefix) that each part of a family has, and whether it must be there.
_FAMILY_MARKERS = (
    ("scorer.", lambda s: s.token_level, "the token-level scorer"),
    ("span_rep_layer.", lambda s: not s.token_level or s.relex, "the span layer"),
    ("token_rep_layer.labels_encoder.", lambda s: s.bi_encoder, "the labels encoder"),
    ("pair_rep_layer.", lambda s: s.relex, "the relation head"),
    ("relations_rep_layer.", lambda s: s.relex and RelationSettings.of(s).adjacency, "the adjacency layer"),
)


def check_counts(shapes: Shapes, settings: GLiNERSettings, where: str) -> None:
    """The LSTM's layer count must be that of the weights: checked on the header, before anything
    is built (a hostile count would build modules until memory runs out)."""
    layers = sum(1 for key in shapes if re.fullmatch(r"rnn\.lstm\.weight_ih_l\d+", key))
    if settings.num_rnn_layers != layers:
        raise CheckpointError(
            f"num_rnn_layers in gliner_config.json is {settings.num_rnn_layers}, but the weights in {where} hold "
            f"{layers} LSTM layers. The config does not belong to these weights."
        )


def check_family(keys: Any, settings: GLiNERSettings, where: str) -> None:
    """The weights' tensor names must be those of the family the config names (a cheap check
    of the header; ``load_state`` checks every tensor)."""
    for prefix, wanted, part in _FAMILY_MARKERS:
        present = any(k.startswith(prefix) for k in keys)
        if present != wanted(settings):
            raise CheckpointError(
                f"The weights in {where} do not fit the {settings.family} GLiNER model described by its config: "
                f"they {'hold' if present else 'lack'} {part} ({prefix}*). Is the config of another GLiNER family, "
                "or were the files mixed up?"
            )


def load(source: Union[str, Path], relations: bool = False) -> LoadedGLiNER:
    """Load a checkpoint folder or hub id. Every size in the config is checked against the
    weights file's header before anything is built, every tensor when the weights load;
    nothing loads half-way, and no code from the folder runs. Relation-extraction (relex)
    checkpoints load only for a caller that reads ``relations``."""
    folder = resolve(source)
    settings = read_settings(folder, relations)
    if settings.words_splitter_type != "spacy":  # its optional packages are here, or a clear error now
        from .words import word_splitter

        word_splitter(settings.words_splitter_type)
    path, shapes = _check_files(folder, settings)
    rows = _embedding_rows(shapes, ENCODER)
    tokenizer = load_tokenizer(folder, settings, rows)
    encoder_config = _encoder_config(settings.encoder_config, settings.model_name, "encoder_config")
    encoder_config.vocab_size = rows
    labels_tokenizer = labels_config = None
    if settings.bi_encoder:
        labels_config = _encoder_config(
            settings.labels_encoder_config, settings.labels_encoder, "labels_encoder_config"
        )
        labels_config.vocab_size = _embedding_rows(shapes, LABELS_ENCODER)
        labels_tokenizer = load_labels_tokenizer(folder, settings, labels_config.vocab_size)
    network = _build(settings, encoder_config, labels_config, shapes, str(folder))
    load_state(network, to_internal_keys(_read_weights(path)), str(folder), settings.family)
    network.eval()
    settings.encoder_config = encoder_config.to_dict()
    if labels_config is not None:
        settings.labels_encoder_config = labels_config.to_dict()
    return LoadedGLiNER(settings, network, tokenizer, labels_tokenizer)


def from_encoder(encoder: Union[str, Path], settings: GLiNERSettings) -> LoadedGLiNER:
    """A new GLiNER model: a pretrained encoder (folder or hub id) and randomly initialised GLiNER layers.

    The tokenizer gets GLiNER's special tokens and the embedding matrix grows to match;
    ``settings.model_name`` records the encoder.
    """
    from transformers import AutoModel, AutoTokenizer

    local = Path(encoder).expanduser()
    if local.is_dir():
        check_code_free(local)
    source = str(local) if local.is_dir() else str(encoder)
    try:
        tokenizer = pretrained(AutoTokenizer, source, use_fast=True)
        model = pretrained(AutoModel, source)
    except CheckpointError:
        raise
    except Exception as err:  # hub errors, missing files, unknown architectures
        raise CheckpointError(
            f"Cannot load the encoder {source!r} ({type(err).__name__}: {err}). Pass a Hugging Face model id "
            "(downloaded when the pipeline is initialized) or a local folder holding the encoder's config, "
            "weights and tokenizer."
        ) from err
    if not tokenizer.is_fast:
        raise CheckpointError(f"The tokenizer of {source!r} has no fast (Rust) version; spacy-gliner needs one.")
    add_special_tokens(tokenizer, settings)
    model.resize_token_embeddings(len(tokenizer))
    from .network import GLiNERNetwork

    settings = replace(settings, model_name=str(encoder), encoder_config=model.config.to_dict())
    network = GLiNERNetwork(settings, model)
    network.eval()
    return LoadedGLiNER(settings, network, tokenizer)


def save(loaded: LoadedGLiNER, folder: Union[str, Path]) -> Path:
    """Write ``loaded`` as an official checkpoint folder (loadable by ``gliner.GLiNER``)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = loaded.tokenizer
    labels_encoder = loaded.network.labels_encoder
    marker = loaded.settings.ent_token
    settings = replace(  # a copy: the live network and input builder share loaded.settings
        loaded.settings,
        encoder_config=loaded.network.encoder.config.to_dict(),
        labels_encoder_config=labels_encoder.config.to_dict() if labels_encoder is not None else None,
        # -1: a bi-encoder's text tokenizer without GLiNER's tokens, which the official loader adds back
        class_token_index=tokenizer.convert_tokens_to_ids(marker) if marker in tokenizer.get_vocab() else -1,
        vocab_size=len(tokenizer),
    )
    cfg = settings.to_official()
    (folder / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, sort_keys=True, default=str), encoding="utf8")
    state = {k: v.detach().cpu().contiguous().clone() for k, v in loaded.network.state_dict().items()}
    weights = folder / WEIGHTS_FILES[0]
    save_file(to_official_keys(state), str(weights))
    # safetensors writes a private temp file (0600) and renames it: give the weights the
    # mode every other file of the folder gets from the user's umask
    os.chmod(weights, new_file_mode())
    save_tokenizer(loaded.tokenizer, folder)
    if loaded.labels_tokenizer is not None:
        save_tokenizer(loaded.labels_tokenizer, folder / LABELS_TOKENIZER_DIR)
    return folder


def to_internal_keys(state: Dict[str, Any]) -> Dict[str, Any]:
    return {_rename(k, 0, 1): v for k, v in state.items()}


def to_official_keys(state: Dict[str, Any]) -> Dict[str, Any]:
    return {_rename(k, 1, 0): v for k, v in state.items()}


def _rename(key: str, src: int, dst: int) -> str:
    for pair in _KEY_PREFIXES:
        if key.startswith(pair[src]):
            return pair[dst] + key[len(pair[src]) :]
    return key


def check_fit(own: Shapes, given: Shapes, where: str, family: str = "span") -> None:
    """The tensors ``given`` (internal names) must be the network's ``own``, shape for shape, except
    for tensors known to be optional. Problems name the tensors as the official weights file does,
    so users can find them."""
    missing = [_rename(k, 1, 0) for k in own if k not in given and not _optional(k)]
    unexpected = [_rename(k, 1, 0) for k in given if k not in own and not _optional(k)]
    wrong_shape = [
        f"{_rename(k, 1, 0)}: checkpoint {given[k]} vs model {own[k]}" for k in own if k in given and given[k] != own[k]
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors: {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {_some(unexpected)}")
    if wrong_shape:
        problems.append(f"tensors of the wrong shape: {_some(wrong_shape)}")
    if problems:
        raise CheckpointError(
            f"The weights in {where} do not fit the {family} GLiNER model described by its config ("
            + "; ".join(problems)
            + "). Is it another GLiNER family, or were the files mixed up?"
        )


def load_state(network: "torch.nn.Module", state: Dict[str, Any], where: str, family: str = "span") -> None:
    """Load ``state`` strictly (``check_fit``), refusing NaN or infinite weights."""
    own = network.state_dict()
    check_fit({k: tuple(v.shape) for k, v in own.items()}, {k: tuple(v.shape) for k, v in state.items()}, where, family)
    non_finite = [
        _rename(k, 1, 0)
        for k in own
        if k in state and state[k].is_floating_point() and not bool(state[k].isfinite().all())
    ]
    if non_finite:
        raise CheckpointError(
            f"The weights in {where} hold NaN or infinite values (in {_some(non_finite)}): the model would find "
            "nothing. The file is damaged, or training diverged; use another checkpoint."
        )
    network.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def _build(
    settings: GLiNERSettings, encoder_config: Any, labels_config: Any, shapes: Shapes, where: str
) -> "GLiNERNetwork":
    """The network, built once every size in the configs is known to fit the weights file.

    Layer counts are checked against the header first (each layer holds a tensor); then the
    network (a relex network with its relation head) is built on torch's meta device (shapes,
    no memory) and compared with the header tensor by tensor, and the buffers that no weight
    checks (position ids) may hold at most as many elements as the weights file: a hostile
    config fails here, before any allocation.
    """
    import torch

    if settings.relex:  # the relation head's class (relation_settings checked its layer)
        from .relations import GLiNERRelexNetwork as network_class
    else:
        from .network import GLiNERNetwork as network_class

    _check_layer_counts(encoder_config, shapes, ENCODER, "encoder_config", where)
    if labels_config is not None:
        _check_layer_counts(labels_config, shapes, LABELS_ENCODER, "labels_encoder_config", where)
    try:
        with torch.device("meta"):
            skeleton = network_class.from_encoder_config(settings, encoder_config, labels_config)
    except Exception as err:  # torch and transformers refuse impossible sizes with many error types
        raise CheckpointError(
            f"gliner_config.json in {where} describes a network that cannot be built ({type(err).__name__}: {err})."
        ) from err
    own = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    given = to_internal_keys(shapes)
    check_fit(own, given, where, settings.family)
    unchecked = {k: t.numel() for k, t in skeleton.named_buffers() if k not in given}
    weights = sum(math.prod(shape) for shape in shapes.values())
    if sum(unchecked.values()) > weights:
        largest = max(unchecked, key=unchecked.__getitem__)
        raise CheckpointError(
            f"gliner_config.json in {where} describes buffers of {sum(unchecked.values()):,} elements that no weight "
            f"checks (the largest: {_rename(largest, 1, 0)}, {unchecked[largest]:,}), more than the {weights:,} of the "
            "weights file. Its sizes (e.g. max_position_embeddings) do not belong to these weights."
        )
    return network_class.from_encoder_config(settings, encoder_config, labels_config)


def _check_layer_counts(config: Any, shapes: Shapes, prefix: str, field: str, where: str) -> None:
    tensors = sum(1 for key in shapes if key.startswith(prefix))
    for name in LAYER_COUNTS:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > tensors:
            raise CheckpointError(
                f"{field}.{name} in gliner_config.json is {value:,}: more layers than the weights in {where} could hold"
                f" ({tensors} tensors of that encoder). The config does not belong to these weights."
            )


def _optional(key: str) -> bool:
    return key.endswith(_OPTIONAL_SUFFIXES) or key.startswith(_OPTIONAL_PREFIXES)


def _some(items: list) -> str:
    shown = ", ".join(items[:5])
    return shown + (f" and {len(items) - 5} more" if len(items) > 5 else "")


def _weights_file(folder: Path) -> Path:
    for name in WEIGHTS_FILES:
        if (folder / name).exists():
            return folder / name
    raise CheckpointError(f"{folder} holds no weights: expected one of {', '.join(WEIGHTS_FILES)}.")


def _damaged(path: Path, err: Exception) -> CheckpointError:
    return CheckpointError(f"Cannot read the weights file {path}: it is damaged or not a weights file ({err}).")


def weight_shapes(path: Path) -> Shapes:
    """Each tensor's shape, from the weights file's header: no tensor data is read (a
    ``pytorch_model.bin`` is memory-mapped, and only its small pickle is unpickled)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as weights:
                return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}
        return {key: tuple(tensor.shape) for key, tensor in _read_weights(path).items()}
    except CheckpointError:
        raise
    except Exception as err:  # safetensors and torch raise their own error types for every defect
        raise _damaged(path, err) from err


def _read_weights(path: Path) -> Dict[str, "torch.Tensor"]:
    """The tensors; a ``.bin`` memory-mapped (a zip written by ``torch.save``), unpickled with
    ``weights_only`` (no code runs), so its data are read only where used."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        import torch

        state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # corrupt or truncated files raise format-specific errors
        raise _damaged(path, err) from err
    if not isinstance(state, dict) or not all(isinstance(k, str) and hasattr(v, "shape") for k, v in state.items()):
        raise _damaged(path, TypeError("it holds no mapping of tensor names to tensors"))
    return state


def _encoder_config(stored: Optional[Dict[str, Any]], name: str, field: str) -> Any:
    """The transformers config of an encoder: ``stored`` (the ``field`` of gliner_config.json),
    or, where the checkpoint stores none, the config of the Hub model ``name``."""
    from transformers import AutoConfig

    if stored:
        cfg = dict(stored)
        model_type = cfg.pop("model_type", None)
        if not model_type or not isinstance(model_type, str):
            raise CheckpointError(f"{field} in gliner_config.json has no model_type.")
        if "auto_map" in cfg:
            raise CheckpointError(
                f"{field} in gliner_config.json names custom code (auto_map: {cfg['auto_map']!r}); spacy-gliner never "
                "runs code from a checkpoint."
            )
        try:
            defaults = AutoConfig.for_model(model_type)
        except Exception as err:
            raise CheckpointError(f"{field} describes an encoder transformers cannot build: {err}") from err
        _check_encoder_fields(cfg, defaults, field)
        try:
            return AutoConfig.for_model(model_type, **cfg)
        except Exception as err:
            raise CheckpointError(f"{field} describes an encoder transformers cannot build: {err}") from err
    try:
        return pretrained(AutoConfig, str(name))
    except CheckpointError:
        raise
    except Exception as err:
        raise CheckpointError(
            f"gliner_config.json has no {field}, so the config of the encoder {name!r} is needed from the "
            f"Hugging Face Hub ({type(err).__name__}: {err}). Offline, add {field} to gliner_config.json."
        ) from err


def _check_encoder_fields(cfg: Dict[str, Any], defaults: Any, field: str) -> None:
    """Each value of an encoder config whose default is a number, flag or text must be one too
    (null allowed, as transformers configs use it), whatever transformers version checks."""
    for key, value in cfg.items():
        kind = type(getattr(defaults, key, None))
        if kind is int and _is_rate(key):  # transformers 4 defaults some rates to 0 (DeBERTa's pooler_dropout)
            kind = float
        rule = Rule(kind, optional=True)
        if kind in (int, float, bool, str) and not rule.allows(value):
            raise CheckpointError(
                f"{field}.{key} in gliner_config.json must be {rule.describe()}, got {value!r}"
                f" ({type(value).__name__})."
            )


def _is_rate(key: str) -> bool:
    """A setting that is a probability or a small constant, whatever type its default has."""
    return "dropout" in key or key.endswith(("_prob", "_eps", "_rate"))


def _embedding_rows(shapes: Shapes, prefix: str) -> int:
    """Rows of the word-embedding matrix of the encoder whose official keys start with ``prefix``."""
    keys = [k for k in shapes if k.startswith(prefix) and k.endswith("embeddings.word_embeddings.weight")]
    if len(keys) != 1 or len(shapes[keys[0]]) != 2:
        raise CheckpointError(
            f"The weights hold no single word-embedding matrix ({prefix}…embeddings.word_embeddings.weight)."
        )
    return int(shapes[keys[0]][0])
