"""Loading GLiNER2 checkpoint folders (``AutoExtractor`` layout), safely.

A folder holds ``config.json`` (``model_type: "extractor"``), ``encoder_config/config.json``,
``model.safetensors`` (or ``pytorch_model.bin``) and the tokenizer files. Hub ids are
downloaded (or read from the local cache offline) by ``model/checkpoint.resolve``.

Nothing of a checkpoint runs as code: configs are read as JSON (``read_json``: a size
limit) and checked field by field; a folder that names custom code (``auto_map``) is
refused and transformers never gets ``trust_remote_code`` (``check_code_free``,
``pretrained``: the rules of GLiNER checkpoints, in ``files``). Before anything is built,
the config's sizes are checked against the weights file's header (``weight_shapes``: names and shapes,
no tensor data): the encoder's layer count first, then every tensor of the network built
on the meta device (no memory) - missing, unexpected and wrongly shaped tensors are named
in a ``CheckpointError``. Only then is the network built and loaded, and a tensor that is
not floating point or holds NaN or infinity is refused too.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Union

from .. import checkpoint as gliner_checkpoint
from .. import files
from ..checkpoint import is_gliner2  # noqa: F401 (where the family is told; re-exported)
from ..settings import CheckpointError
from .schema import SPECIAL_TOKENS
from .settings import CONFIG_FILE, ENCODER_CONFIG, ENCODER_DIR, Gliner2Settings

if TYPE_CHECKING:  # pragma: no cover
    import torch

_LAYER = re.compile(r"^encoder\..*?\blayers?\.(\d+)\.")
_EMBEDDINGS = "word_embeddings.weight"


@dataclass
class LoadedGliner2:
    """A GLiNER2 checkpoint ready to run: settings, network (span or boundary), tokenizer."""

    settings: Gliner2Settings
    network: "torch.nn.Module"
    tokenizer: Any
    config: Optional[Dict[str, Any]] = None  # config.json as read (checked): what ``save`` writes back
    encoder_config: Any = None  # the encoder's transformers config
    unrun: Optional[Dict[str, "torch.Tensor"]] = None  # tensors checked but not run (record head): saved as read

    @property
    def device(self) -> "torch.device":
        return next(self.network.parameters()).device


def load(source: Union[str, Path]) -> LoadedGliner2:
    """Load a GLiNER2 checkpoint from a folder or Hub id; every tensor is checked first."""
    import torch

    folder = gliner_checkpoint.resolve(source, CONFIG_FILE)
    files.check_code_free(folder, folder / ENCODER_DIR)
    config = files.read_json(folder / CONFIG_FILE)
    settings = Gliner2Settings.read(config)
    encoder_config = _encoder_config(folder)
    path = gliner_checkpoint._weights_file(folder)
    shapes = gliner_checkpoint.weight_shapes(path)
    _check_layers(encoder_config, shapes, path)
    encoder_config.vocab_size = _embedding_rows(shapes, path)
    tokenizer = _tokenizer(folder, encoder_config)
    from .boundary import unloaded_shapes

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build(settings, encoder_config).state_dict().items()}
    skipped = unloaded_shapes(settings, encoder_config.hidden_size) if settings.architecture == "boundary" else {}
    _compare(shapes, {**expected, **skipped}, path, settings)
    network = build(settings, encoder_config)
    weights = gliner_checkpoint._read_weights(path)
    state = {k: v for k, v in weights.items() if k in expected}
    unrun = {k: v for k, v in weights.items() if k in skipped}
    del weights
    read = {**state, **unrun}
    bad = [k for k, v in read.items() if not v.is_floating_point()]
    bad += [k for k, v in read.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        raise CheckpointError(
            f"The weights in {path} hold tensors that are not floating point, or hold NaN or infinite values "
            f"({gliner_checkpoint._some(bad)}): the model would find nothing. The file is damaged, or training "
            "diverged; use another checkpoint."
        )
    network.load_state_dict(state, strict=False)
    network.eval()
    return LoadedGliner2(settings, network, tokenizer, config, encoder_config, unrun)


def save(loaded: LoadedGliner2, folder: Union[str, Path]) -> Path:
    """Write ``loaded`` as a GLiNER2 checkpoint folder (``load`` and gliner2's ``from_pretrained``
    read it): ``config.json`` as it was read, ``encoder_config/config.json``, the weights (the
    tensors that are not run, as read) and the tokenizer files."""
    import json
    import os

    from safetensors.torch import save_file

    from ..tokenizers import save_tokenizer

    if loaded.config is None or loaded.encoder_config is None:
        raise ValueError(
            "This GLiNER2 model was not loaded from a checkpoint folder (checkpoint.load): it cannot be saved."
        )
    folder = Path(folder)
    (folder / ENCODER_DIR).mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(loaded.config, indent=2, sort_keys=True), encoding="utf8")
    (folder / ENCODER_CONFIG).write_text(
        json.dumps(loaded.encoder_config.to_dict(), indent=2, sort_keys=True, default=str), encoding="utf8"
    )
    state = {k: v.detach().cpu().contiguous().clone() for k, v in loaded.network.state_dict().items()}
    state.update({k: v.contiguous() for k, v in (loaded.unrun or {}).items()})
    weights = folder / gliner_checkpoint.WEIGHTS_FILES[0]
    save_file(state, str(weights))
    os.chmod(weights, files.new_file_mode())  # safetensors writes 0600: the folder's other files' mode
    save_tokenizer(loaded.tokenizer, folder)
    return folder


def build(settings: Gliner2Settings, encoder_config: Any) -> "torch.nn.Module":
    """The network of ``settings`` with random weights, on the current default device."""
    from transformers import AutoModel

    try:
        encoder = AutoModel.from_config(encoder_config, trust_remote_code=False)
    except Exception as err:  # transformers refuses inconsistent sizes with several error types
        raise CheckpointError(f"{ENCODER_CONFIG} describes an encoder transformers cannot build: {err}") from err
    if settings.architecture == "span":
        from .span import SpanNetwork

        return SpanNetwork(settings, encoder)
    from .boundary import BoundaryNetwork

    return BoundaryNetwork(settings, encoder)


def _encoder_config(folder: Path) -> Any:
    from transformers import AutoConfig

    cfg = files.read_json(folder / ENCODER_CONFIG)
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model_type"), str):
        raise CheckpointError(f"{folder / ENCODER_CONFIG} must be a JSON object with a model_type.")
    cfg = dict(cfg)
    model_type = cfg.pop("model_type")
    try:
        return AutoConfig.for_model(model_type, **cfg)
    except Exception as err:  # unknown model types, bad values
        raise CheckpointError(
            f"{folder / ENCODER_CONFIG} describes an encoder transformers cannot build: {err}"
        ) from err


def _check_layers(encoder_config: Any, shapes: Dict[str, Tuple[int, ...]], path: Path) -> None:
    """The encoder's layer count must be the weights' before anything is built."""
    layers = {int(m.group(1)) for k in shapes for m in [_LAYER.match(k)] if m}
    wanted = getattr(encoder_config, "num_hidden_layers", None)
    if (
        not isinstance(wanted, int)
        or isinstance(wanted, bool)
        or wanted != len(layers)
        or (layers and max(layers) != wanted - 1)
    ):
        raise CheckpointError(
            f"{ENCODER_CONFIG} says num_hidden_layers={wanted!r} but the weights in {path} hold {len(layers)} encoder "
            "layers. The config and the weights belong to different models."
        )


def _embedding_rows(shapes: Dict[str, Tuple[int, ...]], path: Path) -> int:
    keys = [k for k in shapes if k.startswith("encoder.") and k.endswith(_EMBEDDINGS)]
    if len(keys) != 1 or len(shapes[keys[0]]) != 2:
        raise CheckpointError(f"The weights in {path} hold no single word-embedding matrix (encoder.…{_EMBEDDINGS}).")
    return int(shapes[keys[0]][0])


def _compare(
    shapes: Dict[str, Tuple[int, ...]], expected: Dict[str, Tuple[int, ...]], path: Path, settings: Gliner2Settings
) -> None:
    """``checkpoint.check_fit`` for gliner2's tensor names (they are the file's own)."""
    optional = gliner_checkpoint._optional
    missing = [k for k in expected if k not in shapes and not optional(k)]
    unexpected = [k for k in shapes if k not in expected and not optional(k)]
    wrong = [
        f"{k}: checkpoint {shapes[k]} vs config {expected[k]}"
        for k in expected
        if k in shapes and shapes[k] != expected[k]
    ]
    problems = [
        f"{what}: {gliner_checkpoint._some(items)}"
        for what, items in (
            ("missing tensors", missing),
            ("unexpected tensors", unexpected),
            ("tensors of the wrong shape", wrong),
        )
        if items
    ]
    if problems:
        raise CheckpointError(
            f"The weights in {path} do not fit the {settings.family} model its config describes"
            f" ({'; '.join(problems)}). Were the files of two checkpoints mixed up, or a config edited?"
        )


def _tokenizer(folder: Path, encoder_config: Any) -> Any:
    """The folder's tokenizer with gliner2's special tokens, addressing only existing rows
    (the encoder's config is given so that transformers does not read the folder's
    ``config.json``, which is not an encoder's)."""
    from transformers import AutoTokenizer

    rows = encoder_config.vocab_size
    if not any((folder / name).exists() for name in files.TOKENIZER_FILES):
        raise CheckpointError(
            f"{folder} holds no tokenizer files (tokenizer.json, tokenizer_config.json...): a GLiNER2 checkpoint ships"
            " its own."
        )
    try:
        try:
            tokenizer = files.pretrained(AutoTokenizer, str(folder), config=encoder_config)
        except AttributeError as err:  # transformers 5 and the list of extra special tokens older gliner2 wrote
            if "'list' object has no attribute 'keys'" not in str(err):
                raise
            tokenizer = files.pretrained(AutoTokenizer, str(folder), config=encoder_config, extra_special_tokens={})
    except CheckpointError:
        raise
    except Exception as err:
        raise CheckpointError(
            f"The tokenizer files in {folder} could not be read ({type(err).__name__}: {err})."
        ) from err
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    broken = [t for t in SPECIAL_TOKENS if len(tokenizer.tokenize(t)) != 1]
    if broken:
        raise CheckpointError(
            f"The tokenizer in {folder} does not hold gliner2's special tokens {broken} as single tokens."
        )
    if len(tokenizer) > rows:
        raise CheckpointError(
            f"The tokenizer in {folder} has {len(tokenizer)} tokens (gliner2's special tokens included) but the"
            f" encoder's embeddings only {rows} rows: the tokenizer files belong to another model."
        )
    return tokenizer
