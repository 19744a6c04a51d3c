"""``mixed_precision`` "int8" and "bf16": predictions from a reduced-precision copy of the
network, close to float32; the float32 network still trains and is what gets saved."""
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator

import numpy as np
import pytest
import spacy
import torch
from safetensors.torch import load_file

import spacy_gliner.component  # noqa: F401  (registers the factory)
from spacy_gliner.architectures import get_loaded
from spacy_gliner.model import checkpoint
from spacy_gliner.model.network import reduced_precision_copy

from conftest import REF_MINILM

TEXTS = [
    "Marie Curie won the Nobel Prize in 1903 while working at the University of Paris.",
    "Apple opened a new office in Berlin, said Tim Cook on Monday.",
    "The Eiffel Tower in Paris was designed by Gustave Eiffel's company.",
]
LABELS = ["person", "organization", "location", "date", "award"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_nlp(mixed_precision: Any) -> spacy.Language:
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(REF_MINILM), "mixed_precision": mixed_precision}
    nlp.add_pipe("gliner", config={"model": model, "labels": LABELS, "threshold": 0.3})
    return nlp


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
    hooks = [module.register_forward_hook(lambda module, args, out, name=name: seen.append((name, out.dtype)))
             for name, module in (("linear", layer.intermediate.dense), ("layernorm", layer.output.LayerNorm), ("span layer", copy.span_layer))]
    list(pipes["bf16"].pipe(TEXTS[:1]))
    for hook in hooks:
        hook.remove()
    assert set(seen) == {("linear", torch.bfloat16), ("layernorm", torch.float32), ("span layer", torch.bfloat16)}


@pytest.mark.parametrize("mode,tolerance", [("int8", 0.1), ("bf16", 0.1)])
def test_reduced_precision_changes_scores_only_slightly(pipes: Dict[Any, spacy.Language], mode: str, tolerance: float) -> None:
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
def test_every_family_predicts_close_to_float32_in_the_reduced_precisions(tiny_checkpoint, name: str, mode: str) -> None:
    def candidates(mixed_precision: Any) -> Dict[tuple, float]:
        nlp = spacy.blank("en")
        model = {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(tiny_checkpoint(name)), "mixed_precision": mixed_precision}
        nlp.add_pipe("gliner", config={"model": model, "labels": LABELS, "threshold": 0.05, "nested": True})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a mode that is slow on this CPU says so
            docs = list(nlp.pipe(TEXTS))
        return {(i, s.start, s.end, s.label_): float(score) for i, doc in enumerate(docs) for s, score in zip(doc.spans["sc"], doc.spans["sc"].attrs["scores"])}

    exact, reduced = candidates(False), candidates(mode)  # random tiny weights: looser than ref_minilm's
    common = exact.keys() & reduced.keys()
    assert exact and len(common) >= 0.75 * len(exact)
    assert max(abs(exact[k] - reduced[k]) for k in common) < 0.2
