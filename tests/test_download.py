"""The real download path of the default checkpoint, offline (see ``hub_fixture``).

``urchade/gliner_small-v2.1`` ships no tokenizer: the first ``add_pipe("gliner")`` finds the
checkpoint in the Hugging Face cache, then the SentencePiece tokenizer of
``microsoft/deberta-v3-small`` in the same cache, converts it and adds GLiNER's tokens. Each
check runs in a process of its own with ``HF_HOME`` and ``HF_HUB_OFFLINE=1`` set before
anything reads them, as a user's process would.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from helpers.hub_fixture import DEFAULT_ID, ENCODER_ID, NORMALISED_LABELS, NORMALISED_TEXTS, THRESHOLD, hub_env
from helpers.parity import Comparison, OfficialEntities, compare

TESTS = Path(__file__).parent
FIXTURE = TESTS / "helpers" / "hub_fixture.py"
pytestmark = pytest.mark.slow  # a SentencePiece model trained and five fresh processes: about 90 s of CPU


def _run(args: List[str], env: Dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], env=env, cwd=str(cwd), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HF_HOME with the stand-ins of the default checkpoint and of its encoder."""
    home = tmp_path_factory.mktemp("hf_home")
    _run([str(FIXTURE), "cache", str(home)], hub_env(home), FIXTURE.parent)
    return home


@pytest.fixture(scope="module")
def default_run(hub: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """What a fresh process gets from ``add_pipe("gliner")`` and the official library; the pipeline saved."""
    tmp = tmp_path_factory.mktemp("default")
    _run([str(FIXTURE), "default", str(tmp / "result.json"), str(tmp / "pipeline")], hub_env(hub), FIXTURE.parent)
    result = json.loads((tmp / "result.json").read_text(encoding="utf8"))
    result["saved"] = tmp / "pipeline"
    return result


def test_the_cache_looks_like_the_hub_download(hub):
    repo = hub / "hub" / ("models--" + DEFAULT_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / (repo / "refs" / "main").read_text()
    assert sorted(p.name for p in snapshot.iterdir()) == ["gliner_config.json", "model.safetensors"]
    config = json.loads((snapshot / "gliner_config.json").read_text(encoding="utf8"))
    assert config["model_name"] == ENCODER_ID and config["class_token_index"] == -1
    encoder = hub / "hub" / ("models--" + ENCODER_ID.replace("/", "--"))
    assert sorted(p.name for p in next((encoder / "snapshots").iterdir()).iterdir()) == [
        "config.json",
        "spm.model",
        "tokenizer_config.json",
    ]


def test_add_pipe_with_the_default_id_loads_from_the_cache(default_run):
    assert default_run["source"] == DEFAULT_ID
    ours, theirs = default_run["pieces"]
    assert ours == theirs  # the same converted SentencePiece tokenizer, GLiNER's tokens added the same way
    assert sum(len(e) for e in default_run["official"]) >= 5  # the texts do have entities


def official_entities(run: Dict[str, Any]) -> List[OfficialEntities]:
    """The run's official entities, with their candidates (which explain a difference)."""
    return [
        OfficialEntities(e, lambda c=candidates: c, THRESHOLD, True, False)
        for e, candidates in zip(run["official"], run["official_candidates"])
    ]


@pytest.mark.parity
def test_parity_with_the_official_library_on_normalised_characters(default_run):
    """Ligatures, full-width letters, odd spaces, emoji, combining accents: same entities and
    scores, from predict_entities and from the component (its exact characters, whatever its tokens)."""
    theirs = official_entities(default_run)
    compare(theirs, default_run["chars"], THRESHOLD, Comparison()).check()
    compare(theirs, default_run["exact"], THRESHOLD, Comparison()).check()


def test_saved_pipeline_loads_with_an_empty_cache(default_run, tmp_path):
    """``to_disk`` carries the tokenizer: ``spacy.load`` needs neither the Hub nor its cache."""
    saved = default_run["saved"]
    assert {"tokenizer.json", "tokenizer_config.json"} <= {p.name for p in (saved / "gliner" / "model").iterdir()}
    empty = tmp_path / "empty_hf_home"
    empty.mkdir()
    _run([str(FIXTURE), "saved", str(saved), str(tmp_path / "out.json")], hub_env(empty), FIXTURE.parent)
    reloaded = json.loads((tmp_path / "out.json").read_text(encoding="utf8"))
    compare(default_run["docs"], reloaded, THRESHOLD, Comparison()).check()
    assert not list(empty.rglob("*.safetensors"))  # nothing was looked for in the cache


@pytest.mark.parity
def test_cli_predict_with_the_default_id(default_run, hub, tmp_path):
    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in NORMALISED_TEXTS), encoding="utf8")
    args = ["-m", "spacy_gliner", "predict", str(source), "--model", DEFAULT_ID, "--threshold", str(THRESHOLD)]
    for label in NORMALISED_LABELS:
        args += ["--labels", label]
    result = _run(args, hub_env(hub), tmp_path)
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["text"] for r in records] == list(NORMALISED_TEXTS)
    # the command line writes GLiNER's own characters: the official entities
    compare(official_entities(default_run), [r["entities"] for r in records], THRESHOLD, Comparison()).check()


def test_missing_encoder_in_the_cache_says_how_to_get_it(hub, tmp_path):
    """The checkpoint is cached but not its encoder's tokenizer: the error names the download."""
    import shutil

    home = tmp_path / "hf_home"
    shutil.copytree(hub, home, symlinks=True)
    shutil.rmtree(home / "hub" / ("models--" + ENCODER_ID.replace("/", "--")))
    code = (
        "import spacy; nlp = spacy.blank('en'); nlp.add_pipe('gliner', config={'labels': ['person']}); nlp('Ada"
        " Lovelace')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=hub_env(home), cwd=str(tmp_path), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "ships no tokenizer files" in result.stderr
    assert f"hf download {ENCODER_ID} --local-dir <folder>" in result.stderr
    assert "pip install sentencepiece" not in result.stderr  # installed here: not the cause


# What a Python without sentencepiece and protobuf finds: neither package (run before transformers is imported).
WITHOUT_SENTENCEPIECE = """
import importlib.abc, importlib.util, sys
GONE = ("sentencepiece", "google")
def gone(name):
    return name.split(".")[0] in GONE
real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: None if gone(name) else real_find_spec(name, package)
class Gone(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if gone(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Gone())
"""


def test_missing_sentencepiece_says_what_to_install(hub, tmp_path):
    """transformers 5 without sentencepiece/protobuf falls back to its tiktoken reader, which fails
    naming tiktoken: the advice must still name the packages that convert the SentencePiece model."""
    code = (
        WITHOUT_SENTENCEPIECE
        + "import spacy; nlp = spacy.blank('en'); nlp.add_pipe('gliner', config={'labels': ['person']}); nlp('Ada"
        " Lovelace')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=hub_env(hub), cwd=str(tmp_path), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert (
        "is a SentencePiece model that transformers converts with the packages sentencepiece and protobuf, missing here"
        in result.stderr
    ), result.stderr[-3000:]
    assert "`pip install sentencepiece protobuf`" in result.stderr


# -- a pipeline saved here (transformers 5) under transformers 4 ---------------------------------
TF4_REQUIREMENTS = ["transformers==4.57.*", "safetensors", "sentencepiece", "protobuf", "tokenizers"]


@pytest.fixture(scope="module")
def tf4_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with transformers 4.57 (``SPACY_GLINER_TF4_VENV`` names a built one to reuse).

    Only transformers and its tokenizer packages are installed there: torch, spaCy and this
    package come from the running environment's site-packages, appended after the venv's own.
    """
    import os

    given = os.environ.get("SPACY_GLINER_TF4_VENV")
    venv = Path(given) if given else tmp_path_factory.mktemp("tf4") / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "-q", *TF4_REQUIREMENTS],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"cannot build a transformers 4.57 venv ({' '.join(step[:4])}): {done.stderr[-500:]}")
    return python


def _tf4_run(python: Path, code: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    import site

    own = [p for p in site.getsitepackages() if Path(p).is_dir()]
    prelude = f"import site, sys\nfor p in {own!r}: site.addsitedir(p)\nsys.path.insert(0, {str(TESTS)!r})\n"
    prelude += "import transformers\nassert transformers.__version__.startswith('4.57'), transformers.__version__\n"
    return subprocess.run([str(python), "-c", prelude + code], env=env, capture_output=True, text=True)


def test_saved_pipeline_loads_under_transformers_4(default_run, tf4_python, tmp_path):
    """The tokenizer files written under transformers 5 read the same under transformers 4.57."""
    import shutil

    empty = tmp_path / "hf_home"
    empty.mkdir()
    out = tmp_path / "tf4.json"
    code = (
        "from helpers import hub_fixture\nfrom pathlib import"
        f" Path\nhub_fixture.run_saved_pipeline(Path({str(default_run['saved'])!r}), Path({str(out)!r}))"
    )
    done = _tf4_run(tf4_python, code, hub_env(empty))
    assert done.returncode == 0, done.stderr[-3000:]
    reloaded = json.loads(out.read_text(encoding="utf8"))
    compare(default_run["docs"], reloaded, THRESHOLD, Comparison()).check()

    # files as transformers 5 writes them, unchanged: transformers 4 fails, and the error says why
    model = tmp_path / "as-written" / "model"
    shutil.copytree(default_run["saved"] / "gliner" / "model", model)
    cfg = json.loads((model / "tokenizer_config.json").read_text(encoding="utf8"))
    cfg["extra_special_tokens"] = cfg.pop("additional_special_tokens")
    (model / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf8")
    code = f"from spacy_gliner.model import checkpoint\ncheckpoint.load({str(model)!r})"
    done = _tf4_run(tf4_python, code, hub_env(empty))
    assert done.returncode != 0
    assert "were written by transformers 5" in done.stderr and "transformers 4.57" in done.stderr
    assert "sentencepiece" not in done.stderr.split("CheckpointError")[-1]
