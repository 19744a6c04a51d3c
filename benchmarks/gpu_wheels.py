"""The wheels a locked-down CUDA machine needs for ``benchmarks/gpu.sh``, and the data it reads.

That machine has Python 3.12, torch and transformers, no spaCy and no network. On a machine
with the package index this resolves, for CPython 3.12 on manylinux x86_64: this package's
wheel, spaCy, thinc, the official ``gliner`` library, CuPy (spaCy reaches a GPU only through
CuPy: ``spacy.require_gpu``) and, unless ``--no-ray``, Ray Data, with all they need except
torch and all it needs, and transformers with the compiled packages that every release of it
needs (``ON_THE_MACHINE``): the CUDA machine has them. The rest of what transformers needs is
small and ships anyway, for a machine whose transformers is older than the one here. torch
and transformers stand in the resolution as empty local wheels (``+stub`` versions of the
ones installed here, with their requirements), so torch is never downloaded. Into ``OUT``: the wheels;
``requirements.txt`` (what gpu.sh
installs); ``provided.txt`` (what the CUDA machine must already have, as resolved here);
``data/`` (the ref_minilm checkpoint, CoNLL-2003 slices, the benchmark sentences).

    python benchmarks/gpu_wheels.py gpu-wheels            # make gpu-wheels
    python benchmarks/gpu_wheels.py gpu-wheels --no-ray --cupy cupy-cuda13x
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Set

from _paths import DATA, REF, ROOT

PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
TARGET = ["--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp", "--abi", "cp312"]
TARGET += [arg for platform in PLATFORMS for arg in ("--platform", platform)]
STUBS = ("torch", "transformers")
ON_THE_MACHINE = (
    "transformers",
    "tokenizers",
    "safetensors",
    "huggingface-hub",
    "numpy",
    "regex",
    "pyyaml",
)  # and torch's needs
OFFICIAL = "gliner==0.2.29"
TRAIN_SENTENCES, DEV_SENTENCES = 3000, 300


def stub_wheel(folder: Path, name: str, version: str, requires: Iterable[str] = ()) -> Path:
    """An empty wheel that only declares ``name`` ``version`` (and ``requires``)."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{dist}.dist-info/METADATA", metadata)
        wheel.writestr(
            f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: stub\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{dist}.dist-info/RECORD", "")
    return path


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def resolve(requirements: List[str], find_links: List[Path], index: bool = True) -> List[dict]:
    """pip's resolution for CPython 3.12 manylinux (nothing installed): its report's ``install`` list."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
        ]
        command += TARGET + ["--target", str(Path(tmp) / "target")] + (["--no-index"] if not index else [])
        command += [arg for folder in find_links for arg in ("--find-links", str(folder))] + requirements
        subprocess.run(command, check=True)
        return json.loads(report.read_text(encoding="utf8"))["install"]


def needed_by(roots: Iterable[str], installed: List[dict]) -> Set[str]:
    """Canonical names of ``roots`` and of everything they need, among ``installed`` (pip report entries)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    environment = dict(
        default_environment(),
        python_version=PYTHON,
        python_full_version=f"{PYTHON}.0",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
        extra="",
    )
    requires: Dict[str, List[str]] = {
        canonical(i["metadata"]["name"]): i["metadata"].get("requires_dist") or [] for i in installed
    }
    found: Set[str] = set()
    todo = [canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for text in requires.get(name, []):
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(canonical(requirement.name))
    return found


def copy_data(out: Path) -> None:
    """ref_minilm, CoNLL-2003 train/dev slices and the benchmark sentences, under ``out/data``
    in the layout of ../shared/data (gpu.sh points SPACY_GLINER_DATA at it)."""
    data = out / "data"
    shutil.copytree(REF, data / "models" / REF.name, dirs_exist_ok=True)
    for folder in sorted((DATA / "benchmarks").iterdir()):
        target = data / "benchmarks" / folder.name
        target.mkdir(parents=True, exist_ok=True)
        for split, limit in (("test", 1000), ("train", TRAIN_SENTENCES), ("dev", DEV_SENTENCES)):
            source = folder / f"{split}.json"
            if source.exists():
                rows = json.loads(source.read_text(encoding="utf8"))[:limit]
                (target / source.name).write_text(json.dumps(rows), encoding="utf8")
        shutil.copy(folder / "labels.json", target / "labels.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--cupy", default="cupy-cuda12x", help="the CuPy for the machine's CUDA major version (torch.version.cuda)"
    )
    parser.add_argument(
        "--no-ray", action="store_true", help="leave Ray Data out (gpu.sh then records its Ray step as not run)"
    )
    parser.add_argument("--no-data", action="store_true", help="leave data/ out")
    args = parser.parse_args()

    from importlib.metadata import requires, version

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)], check=True
    )
    wanted = ["spacy-gliner", OFFICIAL, args.cupy] + ([] if args.no_ray else ["ray[data]"])
    with tempfile.TemporaryDirectory() as tmp:
        stubs = {name: f"{version(name).split('+')[0]}+stub" for name in STUBS}
        for name, stub_version in stubs.items():
            stub_wheel(Path(tmp), name, stub_version, requires(name) or [])
        installed = resolve(wanted + [f"{name}=={v}" for name, v in stubs.items()], [out, Path(tmp)])
    on_machine = needed_by(["torch"], installed) | {canonical(name) for name in ON_THE_MACHINE}
    ours = {
        i["metadata"]["name"]: i["metadata"]["version"]
        for i in installed
        if canonical(i["metadata"]["name"]) not in on_machine
    }
    ours.pop("spacy-gliner", None)  # built above
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(out)]
        + TARGET
        + [f"{name}=={v}" for name, v in sorted(ours.items())],
        check=True,
    )
    (out / "requirements.txt").write_text("\n".join(wanted) + "\n", encoding="utf8")
    provided = sorted(
        f"{i['metadata']['name']}=={i['metadata']['version']}"
        for i in installed
        if canonical(i["metadata"]["name"]) in on_machine
    )
    (out / "provided.txt").write_text("\n".join(provided) + "\n", encoding="utf8")
    if not args.no_data:
        copy_data(out)
    size = sum(p.stat().st_size for p in out.glob("*.whl")) / 2**20
    print(
        f"{len(list(out.glob('*.whl')))} wheels, {size:.0f} MB, in {out}; the CUDA machine must have:"
        f" {', '.join(provided)}"
    )


if __name__ == "__main__":
    main()
