"""mixed_precision: its values normalised once at the entry, each mode's device rule checked
before any work (fp16 CUDA only, int8 CPU only), and the advice on which mode suits a CPU.

The device check sits where the network gets its device (``set_loaded``), so
``spacy.require_gpu()`` called after building the pipeline still counts, and CPU-only tools
may build an fp16 config.
"""
import warnings
from pathlib import Path
from typing import Any

import pytest
import spacy
import torch

from spacy_gliner.architectures import build_gliner_model, get_loaded, set_loaded
from spacy_gliner.model import checkpoint, precision

from conftest import REF_MINILM

TEXT = "Ada Lovelace worked with Charles Babbage in London."
AVX2 = precision.CPU("AVX2 CPU", "AVX2", frozenset({"avx", "avx2", "fma"}))
AVX512 = precision.CPU("AVX-512 CPU", "AVX512", frozenset({"avx2", "avx512f"}))
AVX512_BF16 = precision.CPU("Zen 4", "AVX512", frozenset({"avx2", "avx512f", "avx512_bf16"}))
AMX = precision.CPU("Sapphire Rapids", "AVX512", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8"}))


def pipe(source: Path, setting: Any) -> spacy.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={
        "model": {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(source), "mixed_precision": setting},
        "labels": ["person"],
    })
    return nlp


@pytest.mark.parametrize("setting", ["fp16", True])
def test_fp16_on_the_cpu_fails_before_running(setting: Any, tiny_checkpoint) -> None:
    nlp = pipe(tiny_checkpoint("markerV0-bert"), setting)  # building is fine: no device yet
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
    nlp = pipe(tiny_checkpoint("markerV0-bert"), "fp16")
    model = nlp.get_pipe("gliner").model
    set_loaded(model, checkpoint.load(tiny_checkpoint("markerV0-bert")))
    assert model.shims[0]._mixed_precision is True


def test_a_saved_fp16_pipeline_loads_on_the_cpu_as_the_message_says(tiny_checkpoint, tmp_path: Path) -> None:
    nlp = pipe(tiny_checkpoint("markerV0-bert"), False)
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


@pytest.mark.parametrize("given,stored", [(False, False), (True, "fp16"), ("fp16", "fp16"), ("bf16", "bf16"), ("int8", "int8")])
def test_true_means_fp16_from_the_entry_on(given: Any, stored: Any) -> None:
    assert build_gliner_model(source=str(REF_MINILM), mixed_precision=given).attrs["mixed_precision"] == stored


@pytest.mark.parametrize("bad", [1, 0, None, "fp8", "FP16", "float32"])
def test_other_mixed_precision_values_are_refused_at_the_entry(bad: Any) -> None:
    with pytest.raises(ValueError, match="mixed_precision must be false .* 'fp16', 'bf16', 'int8'"):
        build_gliner_model(source=str(REF_MINILM), mixed_precision=bad)


def test_int8_off_the_cpu_fails_before_running(monkeypatch: pytest.MonkeyPatch, tiny_checkpoint) -> None:
    import thinc.util

    monkeypatch.setattr(thinc.util, "get_torch_default_device", lambda: torch.device("cuda", 0))
    nlp = pipe(tiny_checkpoint("markerV0-bert"), "int8")
    with pytest.raises(ValueError, match="'int8' runs on the CPU only .*'cuda'.* use 'bf16' or 'fp16' on a GPU"):
        set_loaded(nlp.get_pipe("gliner").model, checkpoint.load(tiny_checkpoint("markerV0-bert")))


@pytest.mark.parametrize("cpu,mode,warned", [
    (AVX2, "bf16", "emulated"), (AVX512, "bf16", "emulated"), (AMX, "int8", "'bf16' is 1.7-2.1x float32"),
    (AVX512_BF16, "int8", "'bf16' is 1.7-2.1x float32"), (AMX, "bf16", None), (AVX2, "int8", None), (AVX2, False, None),
])
def test_a_mode_that_is_slow_on_this_cpu_is_named_at_load(
    monkeypatch: pytest.MonkeyPatch, tiny_checkpoint, cpu: precision.CPU, mode: Any, warned: Any
) -> None:
    monkeypatch.setattr(precision, "this_cpu", lambda: cpu)
    model = pipe(tiny_checkpoint("markerV0-bert"), mode).get_pipe("gliner").model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        set_loaded(model, checkpoint.load(tiny_checkpoint("markerV0-bert")))
    messages = [str(w.message) for w in caught if "mixed_precision" in str(w.message)]
    if warned is None:
        assert not messages
    else:
        assert len(messages) == 1 and warned in messages[0] and cpu.name in messages[0]


@pytest.mark.parametrize("cpu,mode", [(AVX2, "float32"), (AVX512, "float32"), (AVX512_BF16, "'bf16'"), (AMX, "'bf16'")])
def test_the_advice_names_the_mode_for_each_kind_of_cpu(cpu: precision.CPU, mode: str) -> None:
    assert precision.advice(cpu).startswith(f"use {mode}")


def test_this_cpu_is_read_from_torch_and_cpuinfo() -> None:
    cpu = precision.this_cpu()
    assert cpu.capability == torch.backends.cpu.get_cpu_capability()
    if Path("/proc/cpuinfo").exists():
        assert cpu.flags and cpu.name
        assert cpu.native_bf16 == bool({"avx512_bf16", "amx_bf16"} & cpu.flags)


@pytest.mark.parametrize("cpu,mode", [(AVX2, "float32"), (AMX, "'bf16'")])
def test_info_says_which_mode_suits_this_cpu(monkeypatch: pytest.MonkeyPatch, cpu: precision.CPU, mode: str) -> None:
    from typer.testing import CliRunner

    from spacy_gliner.cli.app import app

    monkeypatch.setattr(precision, "this_cpu", lambda: cpu)
    result = CliRunner().invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("this CPU"))
    assert cpu.name in row and f"use {mode}" in row
