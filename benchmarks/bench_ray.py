"""Throughput of ``spacy-gliner predict`` in one process vs ``--engine ray`` with 1 and 2 workers.

The same 2,400 benchmark sentences (the first 300 of each dataset under
``../shared/data/benchmarks``) go through each path as a JSONL file, with the reference
checkpoint and one label list (person, organization, location).
Each run is a fresh ``python -m spacy_gliner predict`` process, timed from start to exit,
so Ray's start-up is counted; a one-record Ray run measures that start-up alone. Torch
threads: the single process uses all cores; each Ray worker uses one (``--workers N``
means N cores). Outputs are checked equal (entities per record).

    python benchmarks/bench_ray.py            # ~10 minutes on 2 cores
    python benchmarks/bench_ray.py --per-dataset 50   # a quick look
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).parent))
from _paths import DATA, REF  # noqa: E402

LABELS = "person,organization,location"


def corpus(per_dataset: int) -> List[Dict[str, object]]:
    records = []
    for folder in sorted((DATA / "benchmarks").iterdir()):
        items = json.loads((folder / "test.json").read_text(encoding="utf8"))[:per_dataset]
        records += [{"id": f"{folder.name}-{i}", "text": x["sentence"]} for i, x in enumerate(items)]
    return records


def run(source: Path, out: Path, threads: int, extra: List[str]) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "spacy_gliner",
        "predict",
        str(source),
        "-o",
        str(out),
        "-m",
        str(REF),
        "-l",
        LABELS,
        *extra,
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def entities(path: Path) -> List[list]:
    return [
        [(e["start"], e["end"], e["label"]) for e in json.loads(line)["entities"]]
        for line in path.read_text(encoding="utf8").splitlines()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-dataset", type=int, default=300)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    records = corpus(args.per_dataset)
    words = sum(len(str(r["text"]).split()) for r in records)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "in.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
        one = folder / "one.jsonl"
        one.write_text(json.dumps(records[0]) + "\n", encoding="utf8")
        rows = []
        reference = None
        for name, threads, extra in [
            ("single process", cores, []),
            ("ray, 1 worker", 1, ["--engine", "ray", "--workers", "1"]),
            ("ray, 2 workers", 1, ["--engine", "ray", "--workers", "2"]),
        ]:
            out = folder / f"{len(rows)}.jsonl"
            seconds = run(source, out, threads, extra)
            found = entities(out)
            reference = reference or found
            rows.append((name, seconds, len(records) / seconds, words / seconds, found == reference))
        startup = run(one, folder / "startup.jsonl", 1, ["--engine", "ray", "--workers", "1"])
        single = run(one, folder / "startup1.jsonl", cores, [])
    print(f"{len(records)} records, {words} words, {cores} cores; wall time per run, process start to exit\n")
    print("| path | seconds | records/s | words/s | same entities as single process |")
    print("|---|---|---|---|---|")
    for name, seconds, rps, wps, same in rows:
        print(f"| {name} | {seconds:.1f} | {rps:.1f} | {wps:.0f} | {'yes' if same else 'NO'} |")
    print(f"\none-record run: single process {single:.1f} s, ray (cluster start + worker load) {startup:.1f} s")


if __name__ == "__main__":
    main()
