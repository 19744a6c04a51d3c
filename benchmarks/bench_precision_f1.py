"""CoNLL-2003 test F1 and speed of each ``mixed_precision`` mode (float32, bf16, int8) of one model.

The test split of ../shared/data/benchmarks/conll2003 (the benchmark's own words, its four
types as labels) is scored with ``nlp.evaluate`` (exact spans, ents_p/r/f) at the
component's threshold, once per mode, each mode in the same process one after the other,
so the ratios of the modes' times are comparable. ``--model``: an official checkpoint
folder (default ref_minilm) or a trained spaCy pipeline (``spacy train``'s model-best).
``--limit`` scores the first N test sentences only.

    python benchmarks/bench_precision_f1.py --threads 2
    python benchmarks/bench_precision_f1.py --threads 1 --limit 50   # quick check

Run in the benchmark environment (``make bench-setup``) or the project's own venv.
Results: docs/benchmarks.md ("Precision modes").
"""

import argparse
import os
import time
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from _paths import DATA, REF  # noqa: E402

MODES = {"float32": False, "bf16": "bf16", "int8": "int8"}


def build(model: Path, mixed_precision: Any, labels: List[str], threshold: float) -> Any:
    """A pipeline with ``mixed_precision`` set: a checkpoint folder gets a fresh component, a
    spaCy pipeline is loaded with its model block's setting overridden."""
    import spacy

    import spacy_gliner.component  # noqa: F401  (registers the factory)

    if (model / "config.cfg").exists():
        nlp = spacy.load(model, config={"components": {"gliner": {"model": {"mixed_precision": mixed_precision}}}})
        nlp.get_pipe("gliner").threshold = threshold
        return nlp
    nlp = spacy.blank("en")
    config = {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(model), "mixed_precision": mixed_precision}
    nlp.add_pipe("gliner", config={"model": config, "labels": labels, "threshold": threshold, "batch_size": 32})
    return nlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REF)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="first N test sentences (0: all)")
    args = parser.parse_args()

    import json

    import torch
    from spacy.training import Example

    from spacy_gliner.data.corpora import read_benchmark

    torch.set_num_threads(args.threads)
    conll = DATA / "benchmarks" / "conll2003"
    labels = json.loads((conll / "labels.json").read_text(encoding="utf8"))
    results: Dict[str, Dict[str, float]] = {}
    for mode in args.modes.split(","):
        nlp = build(args.model, MODES[mode], labels, args.threshold)
        gold = list(read_benchmark(conll / "test.json", nlp.vocab))
        gold = gold[: args.limit] if args.limit else gold
        examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold]
        nlp(gold[0].text)  # load the weights, make the reduced copy
        start = time.perf_counter()
        scores = nlp.evaluate(examples)
        seconds = time.perf_counter() - start
        words = sum(len(doc) for doc in gold)
        results[mode] = {
            "p": scores["ents_p"],
            "r": scores["ents_r"],
            "f": scores["ents_f"],
            "seconds": seconds,
            "words_per_s": words / seconds,
        }
        print(f"  {mode}: F1 {100 * scores['ents_f']:.1f} in {seconds:.1f} s", flush=True)
        del nlp
    print(
        f"\nmodel {args.model.name}, CoNLL-2003 test ({len(gold)} sentences, {words} words), threshold"
        f" {args.threshold}, {args.threads} thread(s)\n"
    )
    print("| mode | P | R | F1 | seconds | words/s | x float32 |")
    print("|---|---|---|---|---|---|---|")
    base = results.get("float32")
    for mode, r in results.items():
        ratio = f"{r['words_per_s'] / base['words_per_s']:.2f}" if base else "-"
        print(
            f"| {mode} | {100 * r['p']:.1f} | {100 * r['r']:.1f} | {100 * r['f']:.1f} | {r['seconds']:.1f} |"
            f" {r['words_per_s']:.0f} | {ratio} |"
        )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
