"""Loading GLiNER2 checkpoint folders (``AutoExtractor`` layout), safely.

A folder holds ``config.json`` (``model_type: "extractor"``), ``encoder_config/config.json``,
``model.safetensors`` (or ``pytorch_model.bin``) and the tokenizer files. Hub ids are
downloaded (or read from the local cache offline) by ``model/checkpoint.resolve``.

Nothing of a checkpoint runs as code: configs are read as JSON (with a size limit) and
checked field by field; transformers never gets ``trust_remote_code``. Before anything is
built, the config's sizes are checked against the weights file's header (tensor names and
shapes, read without loading a tensor): the encoder's layer count first, then every tensor
of the network built on the meta device (no memory) - missing, unexpected and wrongly
shaped tensors are named in a ``CheckpointError``. Only then is the network built and
loaded, and a tensor holding NaN or infinity is refused too.
"""
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Tuple, Union

from .. import checkpoint as gliner_checkpoint
from ..settings import CheckpointError
from .schema import SPECIAL_TOKENS
from .settings import CONFIG_FILE, ENCODER_CONFIG, Gliner2Settings

if TYPE_CHECKING:  # pragma: no cover
    import torch

MAX_CONFIG_BYTES = 1 << 20  # a real config.json is a few kB
_LAYER = re.compile(r"^encoder\..*?\blayers?\.(\d+)\.")
_EMBEDDINGS = "word_embeddings.weight"


@dataclass
class LoadedGliner2:
    """A GLiNER2 checkpoint ready to run: settings, network (span or boundary), tokenizer."""

    settings: Gliner2Settings
    network: "torch.nn.Module"
    tokenizer: Any

    @property
    def device(self) -> "torch.device":
        return next(self.network.parameters()).device


def is_gliner2(source: Union[str, Path]) -> bool:
    """A local folder holding a GLiNER2 ``config.json`` (not a GLiNER ``gliner_config.json``)."""
    path = Path(source).expanduser()
    return path.is_dir() and (path / CONFIG_FILE).is_file() and not (path / gliner_checkpoint.CONFIG_FILE).exists()


def load(source: Union[str, Path]) -> LoadedGliner2:
    """Load a GLiNER2 checkpoint from a folder or Hub id; every tensor is checked first."""
    import torch

    folder = gliner_checkpoint.resolve(source, CONFIG_FILE)
    settings = Gliner2Settings.from_config(read_json(folder / CONFIG_FILE))
    encoder_config = _encoder_config(folder)
    path = gliner_checkpoint._weights_file(folder)
    header = _header(path)
    _check_layers(encoder_config, header, path)
    encoder_config.vocab_size = _embedding_rows(header, path)
    tokenizer = _tokenizer(folder, encoder_config)
    from .boundary import unloaded_shapes

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build(settings, encoder_config).state_dict().items()}
    skipped = unloaded_shapes(settings, encoder_config.hidden_size) if settings.architecture == "boundary" else {}
    _compare(header, {**expected, **skipped}, path, settings)
    network = build(settings, encoder_config)
    state = _read(path, [k for k in header if k in expected])
    non_finite = [k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if non_finite:
        raise CheckpointError(
            f"The weights in {path} hold NaN or infinite values (in {gliner_checkpoint._some(non_finite)}): the model "
            "would find nothing. The file is damaged, or training diverged; use another checkpoint."
        )
    network.load_state_dict(state, strict=False)
    network.eval()
    return LoadedGliner2(settings, network, tokenizer)


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


def read_json(path: Path) -> Any:
    """A JSON file of at most ``MAX_CONFIG_BYTES``."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise CheckpointError(f"Cannot read {path}: {err}") from err
    if len(data) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes: not a config file.")
    try:
        return json.loads(data.decode("utf8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"{path} is not valid JSON: {err}") from err


def _encoder_config(folder: Path) -> Any:
    from transformers import AutoConfig

    cfg = read_json(folder / ENCODER_CONFIG)
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model_type"), str):
        raise CheckpointError(f"{folder / ENCODER_CONFIG} must be a JSON object with a model_type.")
    cfg = dict(cfg)
    model_type = cfg.pop("model_type")
    try:
        return AutoConfig.for_model(model_type, **cfg)
    except Exception as err:  # unknown model types, bad values
        raise CheckpointError(f"{folder / ENCODER_CONFIG} describes an encoder transformers cannot build: {err}") from err


def _header(path: Path) -> Dict[str, Tuple[Tuple[int, ...], bool]]:
    """Each tensor's shape and whether it is floating point, without loading the tensors."""
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                return {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype() in ("F16", "BF16", "F32", "F64")) for k in f.keys()}
        state = _torch_state(path)
        return {k: (tuple(v.shape), v.is_floating_point()) for k, v in state.items()}
    except CheckpointError:
        raise
    except Exception as err:  # safetensors and torch raise their own types for damaged files
        raise gliner_checkpoint._damaged(path, err) from err


def _torch_state(path: Path) -> Dict[str, "torch.Tensor"]:
    """A ``pytorch_model.bin`` memory-mapped, with torch's safe unpickler (no code runs)."""
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors.")
    return state


def _read(path: Path, keys: Any) -> Dict[str, "torch.Tensor"]:
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in keys}
        state = _torch_state(path)
        return {k: state[k] for k in keys}
    except CheckpointError:
        raise
    except Exception as err:
        raise gliner_checkpoint._damaged(path, err) from err


def _check_layers(encoder_config: Any, header: Dict[str, Any], path: Path) -> None:
    """The encoder's layer count must be the weights' before anything is built."""
    layers = {int(m.group(1)) for k in header for m in [_LAYER.match(k)] if m}
    wanted = getattr(encoder_config, "num_hidden_layers", None)
    if not isinstance(wanted, int) or isinstance(wanted, bool) or wanted != len(layers) or (layers and max(layers) != wanted - 1):
        raise CheckpointError(
            f"{ENCODER_CONFIG} says num_hidden_layers={wanted!r} but the weights in {path} hold {len(layers)} encoder "
            "layers. The config and the weights belong to different models."
        )


def _embedding_rows(header: Dict[str, Any], path: Path) -> int:
    keys = [k for k in header if k.startswith("encoder.") and k.endswith(_EMBEDDINGS)]
    if len(keys) != 1 or len(header[keys[0]][0]) != 2:
        raise CheckpointError(f"The weights in {path} hold no single word-embedding matrix (encoder.…{_EMBEDDINGS}).")
    return int(header[keys[0]][0][0])


def _compare(header: Dict[str, Any], expected: Dict[str, Tuple[int, ...]], path: Path, settings: Gliner2Settings) -> None:
    optional = gliner_checkpoint._optional
    missing = [k for k in expected if k not in header and not optional(k)]
    unexpected = [k for k in header if k not in expected and not optional(k)]
    wrong = [f"{k}: checkpoint {header[k][0]} vs config {expected[k]}" for k in expected if k in header and header[k][0] != expected[k]]
    not_float = [k for k in expected if k in header and not header[k][1]]
    problems = [
        f"{what}: {gliner_checkpoint._some(items)}"
        for what, items in (("missing tensors", missing), ("unexpected tensors", unexpected), ("tensors of the wrong shape", wrong), ("tensors that are not floating point", not_float))
        if items
    ]
    if problems:
        raise CheckpointError(
            f"The weights in {path} do not fit the {settings.family} model its config describes ({'; '.join(problems)}). "
            "Were the files of two checkpoints mixed up, or a config edited?"
        )


def _tokenizer(folder: Path, encoder_config: Any) -> Any:
    """The folder's tokenizer with gliner2's special tokens, addressing only existing rows
    (the encoder's config is given so that transformers does not read the folder's
    ``config.json``, which is not an encoder's)."""
    from transformers import AutoTokenizer

    rows = encoder_config.vocab_size
    if not any((folder / name).exists() for name in gliner_checkpoint.TOKENIZER_FILES):
        raise CheckpointError(f"{folder} holds no tokenizer files (tokenizer.json, tokenizer_config.json...): a GLiNER2 checkpoint ships its own.")
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), config=encoder_config, trust_remote_code=False)
        except AttributeError as err:  # transformers 5 and the list of extra special tokens older gliner2 wrote
            if "'list' object has no attribute 'keys'" not in str(err):
                raise
            tokenizer = AutoTokenizer.from_pretrained(str(folder), config=encoder_config, trust_remote_code=False, extra_special_tokens={})
    except CheckpointError:
        raise
    except Exception as err:
        raise CheckpointError(f"The tokenizer files in {folder} could not be read ({type(err).__name__}: {err}).") from err
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    broken = [t for t in SPECIAL_TOKENS if len(tokenizer.tokenize(t)) != 1]
    if broken:
        raise CheckpointError(f"The tokenizer in {folder} does not hold gliner2's special tokens {broken} as single tokens.")
    if len(tokenizer) > rows:
        raise CheckpointError(
            f"The tokenizer in {folder} has {len(tokenizer)} tokens (gliner2's special tokens included) but the encoder's "
            f"embeddings only {rows} rows: the tokenizer files belong to another model."
        )
    return tokenizer
