"""Install a packaged pipeline as a user would on another machine, then load it with the network off.

The new virtual environment borrows nothing from this one (no site-packages, no PYTHONPATH):
torch goes in first (``--torch``: the CPU wheel, so that no CUDA packages come), then
``pip install --find-links DIST NAME`` takes the pipeline's wheel and the spacy-gliner
wheel beside it from DIST (spacy-gliner is not on the package index) and everything else
(spaCy, transformers, ...) from the package index pip is configured with: the commands of
the README's "Packaging a pipeline". That takes a few minutes. The pipeline is then loaded
and run with no network device where ``unshare -rn`` works (Linux user namespaces), else
with the Hugging Face Hub switched off by settings; spaCy, torch, spacy-gliner and the
pipeline must all be the new environment's.
"""

import json
import os
import subprocess
import tempfile
import venv
from pathlib import Path
from typing import Dict, List

import typer
from wasabi import msg

app = typer.Typer(add_completion=False)

LOAD = """
import json, sys, spacy, spacy_gliner, torch
nlp = spacy.load(sys.argv[1])
doc = nlp(sys.argv[2], component_cfg={"gliner": {"labels": sys.argv[3].split(","), "threshold": 0.1}})
where = {"spacy": spacy.__file__, "torch": torch.__file__, "spacy_gliner": spacy_gliner.__file__,
         sys.argv[1]: str(spacy.util.get_package_path(sys.argv[1]))}
entities = [[e.text, e.label_] for e in doc.spans["sc"]]
print(json.dumps({"where": where, "pipeline": nlp.pipe_names, "entities": entities}))
"""
# What would let the new environment see this one's packages.
BORROWING = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")


def network_off() -> List[str]:
    """A command prefix that runs without network, or [] where that is not possible."""
    try:
        subprocess.run(["unshare", "-rn", "true"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return ["unshare", "-rn"]


def run(cmd: List[str], env: Dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        msg.fail(f"Failed: {' '.join(cmd)}", done.stdout[-4000:] + done.stderr[-4000:], exits=1)
    return done.stdout


def one_wheel(dist: Path, project: str, what: str) -> Path:
    """The wheel of ``project`` in ``dist`` (wheel file names write ``-`` as ``_``)."""
    wheels = sorted(dist.glob(f"{project.replace('-', '_')}-*.whl"))
    if len(wheels) != 1:
        msg.fail(f"Expected one wheel of {project} in {dist}, found {len(wheels)}", what, exits=1)
    return wheels[0]


@app.command()
def main(
    dist: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="Folder holding the pipeline's wheel and a spacy-gliner wheel"
    ),
    name: str = typer.Argument(..., help="Package name, e.g. en_gliner_zero_shot"),
    torch: str = typer.Option(
        "torch==2.13.0",
        help="What pip installs first: the CPU build of torch (here the configured index has the CPU wheel of 2.13.0)",
    ),
    text: str = typer.Option(
        "Marie Curie won the Nobel Prize while working at the University of Paris.", help="Text to run"
    ),
    labels: str = typer.Option("person,award,organization", help="Comma-separated labels"),
) -> None:
    dist = dist.resolve()
    pipeline = one_wheel(dist, name, "Build it with: python -m spacy package PIPELINE OUT --name ... --build wheel")
    one_wheel(
        dist,
        "spacy-gliner",
        "spacy-gliner is not on the package index: build its wheel beside the pipeline's, python -m pip wheel"
        f" --no-deps SPACY_GLINER_SOURCE --wheel-dir {dist}",
    )
    env = {k: v for k, v in os.environ.items() if k not in BORROWING}
    env["PYTHONNOUSERSITE"] = "1"
    prefix = network_off()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True).create(root)
        python = str(root / "bin" / "python")
        msg.info(f"Installing {pipeline.name} and its requirements in a fresh environment (a few minutes)")
        run([python, "-m", "pip", "install", "--quiet", "--no-compile", torch], env)
        run([python, "-m", "pip", "install", "--quiet", "--no-compile", "--find-links", str(dist), name], env)
        offline = {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        result = json.loads(run(prefix + [python, "-c", LOAD, name, text, labels], offline).strip().splitlines()[-1])
        outside = {module: path for module, path in result["where"].items() if not path.startswith(str(root))}
        if outside:
            msg.fail(f"Not loaded from the new environment {root}: {outside}", exits=1)
    where = (
        "with no network device (unshare -rn)" if prefix else "offline by settings (no unshare here): HF_HUB_OFFLINE"
    )
    msg.good(
        f"Installed {pipeline.name} in a fresh environment (nothing borrowed: spacy, torch, spacy_gliner and "
        f"{name} all loaded from it) and loaded it {where}"
    )
    msg.text(f"pipeline {result['pipeline']}; entities (threshold 0.1): {result['entities']}")


if __name__ == "__main__":
    app()
