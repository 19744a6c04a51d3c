"""benchmarks/gpu.sh and what it needs, on this CPU machine: every step runs with GPU=0 on a
tiny scale, a failing step is a row of the one table (the run goes on), and the wheels that
``make gpu-wheels`` prepares install offline for CPython 3.12 on manylinux."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable, Dict

import pytest
from helpers.data import BENCHMARKS, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_gpu  # noqa: E402
import gpu_wheels  # noqa: E402

SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def small_data(folder: Path, checkpoint: Path) -> Path:
    """A data folder in the layout of ../shared/data: a tiny checkpoint as ref_minilm, and a
    few sentences of two benchmarks (CoNLL-2003 with its train and dev splits too)."""
    shutil.copytree(checkpoint, folder / "models" / "ref_minilm")
    for name in ("conll2003", "CrossNER_AI"):
        target = folder / "benchmarks" / name
        target.mkdir(parents=True)
        shutil.copy(BENCHMARKS / name / "labels.json", target)
        for split in ("test", "train", "dev"):
            if (BENCHMARKS / name / f"{split}.json").exists():
                rows = json.loads((BENCHMARKS / name / f"{split}.json").read_text(encoding="utf8"))[:12]
                (target / f"{split}.json").write_text(json.dumps(rows), encoding="utf8")
    return folder


def run_script(data: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    environment = dict(
        os.environ,
        GPU="0",
        SCALE="tiny",
        INSTALL="0",
        SLOW="4",
        PYTHON=sys.executable,
        SPACY_GLINER_DATA=str(data),
        **env,
    )
    return subprocess.run(
        ["bash", str(SCRIPT), str(out / "no-wheels"), str(out)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=3600,
    )


def rows(table: str) -> Dict[str, str]:
    """First cell -> the whole row, for the markdown rows of a table."""
    return {
        line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ") and "---" not in line
    }


@pytest.mark.slow
def test_every_step_runs_on_the_cpu_and_lands_in_one_table(
    tmp_path: Path, tiny_checkpoint: Callable[[str], Path]
) -> None:
    data = small_data(tmp_path / "data", tiny_checkpoint("markerV0-bert"))
    done = run_script(data, tmp_path / "out")
    table = (tmp_path / "out" / "gpu.md").read_text(encoding="utf8")
    assert done.returncode == 0, done.stdout + done.stderr + table
    found = rows(table)
    for step in ("inference", "corpus", "train", "texts", "ray"):
        assert "| ok |" in found[step], table
    assert "dev ents F1" in found["train"] and "records" in found["ray"]
    assert found["ray"].split("|")[4].strip().startswith("4 records")  # SCALE=tiny: 2 sentences of each benchmark
    for system in ("official", "spacy-gliner float32", "spacy-gliner bf16"):
        assert system in found, table
    assert (
        "| 4/4 |" in found["spacy-gliner float32"] and "| 0 / 0 |" in found["spacy-gliner float32"]
    )  # float32 = official
    assert table == done.stdout[done.stdout.index("| step |") :]


@pytest.mark.slow
def test_a_failing_step_is_a_row_and_the_run_goes_on(tmp_path: Path) -> None:
    """No data at all: every step fails, each is a row saying why, the table is written, the exit status says so."""
    done = run_script(tmp_path / "nothing", tmp_path / "out")
    assert done.returncode == 1
    found = rows((tmp_path / "out" / "gpu.md").read_text(encoding="utf8"))
    for step in ("inference", "corpus", "train", "texts", "ray"):
        assert "**failed**" in found[step], found


def test_the_table_says_why_a_step_failed(tmp_path: Path) -> None:
    (tmp_path / "train.log").write_text(
        "Traceback...\nValueError: Cannot use GPU, CuPy is not installed\n\n", encoding="utf8"
    )
    (tmp_path / "steps.tsv").write_text(
        f"install\t0\t41\t{tmp_path / 'install.log'}\n"
        f"train\t1\t12\t{tmp_path / 'train.log'}\n"
        f"ray\t124\t150\t{tmp_path / 'ray.log'}\n",
        encoding="utf8",
    )
    (tmp_path / "inference.json").write_text(
        json.dumps(
            {
                "info": {
                    "device_name": "NVIDIA H100",
                    "torch": "2.9.0",
                    "cuda": "12.8",
                    "sentences": 800,
                    "words": 22350,
                    "threshold": 0.3,
                },
                "rows": [
                    {
                        "system": "official",
                        "device": "cuda",
                        "batch_size": 32,
                        "seconds": 10.0,
                        "words_per_s": 2235.0,
                        "x_official": 1.0,
                    },
                    {
                        "system": "spacy-gliner float32",
                        "device": "cuda",
                        "batch_size": 128,
                        "seconds": 2.0,
                        "words_per_s": 11175.0,
                        "x_official": 5.0,
                        "identical": "800/800",
                        "gained": 0,
                        "lost": 0,
                    },
                    {
                        "system": "spacy-gliner fp16",
                        "device": "cuda",
                        "error": "RuntimeError: CUDA error | out of memory",
                    },
                ],
            }
        ),
        encoding="utf8",
    )
    found = rows(bench_gpu.table(tmp_path))
    assert found["install"] == "| install | ok | 41 |  |"
    assert found["train"] == "| train | **failed** (ValueError: Cannot use GPU, CuPy is not installed) | 12 |  |"
    assert found["ray"] == "| ray | **failed** (timed out) | 150 |  |"
    assert found["spacy-gliner float32"] == "| spacy-gliner float32 | 128 | 11175 | 5.00 | 800/800 | 0 / 0 |"
    assert found["official"] == "| official | 32 | 2235 | 1.00 | - | - |"
    assert "**failed** (RuntimeError: CUDA error / out of memory)" in found["spacy-gliner fp16"]
    assert (tmp_path / "gpu.md").read_text(encoding="utf8").startswith("| step | status |")


def test_stub_wheels_stand_in_for_what_the_cuda_machine_has(tmp_path: Path) -> None:
    """The resolution sees torch and transformers as empty wheels, and keeps what they need out of the download."""
    stub = gpu_wheels.stub_wheel(tmp_path, "torch", "2.13.0+stub", ["filelock", "sympy>=1.13; python_version >= '3.9'"])
    assert stub.name == "torch-2.13.0+stub-py3-none-any.whl"
    with zipfile.ZipFile(stub) as wheel:
        metadata = wheel.read("torch-2.13.0+stub.dist-info/METADATA").decode()
    assert "Version: 2.13.0+stub" in metadata and "Requires-Dist: sympy>=1.13; python_version >= '3.9'" in metadata
    installed = [
        {
            "metadata": {
                "name": "torch",
                "version": "2.13.0+stub",
                "requires_dist": ["filelock", "sympy>=1.13", "pytest; extra == 'test'"],
            }
        },
        {"metadata": {"name": "filelock", "version": "3.0"}},
        {"metadata": {"name": "sympy", "version": "1.14", "requires_dist": ["mpmath<1.4,>=1.1.0"]}},
        {"metadata": {"name": "mpmath", "version": "1.3"}},
        {
            "metadata": {
                "name": "spacy",
                "version": "3.8",
                "requires_dist": ["numpy>=1.19", "tomli; python_version < '3.11'"],
            }
        },
        {"metadata": {"name": "numpy", "version": "2.3"}},
    ]
    on_machine = gpu_wheels.needed_by(["torch"], installed)
    assert on_machine == {"torch", "filelock", "sympy", "mpmath"}


@pytest.mark.slow
def test_the_wheels_install_offline_for_python_312_manylinux(tmp_path: Path) -> None:
    """``make gpu-wheels`` (from the package index), then an offline resolution of its
    requirements.txt for CPython 3.12 manylinux from that folder alone, with empty wheels for
    what provided.txt says the CUDA machine has."""
    out = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_wheels.py"), str(out), "--no-ray", "--no-data"],
        check=True,
        timeout=1200,
    )
    requirements = (out / "requirements.txt").read_text(encoding="utf8").split()
    assert requirements[:2] == ["spacy-gliner", "gliner==0.2.29"] and not any(r.startswith("ray") for r in requirements)
    provided = [line.split("==") for line in (out / "provided.txt").read_text(encoding="utf8").split()]
    names = {gpu_wheels.canonical(name) for name, _ in provided}
    assert {"torch", "transformers", "numpy", "huggingface-hub", "tokenizers"} <= names
    wheels = {gpu_wheels.canonical(p.name.split("-")[0]) for p in out.glob("*.whl")}
    assert {"spacy", "thinc", "gliner", "spacy-gliner", "cupy-cuda12x"} <= wheels and not wheels & names
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, version in provided:
        gpu_wheels.stub_wheel(stubs, name, version)
    installed = gpu_wheels.resolve(requirements, [out, stubs], index=False)
    resolved = {gpu_wheels.canonical(i["metadata"]["name"]) for i in installed}
    assert {"spacy", "gliner", "spacy-gliner"} <= resolved
