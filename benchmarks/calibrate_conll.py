"""Per-label thresholds chosen on CoNLL-2003 dev vs the best single threshold chosen on the same
dev, both scored once on test (spaCy's scorer, ``nlp.evaluate``: exact spans and labels).

The model reads the dataset's labels zero-shot (``--model``: a checkpoint, or a saved
pipeline, e.g. a fine-tuned one). ``spacy_gliner.data.calibration.calibrate`` runs the pipe
once over dev at ``--floor`` and picks the thresholds; its best shared threshold is the
baseline. Test is never used to choose anything. Writes the dev table, the test scores and
the plot (``--plot``, default ``docs/calibration_conll.png``):

    python benchmarks/calibrate_conll.py --model ../shared/data/models/ref_minilm
"""

import argparse
import json
import time
from pathlib import Path

from _paths import DATA, REF, ROOT  # noqa: E402
from spacy.training import Example
from spacy.util import filter_spans
from wasabi import table

from spacy_gliner.config import describe_threshold
from spacy_gliner.data.calibration import Gold, calibrate, plot
from spacy_gliner.loading import RunOptions, load_pipeline


def gold(split: str, limit: int):
    items = json.loads((DATA / "benchmarks" / "conll2003" / f"{split}.json").read_text(encoding="utf8"))
    items = items[:limit] if limit else items
    return [Gold(x["sentence"], {(e["pos"][0], e["pos"][1], e["type"]) for e in x["entities"]}) for x in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REF))
    parser.add_argument("--floor", type=float, default=0.05)
    parser.add_argument("--min-recall", type=float, default=None)
    parser.add_argument("--limit", type=int, default=0, help="first N sentences of each split (0: all)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "calibration_conll.png")
    args = parser.parse_args()
    labels = json.loads((DATA / "benchmarks" / "conll2003" / "labels.json").read_text(encoding="utf8"))
    pipeline = load_pipeline(args.model, RunOptions(labels))
    start = time.perf_counter()
    result = calibrate(pipeline, gold("dev", args.limit), min_recall=args.min_recall, floor=args.floor)
    print(f"calibrated on dev in {time.perf_counter() - start:.0f} s")
    print(table(result.rows(), header=("dev: label", "threshold", "P", "R", "F", "support"), divider=True))
    plot(result, args.plot)
    test = gold("test", args.limit)
    nlp = pipeline.nlp
    examples, dropped = [], 0
    for g in test:
        reference = nlp.make_doc(g.text)
        spans = [reference.char_span(a, b, label=label, alignment_mode="expand") for a, b, label in sorted(g.spans)]
        kept = filter_spans(spans)  # the few gold entities that share a token with another: the longest kept
        dropped += len(spans) - len(kept)
        reference.set_ents(kept)
        examples.append(Example(nlp.make_doc(g.text), reference))
    print(
        f"test: {len(examples)} sentences, {sum(len(e.reference.ents) for e in examples)} gold entities ({dropped}"
        " overlapping ones left out)"
    )
    rows = []
    for name, threshold in (("best single threshold (dev)", result.shared), ("per label (dev)", result.thresholds)):
        scores = nlp.evaluate(examples, component_cfg={pipeline.name: {"labels": labels, "threshold": threshold}})
        rows.append(
            (name, describe_threshold(threshold), *(f"{100 * scores[k]:.1f}" for k in ("ents_p", "ents_r", "ents_f")))
        )
        rows += [
            (f"  {label}", "", *(f"{100 * v[k]:.1f}" for k in "prf"))
            for label, v in sorted(scores["ents_per_type"].items())
        ]
    print(table(rows, header=("test", "threshold", "P", "R", "F"), divider=True))


if __name__ == "__main__":
    main()
