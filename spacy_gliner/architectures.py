"""Registered thinc architectures: the GLiNER network behind thinc's ``PyTorchShim``.

The torch network is created lazily: building a pipeline from its config (as
``spacy.load`` does) must not download anything, since ``from_disk`` will supply the
weights. A component that runs before any weights were loaded loads ``source``.
"""
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from spacy.util import registry
from thinc.api import Model

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .checkpoint import LoadedGLiNER

DEFAULT_SOURCE = "urchade/gliner_small-v2.1"
Inputs = Dict[str, "torch.Tensor"]


@registry.architectures("spacy_gliner.GLiNERModel.v1")
def build_gliner_model(source: str = DEFAULT_SOURCE, mixed_precision: bool = False) -> Model:
    """GLiNER span model: padded window batches in, span logits [B, L, K, C] out.

    source: an official GLiNER checkpoint, as a Hugging Face Hub id or a local folder.
    mixed_precision: run the network under autocast (CUDA only).
    A local folder is checked at once (config and weights file, see ``checkpoint.check_local``).
    """
    from . import checkpoint

    checkpoint.check_local(source)
    return Model(
        "gliner",
        _forward,
        attrs={"source": source, "mixed_precision": mixed_precision, "loaded": None},
    )


def get_loaded(model: Model) -> "LoadedGLiNER":
    """The network, tokenizer and settings, loading ``source`` on first use."""
    if model.attrs["loaded"] is None:
        from . import checkpoint

        set_loaded(model, checkpoint.load(model.attrs["source"]))
    return model.attrs["loaded"]


def is_loaded(model: Model) -> bool:
    return model.attrs["loaded"] is not None


def set_loaded(model: Model, loaded: "LoadedGLiNER") -> None:
    """Install a network in the model, on the device that thinc's current ops use."""
    from thinc.api import PyTorchShim

    shim = PyTorchShim(loaded.network, mixed_precision=model.attrs["mixed_precision"])
    loaded.network = shim._model  # the shim moved it to the current device
    model.shims.clear()
    model.shims.append(shim)
    model.attrs["loaded"] = loaded


def _forward(model: Model, inputs: Inputs, is_train: bool) -> Tuple["torch.Tensor", Callable]:
    from thinc.api import ArgsKwargs

    get_loaded(model)
    shim = model.shims[0]
    if not is_train:
        return shim.predict(ArgsKwargs(args=(), kwargs=inputs)), _no_backprop
    logits, torch_backprop = shim(ArgsKwargs(args=(), kwargs=inputs), is_train)

    def backprop(d_logits: "torch.Tensor") -> Any:
        torch_backprop(ArgsKwargs(args=(logits,), kwargs={"grad_tensors": (d_logits,)}))
        return inputs

    return logits, backprop


def _no_backprop(d_logits: Any) -> Optional[Any]:
    raise ValueError("backprop called on a prediction made with is_train=False")
