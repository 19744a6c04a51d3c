"""Many labels: a bi-encoder (labels encoded once, windows without a prompt) vs a uni-encoder
(labels in the prompt, split into label groups that each take an encoder pass over the text).

Two tiny random checkpoints written by the official library (tests/helpers/official_checkpoints.py:
BERT text encoder of width 32, 2 layers; the bi-encoder's labels encoder is another tiny
BERT), so the numbers show how the work grows with the number of labels, not the speed of
a real model. Texts: the first ``--sentences`` CoNLL-2003 test sentences. Labels: 10, 100,
1,000 distinct phrases ("kind of thing 17"). Each run: ``nlp.pipe`` over the texts, one
torch thread; "first" includes encoding the bi-encoder's labels, "cached" is a second run
over the same texts (label vectors kept by the component). Words are GLiNER words.

    OMP_NUM_THREADS=1 python benchmarks/bench_labels.py --sentences 50
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from _paths import DATA, ROOT

sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=50)
    parser.add_argument("--labels", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    torch.set_num_threads(1)

    import spacy
    from helpers.official_checkpoints import write_official_checkpoint

    from spacy_gliner.model.words import split_words

    items = json.loads((DATA / "benchmarks" / "conll2003" / "test.json").read_text(encoding="utf8"))
    texts = [item["sentence"] for item in items[: args.sentences]]
    n_words = sum(len(split_words(t)) for t in texts)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {
            "uni-encoder (label groups)": write_official_checkpoint(Path(tmp) / "uni", span_mode="markerV0"),
            "bi-encoder": write_official_checkpoint(Path(tmp) / "bi", span_mode="markerV0", labels_encoder=True),
        }
        for n_labels in args.labels:
            labels = [f"kind of thing {i}" for i in range(n_labels)]
            for name, folder in models.items():
                nlp = spacy.blank("en")
                nlp.add_pipe("gliner", config={"model": str(folder), "labels": labels, "threshold": 0.99})
                nlp.initialize()
                timings = []
                for _ in range(2):
                    start = time.perf_counter()
                    list(nlp.pipe(texts))
                    timings.append(time.perf_counter() - start)
                rows.append((n_labels, name, n_words / timings[0], n_words / timings[1]))
                print(
                    f"{n_labels:>5} labels  {name:<28} first {rows[-1][2]:>9.0f} words/s  cached {rows[-1][3]:>9.0f}"
                    " words/s",
                    flush=True,
                )
    print(f"\n{len(texts)} sentences, {n_words} words, torch {torch.__version__}, 1 thread\n")
    print("| labels | model | words/s (first run) | words/s (second run) |")
    print("|---:|---|---:|---:|")
    for n_labels, name, first, cached in rows:
        print(f"| {n_labels:,} | {name} | {first:,.0f} | {cached:,.0f} |")


if __name__ == "__main__":
    main()
