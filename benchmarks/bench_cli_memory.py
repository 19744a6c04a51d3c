"""Memory of ``spacy-gliner predict`` on a large JSONL corpus: it must stay flat.

Writes a JSONL file of ``--lines`` records (CoNLL-2003 test sentences, cycled, with an
id), runs ``python -m spacy_gliner predict`` on it in a subprocess, and samples the
process's resident memory (VmRSS) and the records written so far every second. The run
stops when the file is done or after ``--seconds``; the table shows RSS against records
done, and the summary compares RSS early in the run with RSS at its end.

    python benchmarks/bench_cli_memory.py --lines 1000000 --seconds 600
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _paths import DATA  # noqa: E402


def write_corpus(path: Path, lines: int) -> None:
    sentences = [
        x["sentence"] for x in json.loads((DATA / "benchmarks" / "conll2003" / "test.json").read_text(encoding="utf8"))
    ]
    with path.open("w", encoding="utf8") as file:
        for i in range(lines):
            file.write(json.dumps({"id": i, "text": sentences[i % len(sentences)]}) + "\n")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class LineCounter:
    """Lines in a growing file, reading only what was added since the last call."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def __call__(self) -> int:
        if self.path.exists():
            with self.path.open("rb") as file:
                file.seek(self.offset)
                data = file.read()
            self.offset += len(data)
            self.lines += data.count(b"\n")
        return self.lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="records in the generated JSONL file")
    parser.add_argument("--seconds", type=float, default=300, help="stop the run after this long")
    parser.add_argument(
        "--model", default=str(DATA / "models" / "ref_minilm"), help="GLiNER checkpoint or saved pipeline"
    )
    parser.add_argument("--batch-size", default="16", help="--batch-size of the predict run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus, out = Path(tmp) / "corpus.jsonl", Path(tmp) / "out.jsonl"
        write_corpus(corpus, args.lines)
        print(f"corpus: {args.lines:,} lines, {corpus.stat().st_size / 2**20:.0f} MiB")
        command = [
            sys.executable,
            "-m",
            "spacy_gliner",
            "predict",
            str(corpus),
            "--labels",
            "person,organization,location",
        ]
        command += ["--model", args.model, "--threshold", "0.3", "--batch-size", args.batch_size, "--output", str(out)]
        started = time.perf_counter()
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        count, samples = LineCounter(out), []  # type: Tuple[LineCounter, List[Tuple[float, int, float]]]
        while process.poll() is None and time.perf_counter() - started < args.seconds:
            time.sleep(1.0)
            try:
                samples.append((time.perf_counter() - started, count(), rss_mib(process.pid)))
            except FileNotFoundError:  # the process ended between poll and read
                break
        finished = process.poll() is not None
        if not finished:
            process.terminate()
            process.wait()
    running = [s for s in samples if s[1] > 0]  # after the model loaded and the first batch was written
    if len(running) < 2:
        sys.exit("Too few records were written to judge memory: raise --seconds.")
    print(f"{'seconds':>8} {'records':>10} {'RSS MiB':>9}")
    step = max(1, len(running) // 12)
    for seconds, records, rss in running[::step] + [running[-1]]:
        print(f"{seconds:8.0f} {records:10,} {rss:9.0f}")
    first, last = running[0], running[-1]
    rate = (last[1] - first[1]) / max(last[0] - first[0], 1e-9)
    print(
        f"{'finished' if finished else 'stopped'} after {last[1]:,} records ({rate:.0f} docs/s); RSS {first[2]:.0f} MiB"
        f" at {first[1]:,} records -> {last[2]:.0f} MiB at {last[1]:,} (peak {max(s[2] for s in running):.0f} MiB)"
    )


if __name__ == "__main__":
    main()
