"""mixed_precision "fp16" (or true) is CUDA only: elsewhere it fails before any work, saying what to do.

Before, a CPU run went on in float32 under thinc's "Disabling autocast" warning. The check
sits where the network gets its device (``set_loaded``), so ``spacy.require_gpu()`` called
after building the pipeline still counts, and CPU-only tools may build an fp16 config.
"""
import warnings
from pathlib import Path
from typing import Any

import pytest
import spacy
import torch

from spacy_gliner.architectures import get_loaded, set_loaded
from spacy_gliner.model import checkpoint

TEXT = "Ada Lovelace worked with Charles Babbage in London."


def fp16_pipe(source: Path, setting: Any) -> spacy.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={
        "model": {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(source), "mixed_precision": setting},
        "labels": ["person"],
    })
    return nlp


@pytest.mark.parametrize("setting", ["fp16", True])
def test_fp16_on_the_cpu_fails_before_running(setting: Any, tiny_checkpoint) -> None:
    nlp = fp16_pipe(tiny_checkpoint("markerV0-bert"), setting)  # building is fine: no device yet
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Disabling autocast" from thinc: we stop first
        with pytest.raises(ValueError, match="CUDA only") as err:
            nlp(TEXT)
    message = str(err.value)
    assert "'cpu'" in message and "spacy.require_gpu()" in message and "'bf16'" in message and "false" in message
    with pytest.raises(ValueError, match="CUDA only"):
        nlp.initialize()


def test_fp16_follows_thincs_device(monkeypatch: pytest.MonkeyPatch, tiny_checkpoint) -> None:
    """After spacy.require_gpu() thinc's torch device is CUDA, and fp16 is accepted."""
    import thinc.shims.pytorch
    import thinc.util

    monkeypatch.setattr(thinc.util, "get_torch_default_device", lambda: torch.device("cuda", 0))
    monkeypatch.setattr(thinc.shims.pytorch, "get_torch_default_device", lambda: torch.device("meta"))  # no GPU here
    nlp = fp16_pipe(tiny_checkpoint("markerV0-bert"), "fp16")
    model = nlp.get_pipe("gliner").model
    set_loaded(model, checkpoint.load(tiny_checkpoint("markerV0-bert")))
    assert model.shims[0]._mixed_precision is True


def test_a_saved_fp16_pipeline_loads_on_the_cpu_as_the_message_says(tiny_checkpoint, tmp_path: Path) -> None:
    nlp = fp16_pipe(tiny_checkpoint("markerV0-bert"), False)
    set_loaded(nlp.get_pipe("gliner").model, checkpoint.load(tiny_checkpoint("markerV0-bert")))
    expected = [(e.text, e.label_) for e in nlp(TEXT).ents]
    nlp.to_disk(tmp_path / "pipeline")
    config = tmp_path / "pipeline" / "config.cfg"
    config.write_text(config.read_text().replace("mixed_precision = false", 'mixed_precision = "fp16"'))
    with pytest.raises(ValueError, match="CUDA only"):
        spacy.load(tmp_path / "pipeline")
    nlp = spacy.load(tmp_path / "pipeline", config={"components": {"gliner": {"model": {"mixed_precision": False}}}})
    assert get_loaded(nlp.get_pipe("gliner").model).device.type == "cpu"
    assert [(e.text, e.label_) for e in nlp(TEXT).ents] == expected
