"""Exact-parity check of ``predict_entities`` against the official ``GLiNER.inference``.

Run after every speed change: the same entities (text, label, offsets) at several
thresholds and scores within 1e-4, on real CoNLL-2003 test sentences with ref_minilm.

    python benchmarks/check_parity.py [--n 80] [--batch-size 8]
"""

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from _paths import DATA, REF  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=80)
    parser.add_argument("--dataset", default="conll2003")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    from gliner import GLiNER

    from spacy_gliner.model import checkpoint
    from spacy_gliner.model.search import predict_entities

    folder = DATA / "benchmarks" / args.dataset
    texts = [d["sentence"] for d in json.loads((folder / "test.json").read_text())[: args.n]]
    labels = json.loads((folder / "labels.json").read_text())
    official = GLiNER.from_pretrained(str(REF), local_files_only=True)
    ours = checkpoint.load(str(REF))
    failures = 0
    for threshold in (0.1, 0.3, 0.5):
        expected = official.inference(texts, labels, threshold=threshold, batch_size=args.batch_size)
        got = predict_entities(ours, texts, labels, threshold=threshold, batch_size=args.batch_size)
        n_ents, worst = 0, 0.0
        for i, (e, g) in enumerate(zip(expected, got)):
            key = lambda ents: [(x["start"], x["end"], x["label"]) for x in ents]  # noqa: E731
            if key(e) != key(g):
                failures += 1
                print(f"threshold {threshold}, text {i}: entities differ\n  official {key(e)}\n  ours     {key(g)}")
                continue
            n_ents += len(e)
            worst = max([worst] + [abs(a["score"] - b["score"]) for a, b in zip(e, g)])
        if worst > 1e-4:
            failures += 1
        print(f"threshold {threshold}: {n_ents} entities, max score difference {worst:.2e}")
    print("PARITY OK" if not failures else f"PARITY FAILED ({failures})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
