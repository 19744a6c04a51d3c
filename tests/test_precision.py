"""mixed_precision (``spacy_gliner.model.precision``): its values normalised once at the
entry, each mode's device rule checked before any work (fp16 CUDA only, int8 CPU only), the
advice on which mode suits a CPU, and the "int8" and "bf16" predictions from a
reduced-precision copy of the network, close to float32, while the float32 network still
trains and is what gets saved.

The device check sits where the network gets its device (``set_loaded``), so
``spacy.require_gpu()`` called after building the pipeline still counts, and CPU-only tools
may build an fp16 config.
"""

import warnings
from pathlib import Path
from typing import Any, Dict, Sequence

import numpy as np
import pytest
import spacy
import torch
from helpers.data import REF_MINILM
from safetensors.torch import load_file

from spacy_gliner.architectures import build_gliner_model, get_loaded, set_loaded
from spacy_gliner.model import checkpoint, precision
from spacy_gliner.model.network import reduced_precision_copy

TEXT = "Ada Lovelace worked with Charles Babbage in London."
TEXTS = [
    "Marie Curie won the Nobel Prize in 1903 while working at the University of Paris.",
    "Apple opened a new office in Berlin, said Tim Cook on Monday.",
    "The Eiffel Tower in Paris was designed by Gustave Eiffel's company.",
]
LABELS = ["person", "organization", "location", "date", "award"]
AVX2 = precision.CPU("AVX2 CPU", "AVX2", frozenset({"avx", "avx2", "fma"}))
AVX512 = precision.CPU("AVX-512 CPU", "AVX512", frozenset({"avx2", "avx512f"}))
AVX512_BF16 = precision.CPU("Zen 4", "AVX512", frozenset({"avx2", "avx512f", "avx512_bf16"}))
AMX = precision.CPU("Sapphire Rapids", "AVX512", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8"}))


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the reduced-precision tolerances were measured on one thread


def pipe(source: Path, setting: Any, labels: Sequence[str] = ("person",), **config: Any) -> spacy.Language:
    """Blank English with gliner on ``source`` in mixed precision ``setting``."""
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(source), "mixed_precision": setting}
    nlp.add_pipe("gliner", config={"model": model, "labels": list(labels), **config})
    return nlp


def make_nlp(mixed_precision: Any) -> spacy.Language:
    """The reference checkpoint in a mode, threshold 0.3 (a weak model)."""
    return pipe(REF_MINILM, mixed_precision, LABELS, threshold=0.3)


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


@pytest.mark.parametrize(
    "given,stored", [(False, False), (True, "fp16"), ("fp16", "fp16"), ("bf16", "bf16"), ("int8", "int8")]
)
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


@pytest.mark.parametrize(
    "cpu,mode,warned",
    [
        (AVX2, "bf16", "emulated"),
        (AVX512, "bf16", "emulated"),
        (AMX, "int8", "'bf16' is 1.7-2.1x float32"),
        (AVX512_BF16, "int8", "'bf16' is 1.7-2.1x float32"),
        (AMX, "bf16", None),
        (AVX2, "int8", None),
        (AVX2, False, None),
    ],
)
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


# -- predictions of the reduced-precision copy -------------------------------------------
@pytest.fixture(scope="module")
def pipes() -> Dict[Any, spacy.Language]:
    return {mode: make_nlp(mode) for mode in (False, "int8", "bf16")}


def scores(nlp: spacy.Language) -> Dict[tuple, float]:
    """(text, start char, end char, label) -> score of every candidate above the threshold."""
    found = {}
    for i, doc in enumerate(nlp.pipe(TEXTS)):
        group = doc.spans["sc"]
        for span, score in zip(group, group.attrs["scores"]):
            found[i, span.start_char, span.end_char, span.label_] = float(score)
    return found


def test_int8_quantizes_the_linear_layers_of_a_copy_sharing_the_float_weights(pipes: Dict[Any, spacy.Language]) -> None:
    model = pipes["int8"].get_pipe("gliner").model
    list(pipes["int8"].pipe(TEXTS[:1]))
    master = get_loaded(model).network
    copy = model.shims[0].inference_network()
    quantized = torch.ao.nn.quantized.dynamic.Linear
    assert copy is not master
    assert isinstance(copy.encoder.encoder.layer[0].attention.self.query, quantized)
    assert isinstance(copy.prompt_layer[0], quantized) and isinstance(copy.span_layer.project_start[3], quantized)
    # float: the feed-forward layers (int8 moved scores too far) and the output MLP the head slices
    assert type(copy.encoder.encoder.layer[0].intermediate.dense) is torch.nn.Linear
    assert type(copy.encoder.encoder.layer[0].output.dense) is torch.nn.Linear
    assert type(copy.span_layer.out_project[0]) is torch.nn.Linear
    assert copy.encoder.embeddings.word_embeddings.weight is master.encoder.embeddings.word_embeddings.weight
    assert all(type(m) is not quantized for m in master.modules())
    assert all(p.dtype == torch.float32 for p in master.parameters())


def test_bf16_predicts_with_bfloat16_linear_weights_under_autocast(pipes: Dict[Any, spacy.Language]) -> None:
    """The copy's linear layers hold bf16 weights (no cast per call); everything else is the
    float32 original, shared; it runs under a bf16 autocast, so the matmuls run in bf16 while
    the encoder's residual sums and LayerNorms stay float32."""
    model = pipes["bf16"].get_pipe("gliner").model
    list(pipes["bf16"].pipe(TEXTS[:1]))
    master = get_loaded(model).network
    copy = model.shims[0].inference_network()
    linears = {name for name, module in copy.named_modules() if isinstance(module, torch.nn.Linear)}
    assert len(linears) > 40
    for name, param in copy.named_parameters():
        assert param.dtype == (torch.bfloat16 if name.rpartition(".")[0] in linears else torch.float32), name
    assert copy.encoder.embeddings.word_embeddings.weight is master.encoder.embeddings.word_embeddings.weight
    assert copy.lstm.weight_ih_l0 is master.lstm.weight_ih_l0
    assert all(p.dtype == torch.float32 for p in master.parameters())
    seen = []
    layer = copy.encoder.encoder.layer[-1]
    hooks = [
        module.register_forward_hook(lambda module, args, out, name=name: seen.append((name, out.dtype)))
        for name, module in (
            ("linear", layer.intermediate.dense),
            ("layernorm", layer.output.LayerNorm),
            ("span layer", copy.span_layer),
        )
    ]
    list(pipes["bf16"].pipe(TEXTS[:1]))
    for hook in hooks:
        hook.remove()
    assert set(seen) == {("linear", torch.bfloat16), ("layernorm", torch.float32), ("span layer", torch.bfloat16)}


@pytest.mark.parametrize("mode,tolerance", [("int8", 0.1), ("bf16", 0.1)])
def test_reduced_precision_changes_scores_only_slightly(
    pipes: Dict[Any, spacy.Language], mode: str, tolerance: float
) -> None:
    exact, reduced = scores(pipes[False]), scores(pipes[mode])
    assert exact and reduced != exact
    common = exact.keys() & reduced.keys()
    assert len(common) >= 0.8 * len(exact)
    assert max(abs(exact[k] - reduced[k]) for k in common) < tolerance
    # what one mode finds and the other not sits near the threshold
    assert all(abs(s - 0.3) < tolerance for k, s in {**exact, **reduced}.items() if k not in common)


def test_int8_saves_and_loads_float32_official_weights(pipes: Dict[Any, spacy.Language], tmp_path: Path) -> None:
    nlp = pipes["int8"]
    before = scores(nlp)
    nlp.to_disk(tmp_path / "pipe")
    saved = load_file(str(tmp_path / "pipe" / "gliner" / "model" / "model.safetensors"))
    original = load_file(str(REF_MINILM / "model.safetensors"))
    assert saved.keys() == original.keys()
    for name, tensor in saved.items():
        assert tensor.dtype == original[name].dtype and torch.equal(tensor, original[name]), name
    again = spacy.load(tmp_path / "pipe")
    assert again.get_pipe("gliner").model.attrs["mixed_precision"] == "int8"
    assert scores(again) == before


def test_the_copy_is_made_again_when_the_float32_weights_change() -> None:
    nlp = make_nlp("int8")
    first = scores(nlp)
    shim = nlp.get_pipe("gliner").model.shims[0]
    copy = shim.inference_network()
    assert shim.inference_network() is copy  # unchanged weights: the same copy
    with torch.no_grad():
        shim._model.prompt_layer[3].bias.add_(0.5)  # in place, as load_state_dict does
    assert shim.inference_network() is not copy
    assert scores(nlp) != first


def test_only_the_reduced_precisions_have_a_copy() -> None:
    network = checkpoint.load(REF_MINILM).network
    with pytest.raises(ValueError, match="precision must be one of \\('bf16', 'int8'\\)"):
        reduced_precision_copy(network, "fp16")


def test_int8_is_close_to_float32_on_the_official_scores(pipes: Dict[Any, spacy.Language]) -> None:
    """The same candidates as float32 for the clear entities (score > 0.5)."""
    exact, reduced = scores(pipes[False]), scores(pipes["int8"])
    clear = {k for k, s in exact.items() if s > 0.5}
    assert clear and clear <= reduced.keys()
    assert np.corrcoef([exact[k] for k in clear], [reduced[k] for k in clear])[0, 1] > 0.9 or len(clear) < 3


@pytest.mark.parametrize("name", ["marker-bert-h48", "token-bert-w3", "bi-markerV0-bert-h48", "bi-token-deberta"])
@pytest.mark.parametrize("mode", ["bf16", "int8"])
def test_every_family_predicts_close_to_float32_in_the_reduced_precisions(
    tiny_checkpoint, name: str, mode: str
) -> None:
    def candidates(mixed_precision: Any) -> Dict[tuple, float]:
        nlp = pipe(tiny_checkpoint(name), mixed_precision, LABELS, threshold=0.05, nested=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a mode that is slow on this CPU says so
            docs = list(nlp.pipe(TEXTS))
        return {
            (i, s.start, s.end, s.label_): float(score)
            for i, doc in enumerate(docs)
            for s, score in zip(doc.spans["sc"], doc.spans["sc"].attrs["scores"])
        }

    exact, reduced = candidates(False), candidates(mode)  # random tiny weights: looser than ref_minilm's
    common = exact.keys() & reduced.keys()
    assert exact and len(common) >= 0.75 * len(exact)
    assert max(abs(exact[k] - reduced[k]) for k in common) < 0.2
