"""The steps of ``benchmarks/gpu.sh`` that are Python, and the one table it writes.

    python benchmarks/bench_gpu.py inference OUT --device cuda   # float32/bf16/fp16 vs the official library
    python benchmarks/bench_gpu.py corpus OUT                    # CoNLL-2003 slices as .spacy, for spacy train
    python benchmarks/bench_gpu.py texts OUT                     # the benchmark sentences as JSONL, for the Ray step
    python benchmarks/bench_gpu.py table OUT                     # OUT/steps.tsv and OUT/*.json -> OUT/gpu.md

``inference``: the sentences of ``bench_inference.py`` (the first ``--per-dataset`` test
sentences of each benchmark dataset, each with its own labels), threshold 0.3, the official
library and spacy-gliner in each mode on the same device in one process, loading and a warm-up
untimed, the best of ``--batch-sizes``; entities compared as in ``bench_inference.py`` (the
official ones expanded to spaCy tokens). Each mode that fails is a row saying why.
"""

import argparse
import json
import os
import platform
import traceback
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _paths import DATA, REF  # noqa: E402
from bench_inference import (
    Task,
    _official_inference,
    agreement,
    count_words,
    load_tasks,
    run_spacy_gliner,
)  # noqa: E402

MODES = {"float32": False, "bf16": "bf16", "fp16": "fp16", "int8": "int8"}


def official(tasks: List[Task], threshold: float, batch_size: int, device: str) -> Dict[str, Any]:
    from gliner import GLiNER

    model = GLiNER.from_pretrained(str(REF), local_files_only=True).to(device)
    return _official_inference(model, tasks, threshold, batch_size)


def inference(
    out: Path, device: str, modes: List[str], per_dataset: int, batch_sizes: List[int], threshold: float
) -> None:
    """Rows of OUT/inference.json: one per system, best batch size, entities against the official ones."""
    import torch

    if device == "cuda":
        import spacy

        spacy.require_gpu(0)
    tasks = load_tasks(per_dataset, 0, 0)["sentences"]
    words = count_words(tasks)
    systems = {"official": lambda b: official(tasks, threshold, b, device)}
    systems.update(
        {f"spacy-gliner {mode}": lambda b, m=MODES[mode]: run_spacy_gliner(tasks, threshold, b, m) for mode in modes}
    )
    best: Dict[str, Dict[str, Any]] = {}
    for name, run in systems.items():
        for batch_size in batch_sizes:
            try:
                result = run(batch_size)
            except Exception as err:  # a mode that fails on this machine is a row, not the end of the run
                best.setdefault(name, {"error": f"{type(err).__name__}: {err}".splitlines()[0][:200]})
                traceback.print_exc()
                break
            if "seconds" not in best.get(name, {}) or result["seconds"] < best[name]["seconds"]:
                best[name] = dict(result, batch_size=batch_size)
            print(f"  {name} batch {batch_size}: {result['seconds']:.2f} s", flush=True)
    reference = best.get("official", {})
    rows = []
    for name, r in best.items():
        row: Dict[str, Any] = {"system": name, "device": device}
        if "error" in r:
            rows.append(dict(row, error=r["error"]))
            continue
        row.update(batch_size=r["batch_size"], seconds=r["seconds"], words_per_s=words / r["seconds"])
        if "seconds" in reference:
            row["x_official"] = reference["seconds"] / r["seconds"]
            if name != "official":
                same, n, gained, lost = agreement(r["entities"], reference["entities"], tasks, to_tokens=True)
                row.update(identical=f"{same}/{n}", gained=gained, lost=lost)
        rows.append(row)
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or platform.machine()
    info = {
        "device_name": gpu,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "sentences": sum(len(t[1]) for t in tasks),
        "words": words,
        "threshold": threshold,
    }
    (out / "inference.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1), encoding="utf8")


def corpus(out: Path) -> None:
    from spacy_gliner.data.corpora import convert_benchmark

    convert_benchmark(DATA / "benchmarks" / "conll2003", out / "corpus", progress=False)


def texts(out: Path, per_dataset: int) -> None:
    tasks = load_tasks(per_dataset, 0, 0)["sentences"]
    with (out / "texts.jsonl").open("w", encoding="utf8") as f:
        for _, sentences, _ in tasks:
            for sentence in sentences:
                f.write(json.dumps({"text": sentence}) + "\n")


def _steps(out: Path) -> List[Dict[str, Any]]:
    """OUT/steps.tsv: name, exit status, seconds, log file (written by gpu.sh, one line a step)."""
    rows = []
    path = out / "steps.tsv"
    for line in path.read_text(encoding="utf8").splitlines() if path.exists() else []:
        name, rc, seconds, log = line.split("\t")
        rows.append({"name": name, "rc": int(rc), "seconds": float(seconds), "log": log})
    return rows


def _why(log: Path, rc: int) -> str:
    """The last meaningful line of a failed step's log (124: its time limit)."""
    if rc == 124:
        return "timed out"
    lines = (
        [line.strip() for line in log.read_text(encoding="utf8", errors="replace").splitlines() if line.strip()]
        if log.exists()
        else []
    )
    return (lines[-1][:160] if lines else f"exit status {rc}").replace("|", "/")


def _train_result(folder: Path) -> str:
    for name in ("model-best", "model-last"):
        meta = folder / name / "meta.json"
        if meta.exists():
            performance = json.loads(meta.read_text(encoding="utf8")).get("performance", {})
            if performance.get("ents_f") is not None:
                return f"dev ents F1 {100 * performance['ents_f']:.1f} ({name})"
    return "no model written"


def _records(path: Path) -> str:
    if not path.exists():
        return "no output"
    lines = path.read_text(encoding="utf8").splitlines()
    entities = sum(len(json.loads(line).get("entities", [])) for line in lines)
    return f"{len(lines)} records, {entities} entities"


def table(out: Path) -> str:
    """The markdown table of one gpu.sh run: every step with its status and time, the inference rows."""
    lines = ["| step | status | seconds | result |", "|---|---|---|---|"]
    results = {"train": lambda: _train_result(out / "train"), "ray": lambda: _records(out / "ray.jsonl")}
    for step in _steps(out):
        status = "ok" if step["rc"] == 0 else f"**failed** ({_why(Path(step['log']), step['rc'])})"
        result = results[step["name"]]() if step["rc"] == 0 and step["name"] in results else ""
        lines.append(f"| {step['name']} | {status} | {step['seconds']:.0f} | {result} |")
    path = out / "inference.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf8"))
        info = data["info"]
        lines += [
            "",
            (
                f"Inference on {info['device_name']} (torch {info['torch']}, CUDA {info['cuda']}): {info['sentences']}"
                f" sentences, {info['words']} words, threshold {info['threshold']}."
            ),
            "",
            "| system | best batch | words/s | x official | texts = official | entities gained / lost |",
            "|---|---|---|---|---|---|",
        ]
        for row in data["rows"]:
            if "error" in row:
                lines.append(f"| {row['system']} | **failed** ({row['error'].replace('|', '/')}) | | | | |")
                continue
            x = f"{row['x_official']:.2f}" if "x_official" in row else "-"
            agree = (row.get("identical", "-"), f"{row['gained']} / {row['lost']}" if "gained" in row else "-")
            lines.append(
                f"| {row['system']} | {row['batch_size']} | {row['words_per_s']:.0f} | {x} | {agree[0]} | {agree[1]} |"
            )
    text = "\n".join(lines) + "\n"
    (out / "gpu.md").write_text(text, encoding="utf8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("inference", "corpus", "texts", "table"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--modes", default="float32,bf16,fp16")
    parser.add_argument("--per-dataset", type=int, default=100)
    parser.add_argument("--batch-sizes", default="32,128")
    parser.add_argument("--threshold", type=float, default=0.3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "inference":
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
        inference(args.out, args.device, args.modes.split(","), args.per_dataset, batch_sizes, args.threshold)
    elif args.step == "corpus":
        corpus(args.out)
    elif args.step == "texts":
        texts(args.out, args.per_dataset)
    else:
        print(table(args.out), end="")


if __name__ == "__main__":
    main()
