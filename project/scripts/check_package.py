"""Install a packaged pipeline in a fresh virtual environment with the network off, then load it.

The new environment has no packages of its own: a ``.pth`` file adds this environment's
site-packages after its own (as ``--system-site-packages`` does for a system Python), so
spaCy, torch and spacy-gliner come from here and the wheel's requirements are met without
an index. pip runs with ``--no-index --find-links``; where ``unshare -rn`` works (Linux user
namespaces), installing and loading also run with no network device at all.
"""
import json
import os
import site
import subprocess
import tempfile
import venv
from pathlib import Path
from typing import List

import typer
from wasabi import msg

app = typer.Typer(add_completion=False)

LOAD = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
doc = nlp(sys.argv[2], component_cfg={"gliner": {"labels": sys.argv[3].split(","), "threshold": 0.1}})
print(json.dumps({"package": spacy.util.get_package_path(sys.argv[1]).as_posix(), "pipeline": nlp.pipe_names,
                  "entities": [[e.text, e.label_] for e in doc.spans["sc"]]}))
"""


def network_off() -> List[str]:
    """A command prefix that runs without network, or [] where that is not possible."""
    try:
        subprocess.run(["unshare", "-rn", "true"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return ["unshare", "-rn"]


def run(cmd: List[str], env: dict) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        msg.fail(f"Failed: {' '.join(cmd)}", done.stdout + done.stderr, exits=1)
    return done.stdout


@app.command()
def main(
    dist: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder holding the pipeline's wheel"),
    name: str = typer.Argument(..., help="Package name, e.g. en_gliner_zero_shot"),
    text: str = typer.Option("Marie Curie won the Nobel Prize while working at the University of Paris.", help="Text to run"),
    labels: str = typer.Option("person,award,organization", help="Comma-separated labels"),
) -> None:
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        msg.fail(f"Expected one wheel in {dist}, found {len(wheels)}", exits=1)
    prefix = network_off()
    env = {**os.environ, "PIP_NO_INDEX": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=False).create(root)
        python = str(root / "bin" / "python")
        purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env).strip()
        lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
        Path(purelib, "_parent_environment.pth").write_text(lines, encoding="utf8")
        run(prefix + [python, "-m", "pip", "install", "--no-index", "--find-links", str(dist.resolve()), name], env)
        result = json.loads(run(prefix + [python, "-c", LOAD, name, text, labels], env).strip().splitlines()[-1])
        if not result["package"].startswith(str(root)):
            msg.fail(f"{name} was loaded from {result['package']}, not from the new environment", exits=1)
    where = "with no network device (unshare -rn)" if prefix else "offline by settings (no unshare here): pip --no-index, HF_HUB_OFFLINE"
    msg.good(f"Installed {wheels[0].name} in a fresh environment and loaded it {where}")
    msg.text(f"pipeline {result['pipeline']}; entities (threshold 0.1): {result['entities']}")


if __name__ == "__main__":
    app()
