"""The thinc glue, in one home: registered architectures, and the shim that holds the torch
network for thinc (device, mixed precision, the encoder's learning rate, parameter averages).

The torch network is created lazily: building a pipeline from its config (as
``spacy.load`` does) must not download anything, since ``from_disk`` will supply the
weights. A component that runs before any weights were loaded calls the model's
``load`` attr: an official checkpoint (``GLiNERModel.v1``) or a new model around a
pretrained encoder (``GLiNEREncoderModel.v1``). This happens at ``initialize``.
"""

import contextlib
import warnings
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Dict, Iterator, Optional, Sequence, Tuple

from spacy.util import registry
from thinc.api import Model, Optimizer, PyTorchGradScaler, PyTorchShim
from thinc.util import torch2xp, xp2torch

from .model import precision
from .model.precision import MixedPrecision
from .model.settings import SPAN_HEADS, TOKEN_LEVEL, GLiNERSettings

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .model.checkpoint import LoadedGLiNER

DEFAULT_SOURCE = "urchade/gliner_small-v2.1"
DEFAULT_ENCODER_LR_SCALE = 0.2  # paper: encoder 1e-5, new layers 5e-5
Inputs = Dict[str, "torch.Tensor"]


@registry.architectures("spacy_gliner.GLiNERModel.v1")
def build_gliner_model(
    source: str = DEFAULT_SOURCE,
    mixed_precision: MixedPrecision = False,
    encoder_lr_scale: float = DEFAULT_ENCODER_LR_SCALE,
) -> Model:
    """GLiNER span model from an official checkpoint: padded window batches in, span logits [B, L, K, C] out.

    source: an official GLiNER checkpoint, as a Hugging Face Hub id or a local folder; or a
    GLiNER2 one (``fastino/gliner2-*``: ``config.json`` with ``model_type: "extractor"``, span or
    boundary architecture). One architecture serves both families, as it serves every GLiNER
    family (span, token, bi-encoder, relex): the family is told by the checkpoint's files
    (``load_checkpoint``), when it loads; nothing is downloaded when a pipeline is built
    from its config. A saved pipeline says what it holds in its ``<pipe>/model`` folder, which
    is a checkpoint of the family it was loaded from (GLiNER2: gliner2's own files), and the
    component's ``cfg``; its config.cfg names the source. GLiNER2 models run whole texts
    through the component's ``Extractor`` (entities, classes and relations in one pass per
    window), not through thinc's forward: they predict only (``update`` refuses them) and
    take no mixed precision.
    mixed_precision: false (float32, exact parity); "bf16" (predictions from a copy with bfloat16
    linear weights under a bf16 autocast, residuals and LayerNorms float32; training under a
    bf16 autocast; for CUDA or a CPU with AMX/AVX-512 BF16, elsewhere bf16 is emulated and
    slower); "int8" (predictions from a copy whose linear layers are dynamically quantized to
    int8, CPU only; training and saving stay float32); or "fp16" / true (float16 autocast with
    gradient scaling, CUDA only). ``precision.advice`` says which suits a CPU.
    encoder_lr_scale: in training, the encoder's learning rate is the optimizer's times this.
    A local folder is checked at once (config and weights file, see ``checkpoint.check_local``).
    """
    from .model import checkpoint

    checkpoint.check_local(source, relations=True)  # the component reads relex models' relations
    return _lazy_model(partial(load_checkpoint, source), mixed_precision, encoder_lr_scale, source=source)


@registry.architectures("spacy_gliner.GLiNEREncoderModel.v1")
def build_gliner_encoder_model(
    encoder: str,
    hidden_size: int = GLiNERSettings.hidden_size,
    max_width: int = GLiNERSettings.max_width,
    max_len: int = GLiNERSettings.max_len,
    dropout: float = GLiNERSettings.dropout,
    span_mode: str = GLiNERSettings.span_mode,
    num_rnn_layers: int = GLiNERSettings.num_rnn_layers,
    embed_ent_token: bool = GLiNERSettings.embed_ent_token,
    mixed_precision: MixedPrecision = False,
    encoder_lr_scale: float = DEFAULT_ENCODER_LR_SCALE,
) -> Model:
    """A new GLiNER span model to train: a pretrained encoder and random GLiNER layers.

    encoder: a Hugging Face model id or a local folder (loaded at ``initialize``; a saved
    pipeline carries its weights). The other settings are those of ``gliner_config.json``,
    with the defaults of ``GLiNERSettings``; ``embed_ent_token=False`` reads each type at its
    first sub-token instead of at its ``<<ENT>>`` marker.
    """
    if span_mode not in SPAN_HEADS:
        why = (
            " (token-level models load from checkpoints but cannot be trained here yet)"
            if span_mode == TOKEN_LEVEL
            else ""
        )
        raise ValueError(f"span_mode must be one of {SPAN_HEADS}, got {span_mode!r}{why}.")
    settings = GLiNERSettings(
        model_name=encoder,
        hidden_size=hidden_size,
        max_width=max_width,
        max_len=max_len,
        dropout=dropout,
        span_mode=span_mode,
        num_rnn_layers=num_rnn_layers,
        embed_ent_token=embed_ent_token,
    )
    settings.validate("spacy_gliner.GLiNEREncoderModel.v1")
    from .model import checkpoint

    return _lazy_model(
        partial(checkpoint.from_encoder, encoder, settings), mixed_precision, encoder_lr_scale, encoder=encoder
    )


def _lazy_model(
    load: Callable[[], "LoadedGLiNER"], mixed_precision: MixedPrecision, encoder_lr_scale: float, **attrs: Any
) -> Model:
    mixed_precision = precision.normalize(mixed_precision)
    if isinstance(encoder_lr_scale, bool) or not isinstance(encoder_lr_scale, (int, float)) or encoder_lr_scale < 0:
        raise ValueError(f"encoder_lr_scale must be a number >= 0, got {encoder_lr_scale!r}.")
    attrs.update(load=load, mixed_precision=mixed_precision, encoder_lr_scale=float(encoder_lr_scale), loaded=None)
    return Model("gliner", _forward, attrs=attrs)


def get_loaded(model: Model) -> "LoadedGLiNER":
    """The network, tokenizer and settings, loading them on first use."""
    if model.attrs["loaded"] is None:
        set_loaded(model, model.attrs["load"]())
    return model.attrs["loaded"]


def load_checkpoint(source: str) -> Any:
    """A GLiNER checkpoint (relex models with their relations, which the component reads) or a
    GLiNER2 one, a folder or a Hub id: the family is told by the files (``checkpoint.is_gliner2``)."""
    from .model import checkpoint

    folder = checkpoint.resolve(source, None)
    if checkpoint.is_gliner2(folder):
        from .model.gliner2 import checkpoint as gliner2

        return gliner2.load(folder)
    return checkpoint.load(folder, relations=True)


def save_checkpoint(loaded: Any, folder: Any) -> Any:
    """Write ``loaded`` as a checkpoint folder of its family (GLiNER: the official layout; GLiNER2:
    gliner2's)."""
    if is_gliner2_model(loaded):
        from .model.gliner2 import checkpoint as gliner2

        return gliner2.save(loaded, folder)
    from .model import checkpoint

    return checkpoint.save(loaded, folder)


def is_gliner2_model(loaded: Any) -> bool:
    """A loaded GLiNER2 checkpoint (``model.gliner2.checkpoint.LoadedGliner2``)."""
    from .model.gliner2.checkpoint import LoadedGliner2

    return isinstance(loaded, LoadedGliner2)


def is_loaded(model: Model) -> bool:
    return model.attrs["loaded"] is not None


def set_loaded(model: Model, loaded: "LoadedGLiNER") -> None:
    """Install a network in the model, on the device that thinc's current ops use (a GLiNER2
    network in a plain shim: it predicts only, in float32)."""
    if is_gliner2_model(loaded):
        if model.attrs["mixed_precision"]:
            raise ValueError(
                f"mixed_precision {model.attrs['mixed_precision']!r} is for GLiNER models; a GLiNER2 model runs in"
                " float32. Set mixed_precision to false in the model block of the gliner component."
            )
        shim: PyTorchShim = PyTorchShim(loaded.network)
    else:
        _check_device(model.attrs["mixed_precision"])
        shim = GLiNERShim(
            loaded.network,
            mixed_precision=model.attrs["mixed_precision"],
            encoder_lr_scale=model.attrs["encoder_lr_scale"],
        )
    loaded.network = shim._model  # the shim moved it to the current device
    model.shims.clear()
    model.shims.append(shim)
    model.attrs["loaded"] = loaded


def _check_device(mixed_precision: MixedPrecision) -> None:
    """Each mode's device rule, checked before any work: fp16 is CUDA only (thinc's autocast),
    int8 CPU only (FBGEMM kernels); on a CPU, a mode that is slow there gets a warning.

    Checked where the network gets its device (thinc's current one), not when the model is
    built: ``spacy.require_gpu()`` may come after building, and CPU-only tools (``spacy init
    fill-config``, ``debug config``) build GPU configs without running them.
    """
    from thinc.util import get_torch_default_device

    device = get_torch_default_device().type
    if mixed_precision == "fp16" and device != "cuda":
        raise ValueError(
            f"mixed_precision 'fp16' (float16) runs on CUDA only, but the network would run on {device!r}. Call"
            " spacy.require_gpu() before the pipe loads its weights, or set mixed_precision to 'bf16' (CUDA, or a"
            " CPU with AMX/AVX-512 bf16) or false (float32, exact parity). For a saved pipeline: spacy.load(path,"
            ' config={"components": {"gliner": {"model": {"mixed_precision": False}}}}).'
        )
    if mixed_precision == "int8" and device != "cpu":
        raise ValueError(
            f"mixed_precision 'int8' runs on the CPU only (the network would run on {device!r}); use 'bf16' or 'fp16'"
            " on a GPU."
        )
    if device == "cpu":
        why = precision.poor_fit(mixed_precision, precision.this_cpu())
        if why:
            warnings.warn(why, stacklevel=3)


def encode_labels(model: Model, labels: Sequence[str]) -> "torch.Tensor":
    """A bi-encoder's label vectors [C, H], with the model's precision (autocast) setting."""
    from .model.search import encode_labels as encode

    loaded = get_loaded(model)
    with _autocast(model):
        return encode(loaded, labels)


def _autocast(model: Model) -> ContextManager:
    """bf16 autocast on the network's device (thinc's shim only knows CUDA autocast)."""
    if model.attrs["mixed_precision"] != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(model.attrs["loaded"].device.type, dtype=torch.bfloat16)


def _forward(model: Model, inputs: Inputs, is_train: bool) -> Tuple["torch.Tensor", Callable]:
    from thinc.api import ArgsKwargs

    get_loaded(model)
    shim = model.shims[0]
    if not is_train and shim.precision in precision.COPY_PRECISIONS:
        import torch

        with torch.no_grad():
            return shim.inference_network()(**inputs), _no_backprop
    with _autocast(model):
        if not is_train:
            return shim.predict(ArgsKwargs(args=(), kwargs=inputs)), _no_backprop
        logits, torch_backprop = shim(ArgsKwargs(args=(), kwargs=inputs), is_train)

    def backprop(d_logits: "torch.Tensor") -> Any:
        torch_backprop(ArgsKwargs(args=(logits,), kwargs={"grad_tensors": (d_logits,)}))
        return inputs

    return logits, backprop


def _no_backprop(d_logits: Any) -> Optional[Any]:
    raise ValueError("backprop called on a prediction made with is_train=False")


class GLiNERShim(PyTorchShim):
    """thinc's PyTorchShim, with the encoder updated at ``encoder_lr_scale`` times the learning rate,
    and with the optimizer's parameter averages (``use_averages = true``) really used.

    ``mixed_precision`` (``precision.normalize``'s values): "fp16" (thinc's CUDA autocast with
    gradient scaling); "bf16" in training is left to the caller's autocast on the network's
    device (no scaling needed); "bf16" and "int8" predict with ``inference_network()``.
    """

    def __init__(
        self, network: "torch.nn.Module", *, mixed_precision: MixedPrecision = False, encoder_lr_scale: float = 1.0
    ) -> None:
        fp16 = mixed_precision == "fp16"
        super().__init__(network, mixed_precision=fp16, grad_scaler=PyTorchGradScaler(enabled=fp16))
        self.precision = mixed_precision
        self.encoder_lr_scale = encoder_lr_scale
        self._encoder_params = {id(p) for p in network.parameter_groups()["encoder"]}
        self._inference: Optional[Tuple[tuple, "torch.nn.Module"]] = None

    def inference_network(self) -> "torch.nn.Module":
        """The reduced-precision copy that predictions run through ("bf16" or "int8"), made
        again whenever the float32 weights changed (a training step, ``use_params``,
        ``load_state_dict``): it is keyed on each parameter's storage and version counter."""
        from .model.network import reduced_precision_copy

        key = tuple((p.data_ptr(), p._version) for p in self._model.parameters())
        if self._inference is None or self._inference[0] != key:
            self._inference = None  # free the old copy before making the new one
            self._inference = (key, reduced_precision_copy(self._model, self.precision))
        return self._inference[1]

    def predict(self, inputs: Any) -> Any:
        """The network's output without gradients, in eval mode, never switching back.

        thinc's PyTorchShim.predict calls ``eval()`` before and ``train()`` after each call:
        on a pipeline shared by threads, one thread's ``train()`` turned dropout on in the
        middle of another's forward pass. Here inference only ever moves the network to eval
        mode (training's ``begin_update`` moves it to train mode), so concurrent calls give
        the scores of sequential ones.
        """
        import torch

        if self._model.training:
            self._model.eval()
        with torch.no_grad(), torch.autocast(device_type="cuda", enabled=self._mixed_precision):
            return self._model(*inputs.args, **inputs.kwargs)

    def finish_update(self, optimizer: Optimizer) -> None:
        for name, param in self._model.named_parameters():
            if param.grad is None:
                continue
            if not self._grad_scaler.found_inf:  # skip the step when fp16 gradients overflowed
                scale = self.encoder_lr_scale if id(param) in self._encoder_params else 1.0
                data, _ = optimizer((self.id, name), torch2xp(param.data), torch2xp(param.grad), lr_scale=scale)
                param.data = xp2torch(data, requires_grad=True, device=param.device)
            param.grad.zero_()
        self._grad_scaler.update()

    @contextlib.contextmanager
    def use_params(self, params: Dict[Any, Any]) -> Iterator[None]:
        """Run with the averaged weights that spaCy evaluates and saves (``nlp.use_params``).

        The optimizer keeps averages under ``(shim id, parameter name)``, the keys
        ``finish_update`` passes it; thinc's PyTorchShim looks for other keys, so it
        silently evaluated and saved the raw weights.
        """
        swapped = {}
        for name, param in self._model.named_parameters():
            average = params.get((self.id, name))
            if average is not None:
                swapped[name] = param.data
                param.data = xp2torch(average, device=param.device).to(param.dtype)
        try:
            yield
        finally:
            for name, param in self._model.named_parameters():
                if name in swapped:
                    param.data = swapped[name]
