"""Long documents on CPU: time and peak memory of spacy-gliner on one Doc of 10k-100k words.

Each size runs in its own subprocess (so peak RSS is that document's): spacy.blank("en") +
"gliner" with ref_minilm, CoNLL-2003 labels, threshold 0.3, then ``nlp(text)`` once. The
text is the benchmark test sentences (CoNLL-2003 first, then the other datasets in name
order) joined by spaces, cut after N words. Printed: seconds, words/s, seconds per 1k
words relative to the smallest size (1.00 = linear), peak RSS, and the RSS growth over
the process after loading the model and a warm-up (what the document itself costs).

    python benchmarks/bench_long_documents.py --threads 1 --sizes 10000,20000,50000,100000
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _paths import DATA, REF  # noqa: E402


def document(n_words: int) -> str:
    from spacy_gliner.model.words import split_words

    folders = sorted((DATA / "benchmarks").iterdir(), key=lambda f: (f.name != "conll2003", f.name))
    sentences, count = [], 0
    for folder in folders:
        for item in json.loads((folder / "test.json").read_text(encoding="utf8")):
            sentences.append(item["sentence"])
            count += len(split_words(item["sentence"]))
            if count >= n_words:
                return " ".join(sentences)
    raise ValueError(f"the benchmark sentences hold only {count} words")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(args: argparse.Namespace) -> None:
    import spacy
    import torch

    import spacy_gliner.component  # noqa: F401

    if args.threads:
        torch.set_num_threads(args.threads)
    labels = json.loads((DATA / "benchmarks" / "conll2003" / "labels.json").read_text(encoding="utf8"))
    nlp = spacy.blank("en")
    nlp.max_length = 10**8
    nlp.add_pipe(
        "gliner", config={"model": str(REF), "labels": labels, "threshold": 0.3, "batch_size": args.batch_size}
    )
    nlp(document(300))  # warm-up
    text = document(args.words)
    base = current_rss_mb()
    start = time.perf_counter()
    doc = nlp(text)
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "base_rss_mb": base,
        "entities": len(doc.ents),
        "last_entity_char": doc.ents[-1].end_char if doc.ents else 0,
        "chars": len(text),
    }
    Path(args.out).write_text(json.dumps(result), encoding="utf8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,20000,50000,100000")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    parser.add_argument("--words", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.words:
        worker(args)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            out = Path(tmp) / f"{size}.json"
            command = [
                sys.executable,
                __file__,
                "--words",
                str(size),
                "--out",
                str(out),
                "--threads",
                str(args.threads),
                "--batch-size",
                str(args.batch_size),
            ]
            subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
            rows.append((size, json.loads(out.read_text(encoding="utf8"))))
            r = rows[-1][1]
            print(f"  {size} words: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    first_size, first = rows[0]
    print(
        "\n| words | seconds | words/s | s per 1k words vs smallest | peak RSS (MB) | RSS growth over loaded model (MB)"
        " | entities | last entity ends at char / text length |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size, r in rows:
        relative = (r["seconds"] / size) / (first["seconds"] / first_size)
        print(
            f"| {size} | {r['seconds']:.1f} | {size / r['seconds']:.0f} | {relative:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['peak_rss_mb'] - r['base_rss_mb']:.0f} | {r['entities']} | {r['last_entity_char']} / {r['chars']} |"
        )
    print(f"threads: {args.threads or 'default'}; load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
