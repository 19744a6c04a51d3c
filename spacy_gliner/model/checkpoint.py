"""Reading and writing official GLiNER checkpoint folders.

A folder holds ``gliner_config.json``, ``model.safetensors`` (or ``pytorch_model.bin``)
and, usually, the tokenizer files. The component saves itself in exactly this format,
so a saved pipeline is self-contained and its ``gliner/model`` folder loads in the
official library too.
"""
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from .relation_settings import NOT_IN_PIPELINE, RelationSettings, check_tokenizer
from .settings import CheckpointError, GLiNERSettings

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PreTrainedTokenizerBase

    from .network import GLiNERSpanModel

CONFIG_FILE = "gliner_config.json"
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "spm.model", "vocab.txt", "sentencepiece.bpe.model")
SPECIAL_TOKENS = ("[FLERT]",)  # followed by ent_token and sep_token, as the official loader adds them
LABELS_TOKENIZER_DIR = "labels_tokenizer"  # bi-encoders: the labels encoder's tokenizer, as the official library saves it

# official state-dict prefix -> ours
_KEY_PREFIXES = (
    ("token_rep_layer.bert_layer.model.", "encoder."),
    ("token_rep_layer.labels_encoder.model.", "labels_encoder."),
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
    network: "GLiNERSpanModel"
    tokenizer: "PreTrainedTokenizerBase"
    labels_tokenizer: Optional["PreTrainedTokenizerBase"] = None  # bi-encoders only

    @property
    def device(self) -> "torch.device":
        """Where the network's weights are (thinc's shim may have moved them)."""
        return next(self.network.parameters()).device


def resolve(source: Union[str, Path]) -> Path:
    """A local checkpoint folder for ``source`` (a folder, or a Hugging Face Hub id to download)."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / CONFIG_FILE).exists():
            raise CheckpointError(f"{path} is not a GLiNER checkpoint folder: it has no {CONFIG_FILE}.")
        return path
    if path.exists() or str(source).startswith((".", "/", "~")) or str(source).count("/") != 1:
        raise CheckpointError(
            f"GLiNER checkpoint {str(source)!r} is neither an existing folder nor a Hugging Face Hub id "
            "('owner/name'). Pass the path of a folder holding gliner_config.json and the weights."
        )
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id=str(source),
            allow_patterns=["*.json", "*.safetensors", "*.bin", "*.model", "*.txt"],
        )
    except Exception as err:  # the hub raises many types: connection, auth, not found, offline
        raise CheckpointError(
            f"Could not download the GLiNER checkpoint {str(source)!r} from the Hugging Face Hub "
            f"({type(err).__name__}: {err}). If this machine is offline, download it where the Hub is "
            f"reachable (`hf download {source} --local-dir <folder>`), copy the folder here and pass it instead "
            'of the id: `nlp.add_pipe("gliner", config={"model": "<folder>"})` in Python, `--model <folder>` '
            "on the command line, `make demo MODEL=<folder>`. Saved pipelines (`nlp.to_disk`) carry their "
            "weights and load offline."
        ) from err
    return resolve(folder)


def read_settings(folder: Path, relations: bool = False) -> GLiNERSettings:
    """The checkpoint's settings; a relation-extraction model only where the caller reads ``relations``."""
    try:
        cfg = json.loads((folder / CONFIG_FILE).read_text(encoding="utf8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"Cannot read {folder / CONFIG_FILE}: {err}") from err
    settings = GLiNERSettings.from_official(cfg)
    if RelationSettings.from_official(cfg) is not None and not relations:
        raise CheckpointError(NOT_IN_PIPELINE)
    return settings


def check_local(source: Union[str, Path], relations: bool = False) -> None:
    """Cheap checks of a local checkpoint folder, so that a bad one fails when the pipeline is built.

    Reads the config (model family, options) and the safetensors header (a truncated or
    foreign file fails here); loads no weights. Hub ids and paths that do not exist here are
    left to ``load``: a saved pipeline brings its own weights.
    """
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return
    settings = read_settings(resolve(folder), relations)
    path = _weights_file(folder)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as weights:
                keys = list(weights.keys())
        except Exception as err:  # safetensors raises its own error type for every defect
            raise _damaged(path, err) from err
        check_family(keys, settings, str(folder))


# A tensor (official name prefix) that each part of a family has, and whether it must be there.
_FAMILY_MARKERS = (
    ("scorer.", lambda s: s.token_level, "the token-level scorer"),
    ("span_rep_layer.", lambda s: not s.token_level or s.relex, "the span layer"),
    ("token_rep_layer.labels_encoder.", lambda s: s.bi_encoder, "the labels encoder"),
    ("pair_rep_layer.", lambda s: s.relex, "the relation head"),
    ("relations_rep_layer.", lambda s: s.relex and RelationSettings.of(s).adjacency, "the adjacency layer"),
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
    """Load a checkpoint folder or hub id; every tensor is checked, nothing loads half-way.

    Relation-extraction (relex) checkpoints load only for a caller that reads ``relations``.
    """
    folder = resolve(source)
    settings = read_settings(folder, relations)
    if settings.words_splitter_type not in ("whitespace", "spacy"):  # its optional package is here, or a clear error now
        from .inputs import word_splitter

        word_splitter(settings.words_splitter_type)
    state = _read_weights(folder)
    check_family(state, settings, str(folder))
    tokenizer = _load_tokenizer(folder, settings)
    encoder_config = _encoder_config(settings.encoder_config, settings.model_name, "encoder_config")
    rows = _embedding_rows(state, "token_rep_layer.bert_layer.")
    _check_vocabulary(tokenizer, settings, rows, folder)
    relex = RelationSettings.of(settings)
    if relex is not None:
        check_tokenizer(tokenizer, relex, str(folder))
    encoder_config.vocab_size = rows
    labels_tokenizer = labels_config = None
    if settings.bi_encoder:
        labels_tokenizer = _load_labels_tokenizer(folder, settings)
        labels_config = _encoder_config(settings.labels_encoder_config, settings.labels_encoder, "labels_encoder_config")
        labels_config.vocab_size = _embedding_rows(state, "token_rep_layer.labels_encoder.")
    if relex is not None:
        from .relations import GLiNERRelexModel as network_class
    else:
        from .network import GLiNERSpanModel as network_class

    network = network_class.from_encoder_config(settings, encoder_config, labels_config)
    load_state(network, to_internal_keys(state), str(folder), settings.family)
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

    source = str(Path(encoder).expanduser()) if Path(encoder).expanduser().is_dir() else str(encoder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
        model = AutoModel.from_pretrained(source)
    except Exception as err:  # hub errors, missing files, unknown architectures
        raise CheckpointError(
            f"Cannot load the encoder {source!r} ({type(err).__name__}: {err}). Pass a Hugging Face model id "
            "(downloaded when the pipeline is initialized) or a local folder holding the encoder's config, "
            "weights and tokenizer."
        ) from err
    if not tokenizer.is_fast:
        raise CheckpointError(f"The tokenizer of {source!r} has no fast (Rust) version; spacy-gliner needs one.")
    _add_special_tokens(tokenizer, settings)
    model.resize_token_embeddings(len(tokenizer))
    from .network import GLiNERSpanModel

    settings = replace(settings, model_name=str(encoder), encoder_config=model.config.to_dict())
    network = GLiNERSpanModel(settings, model)
    network.eval()
    return LoadedGLiNER(settings, network, tokenizer)


def save(loaded: LoadedGLiNER, folder: Union[str, Path]) -> Path:
    """Write ``loaded`` as an official checkpoint folder (loadable by ``gliner.GLiNER``)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = loaded.tokenizer
    labels_encoder = loaded.network.labels_encoder
    settings = replace(  # a copy: the live network and input builder share loaded.settings
        loaded.settings,
        encoder_config=loaded.network.encoder.config.to_dict(),
        labels_encoder_config=labels_encoder.config.to_dict() if labels_encoder is not None else None,
        class_token_index=tokenizer.convert_tokens_to_ids(loaded.settings.ent_token),
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


def new_file_mode() -> int:
    """The mode a newly created file gets from the user's umask (``0o666 & ~umask``), for
    files written under a private temporary name first (mkstemp, safetensors: 0600)."""
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (no race with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def to_internal_keys(state: Dict[str, Any]) -> Dict[str, Any]:
    return {_rename(k, 0, 1): v for k, v in state.items()}


def to_official_keys(state: Dict[str, Any]) -> Dict[str, Any]:
    return {_rename(k, 1, 0): v for k, v in state.items()}


def _rename(key: str, src: int, dst: int) -> str:
    for pair in _KEY_PREFIXES:
        if key.startswith(pair[src]):
            return pair[dst] + key[len(pair[src]) :]
    return key


def load_state(network: "torch.nn.Module", state: Dict[str, Any], where: str, family: str = "span") -> None:
    """Load ``state`` strictly, except for tensors that are known to be optional.

    Problems name the tensors as the official weights file does, so users can find them.
    """
    own = network.state_dict()
    missing = [_rename(k, 1, 0) for k in own if k not in state and not _optional(k)]
    unexpected = [_rename(k, 1, 0) for k in state if k not in own and not _optional(k)]
    wrong_shape = [
        f"{_rename(k, 1, 0)}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors: {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {_some(unexpected)}")
    if wrong_shape:
        problems.append(f"tensors of the wrong shape: {_some(wrong_shape)}")
    if not problems:
        non_finite = [_rename(k, 1, 0) for k in own if k in state and state[k].is_floating_point() and not bool(state[k].isfinite().all())]
        if non_finite:
            raise CheckpointError(
                f"The weights in {where} hold NaN or infinite values (in {_some(non_finite)}): the model would find "
                "nothing. The file is damaged, or training diverged; use another checkpoint."
            )
    if problems:
        raise CheckpointError(
            f"The weights in {where} do not fit the {family} GLiNER model described by its config ("
            + "; ".join(problems)
            + "). Is it another GLiNER family, or were the files mixed up?"
        )
    network.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


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


def _read_weights(folder: Path) -> Dict[str, "torch.Tensor"]:
    path = _weights_file(folder)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        import torch

        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt or truncated files raise format-specific errors
        raise _damaged(path, err) from err


def _has_tokenizer_files(folder: Path) -> bool:
    return any((folder / name).exists() for name in TOKENIZER_FILES)


def _load_tokenizer(folder: Path, settings: GLiNERSettings) -> "PreTrainedTokenizerBase":
    from transformers import AutoTokenizer

    source = str(folder) if _has_tokenizer_files(folder) else settings.model_name
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except Exception as err:
        raise CheckpointError(_tokenizer_failure(folder, settings, source, err)) from err
    if not tokenizer.is_fast:
        raise CheckpointError(
            f"The tokenizer of {source!r} has no fast (Rust) version; spacy-gliner needs one to map sub-tokens to words."
        )
    _add_special_tokens(tokenizer, settings)
    return tokenizer


def _load_labels_tokenizer(folder: Path, settings: GLiNERSettings) -> "PreTrainedTokenizerBase":
    """A bi-encoder's labels tokenizer: ``labels_tokenizer/`` in the folder, else its ``labels_encoder`` id."""
    from transformers import AutoTokenizer

    local = folder / LABELS_TOKENIZER_DIR
    source = str(local) if (local / "tokenizer_config.json").is_file() else str(settings.labels_encoder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except Exception as err:
        raise CheckpointError(
            f"Cannot load the labels tokenizer of this bi-encoder from {source!r} ({type(err).__name__}: {err}). "
            f"Offline, copy the labels encoder's tokenizer files into {local}."
        ) from err
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # as the official processor does
    return tokenizer


def _tokenizer_failure(folder: Path, settings: GLiNERSettings, source: str, err: Exception) -> str:
    """Why the tokenizer did not load, naming the real cause where it can be told."""
    import transformers

    cause = f"({type(err).__name__}: {err})"
    version = transformers.__version__
    if source != settings.model_name:
        special = _tokenizer_config(folder).get("extra_special_tokens")
        if isinstance(special, list) and int(version.split(".")[0]) < 5:
            return (
                f"The tokenizer files in {folder} were written by transformers 5 (extra_special_tokens is a list) "
                f"and transformers {version} cannot read them {cause}. Upgrade transformers "
                "(`pip install -U 'transformers>=5'`), or save the pipeline again with this version of "
                "spacy-gliner, which writes tokenizer files that transformers 4 and 5 both read."
            )
        return f"The tokenizer files in {folder} could not be read by transformers {version} {cause}."
    needs = [name for name in ("sentencepiece", "google.protobuf") if not _importable(name)]
    if needs and _is_sentencepiece(err):
        return (
            f"This checkpoint ships no tokenizer files, and the tokenizer of its encoder {settings.model_name!r} "
            f"is a SentencePiece model that transformers converts with the packages "
            f"{' and '.join(n.split('.')[0] for n in needs)} {cause}: `pip install sentencepiece protobuf`."
        )
    return (
        f"This checkpoint ships no tokenizer files, so the tokenizer of its encoder {settings.model_name!r} is "
        f"needed, from the Hugging Face Hub or its local cache {cause}. If this machine is offline, download it "
        f"where the Hub is reachable (`hf download {settings.model_name} --local-dir <folder>`) and copy the "
        f"tokenizer files into the checkpoint folder {folder}; or load the checkpoint once online and save the "
        "pipeline (`nlp.to_disk`): a saved pipeline carries its tokenizer."
    )


def _tokenizer_config(folder: Path) -> Dict[str, Any]:
    try:
        data = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _is_sentencepiece(err: Exception) -> bool:
    text = f"{type(err).__name__} {err}".lower()
    return "sentencepiece" in text or "protobuf" in text


def save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """``save_pretrained``, with a ``tokenizer_config.json`` that transformers 4 and 5 both read.

    transformers 5 writes the extra special tokens as a list under ``extra_special_tokens``,
    a key that transformers 4 reads as a dict (and fails on); under the older name
    ``additional_special_tokens`` both read the list.
    """
    tokenizer.save_pretrained(str(folder))
    path = folder / "tokenizer_config.json"
    cfg = _tokenizer_config(folder)
    special = cfg.get("extra_special_tokens")
    if isinstance(special, list):
        del cfg["extra_special_tokens"]
        cfg["additional_special_tokens"] = list(dict.fromkeys([*cfg.get("additional_special_tokens", []), *special]))
        path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf8")


def _add_special_tokens(tokenizer: Any, settings: GLiNERSettings) -> None:
    """Add [FLERT], the entity and the separator token where missing, in the official order
    (bi-encoders prompt nothing and their embeddings are never resized: nothing is added;
    relex models add the entity, separator and relation tokens)."""
    if settings.bi_encoder:
        return
    relex = RelationSettings.of(settings)
    tokens = (settings.ent_token, settings.sep_token, relex.rel_token) if relex else (*SPECIAL_TOKENS, settings.ent_token, settings.sep_token)
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)


def _encoder_config(stored: Optional[Dict[str, Any]], name: str, field: str) -> Any:
    """The transformers config of an encoder: ``stored`` (the ``field`` of gliner_config.json),
    or, where the checkpoint stores none, the config of the Hub model ``name``."""
    from transformers import AutoConfig

    if stored:
        cfg = dict(stored)
        model_type = cfg.pop("model_type", None)
        if not model_type:
            raise CheckpointError(f"{field} in gliner_config.json has no model_type.")
        try:
            return AutoConfig.for_model(model_type, **cfg)
        except Exception as err:
            raise CheckpointError(f"{field} describes an encoder transformers cannot build: {err}") from err
    try:
        return AutoConfig.from_pretrained(str(name))
    except Exception as err:
        raise CheckpointError(
            f"gliner_config.json has no {field}, so the config of the encoder {name!r} is needed from the "
            f"Hugging Face Hub ({type(err).__name__}: {err}). Offline, add {field} to gliner_config.json."
        ) from err


def _embedding_rows(state: Dict[str, "torch.Tensor"], prefix: str) -> int:
    """Rows of the word-embedding matrix of the encoder whose official keys start with ``prefix``."""
    keys = [k for k in state if k.startswith(prefix) and k.endswith("embeddings.word_embeddings.weight")]
    if len(keys) != 1:
        raise CheckpointError(f"The weights hold no single word-embedding matrix ({prefix}…embeddings.word_embeddings.weight).")
    return int(state[keys[0]].shape[0])


def _check_vocabulary(tokenizer: Any, settings: GLiNERSettings, rows: int, folder: Path) -> None:
    """The tokenizer must address exactly the checkpoint's embedding rows."""
    size = len(tokenizer)
    ent_id = tokenizer.convert_tokens_to_ids(settings.ent_token)
    if settings.bi_encoder:  # no prompt, so no marker tokens; the official loader never resizes these
        if size > rows:
            raise CheckpointError(
                f"The tokenizer ({size} tokens) addresses more rows than the text encoder's embeddings in {folder} "
                f"({rows}). The tokenizer files belong to another model."
            )
        return
    if size != rows:
        raise CheckpointError(
            f"The tokenizer ({size} tokens, with GLiNER's special tokens) does not match the weights in {folder} "
            f"({rows} embedding rows). The tokenizer files belong to another model."
        )
    if settings.class_token_index not in (-1, ent_id):
        raise CheckpointError(
            f"gliner_config.json says {settings.ent_token} has id {settings.class_token_index} but the tokenizer "
            f"gives {ent_id}. The tokenizer files belong to another model."
        )

