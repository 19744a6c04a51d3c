"""Few-shot MIT-Restaurant: GLiNER fine-tuned from ``ref_minilm`` vs spaCy's ``ner`` from its encoder.

The 1,520 sentences of ../shared/data/benchmarks/mit-restaurant (its only split) are
shuffled once (seed 0): the last 520 are the fixed test split, the first 1,000 the region
that train pools come from. A pool of 10 or 100 sentences is a seeded sample of that
region (another seed, another sample); the pool of 1,000 is the whole region in a seeded order.

* GLiNER: ``spacy train`` with the packaged ``finetune.cfg`` from ``ref_minilm`` (the small
  official-library checkpoint in ../shared/data/models), all eight types as labels, at its
  own learning rates (side ``gliner``) and at ``train_encoder.cfg``'s (``gliner-lr3e-4``).
  Zero-shot (pool 0) is ``ref_minilm`` itself with those labels.
* spaCy ``ner``: spaCy's own transformer recipe (``_spacy_ner.py``) on all-MiniLM-L6-v2, the
  encoder ref_minilm was trained from, in ``.venv-ner`` (``make bench-ner-setup``).

Both sides take the same steps over the same batches of 8 sentences (``EPOCHS`` passes over
the pool), warm up for 10% of them and are scored with ``spacy evaluate`` on the test split
(exact spans, all types; model-last: a few-shot user has no dev data, so the pool itself is
the dev corpus spaCy needs). Results go to ``<out>/results.json``, the curve to ``--plot``.

    make bench-ner-setup
    python benchmarks/bench_fewshot.py --threads 1 --seeds 0,1,2 --plot docs/fewshot_mit_restaurant.png

Every run is kept in ``<out>/runs/<side>-n<pool>-s<seed>/``; a run whose report exists is
not repeated, so more seeds or pools can be added later. Results: docs/benchmarks.md.
"""

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List

from _paths import DATA, REF, ROOT
from _spacy_ner import evaluate, gliner_config, minilm_path, ner_config, ner_python, train

SOURCE = DATA / "benchmarks" / "mit-restaurant"
FINETUNE = ROOT / "spacy_gliner" / "configs" / "finetune.cfg"
EPOCHS = {10: 50, 100: 20, 1000: 5}
# GLiNER's sides: (learning rate of the new layers, encoder's share of it). "gliner" is
# finetune.cfg as shipped (5e-5, encoder 1e-5: gentle, for strong checkpoints);
# "gliner-lr3e-4" takes train_encoder.cfg's rates (3e-4, encoder 5e-5 like spaCy's recipe).
GLINER_RATES = {"gliner": (5e-5, 0.2), "gliner-lr3e-4": (3e-4, 1 / 6)}
TEST_SIZE = 520
BATCH = 8


def split(out: Path, pools: List[int], seeds: List[int]) -> List[str]:
    """Write test.spacy and pool<n>-s<seed>.spacy; return the labels as GLiNER reads them."""
    import spacy
    import srsly
    from spacy.tokens import DocBin

    from spacy_gliner.data.corpora import DEFAULT_GOLD, read_benchmark

    out.mkdir(parents=True, exist_ok=True)
    docs = list(read_benchmark(SOURCE / "test.json", spacy.blank("en").vocab))
    order = list(range(len(docs)))
    random.Random(0).shuffle(order)
    region, test = order[:-TEST_SIZE], order[-TEST_SIZE:]
    # written once: the split is the same on every run, and another run may be reading it
    if not (out / "test.spacy").exists():
        DocBin(docs=[docs[i] for i in test]).to_disk(out / "test.spacy")
    for n in pools:
        for seed in seeds:
            pool = random.Random(seed).sample(region, n)
            if not (out / f"pool{n}-s{seed}-dev.spacy").exists():
                DocBin(docs=[docs[i] for i in pool]).to_disk(out / f"pool{n}-s{seed}.spacy")
                DocBin(docs=[docs[i] for i in pool[:50]]).to_disk(out / f"pool{n}-s{seed}-dev.spacy")
    return [DEFAULT_GOLD.type_name(t) for t in srsly.read_json(SOURCE / "labels.json")]


def zero_shot(out: Path, data: Path, labels: List[str], threads: int) -> Dict[str, Any]:
    """ref_minilm with the eight labels, saved as a pipeline and scored like the trained ones."""
    import spacy

    import spacy_gliner.component  # noqa: F401  (registers the factory)

    model = out / "model"
    if not model.exists():
        nlp = spacy.blank("en")
        nlp.add_pipe(
            "gliner",
            config={"labels": labels, "model": {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(REF)}},
        )
        nlp.initialize()
        nlp.to_disk(model)
    return evaluate(Path(sys.executable), model, data / "test.spacy", threads)


def run(side: str, n: int, seed: int, args: argparse.Namespace, labels: List[str]) -> Dict[str, Any]:
    """One training run and its test scores (read back if it ran before)."""
    out = args.out / "runs" / f"{side}-n{n}-s{seed}"
    report = out / "report.json"
    if report.exists():
        return json.loads(report.read_text())
    out.mkdir(parents=True, exist_ok=True)
    data = args.out / "data"
    steps = math.ceil(EPOCHS[n] * n / BATCH)
    common = [
        f"--paths.train={data / f'pool{n}-s{seed}.spacy'}",
        f"--paths.dev={data / f'pool{n}-s{seed}-dev.spacy'}",
        f"--training.max_steps={steps}",
        f"--training.eval_frequency={steps}",
        "--training.max_epochs=0",
        f"--training.optimizer.learn_rate.warmup_steps={max(1, steps // 10)}",
        f"--system.seed={seed}",
    ]
    if side in GLINER_RATES:
        python, config = Path(sys.executable), gliner_config(FINETUNE, out)
        rate, encoder_scale = GLINER_RATES[side]
        overrides = [
            *common,
            f"--paths.model={REF}",
            f"--components.gliner.labels={json.dumps(labels)}",
            f"--training.batcher.size={BATCH}",
            f"--training.optimizer.learn_rate.initial_rate={rate}",
            f"--components.gliner.model.encoder_lr_scale={encoder_scale}",
        ]
    else:
        python = ner_python(args.ner_python)
        config = ner_config(python, out, minilm_path(python), batch_size=BATCH)
        overrides = [*common, f"--training.optimizer.learn_rate.total_steps={steps}"]
    train_s = train(python, config, out, overrides, args.threads)
    scores = evaluate(python, out / "training" / "model-last", data / "test.spacy", args.threads)
    result = {"side": side, "pool": n, "seed": seed, "steps": steps, "train_wall_s": round(train_s, 1), **scores}
    report.write_text(json.dumps(result, indent=2))
    return result


def summarize(results: List[Dict[str, Any]]) -> Dict[str, Dict[int, Dict[str, float]]]:
    """Mean, min and max test F1 (in %) per side and pool size, with the seeds counted."""
    table: Dict[str, Dict[int, Dict[str, float]]] = {}
    for side in sorted({r["side"] for r in results}):
        for n in sorted({r["pool"] for r in results if r["side"] == side}):
            f = [100 * r["ents_f"] for r in results if r["side"] == side and r["pool"] == n]
            wall = [r.get("train_wall_s", 0.0) for r in results if r["side"] == side and r["pool"] == n]
            table.setdefault(side, {})[n] = {
                "mean": statistics.mean(f),
                "min": min(f),
                "max": max(f),
                "seeds": len(f),
                "train_wall_s": statistics.mean(wall),
            }
    return table


def plot(table: Dict[str, Dict[int, Dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {
        "gliner": "GLiNER from ref_minilm, finetune.cfg (5e-5)",
        "gliner-lr3e-4": "GLiNER from ref_minilm, finetune.cfg at 3e-4",
        "ner": "spaCy ner (spacy-transformers, all-MiniLM-L6-v2)",
    }
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for side, rows in table.items():
        sizes = [n for n in rows if n > 0]
        mean = [rows[n]["mean"] for n in sizes]
        err = [[rows[n]["mean"] - rows[n]["min"] for n in sizes], [rows[n]["max"] - rows[n]["mean"] for n in sizes]]
        ax.errorbar(sizes, mean, yerr=err, marker="o", capsize=3, label=names[side])
        if 0 in rows and side == "gliner":
            ax.axhline(rows[0]["mean"], linestyle="--", color="grey", label="GLiNER zero-shot (ref_minilm)")
    ax.set_xscale("log")
    ax.set_xlabel("training sentences")
    ax.set_ylabel("test F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title("MIT-Restaurant, 520 test sentences (bars: min-max over seeds)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_fewshot"))
    parser.add_argument("--pools", default="10,100,1000")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sides", default="gliner,gliner-lr3e-4,ner")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--ner-python", type=Path, default=None, help="interpreter with spacy-transformers (default .venv-ner)"
    )
    parser.add_argument("--plot", type=Path, default=None, help="write the F1 curve here (PNG)")
    parser.add_argument(
        "--summarize", action="store_true", help="train nothing: table (and plot) of every run in --out"
    )
    args = parser.parse_args()
    if args.summarize:
        return report([json.loads(p.read_text()) for p in sorted((args.out / "runs").glob("*/report.json"))], args)
    pools, seeds = [int(n) for n in args.pools.split(",")], [int(s) for s in args.seeds.split(",")]
    unknown = set(pools) - set(EPOCHS)
    if unknown:
        raise SystemExit(f"No epoch count for pool sizes {sorted(unknown)}: use {sorted(EPOCHS)}")
    import torch

    torch.set_num_threads(args.threads)
    labels = split(args.out / "data", pools, seeds)
    results = []
    sides = args.sides.split(",")
    unknown = set(sides) - set(GLINER_RATES) - {"ner"}
    if unknown:
        raise SystemExit(f"Unknown sides {sorted(unknown)}: use ner or {', '.join(GLINER_RATES)}")
    if any(side in GLINER_RATES for side in sides):
        zero = args.out / "runs" / "gliner-n0-s0"
        zero.mkdir(parents=True, exist_ok=True)
        if not (zero / "report.json").exists():
            (zero / "report.json").write_text(
                json.dumps(
                    {"side": "gliner", "pool": 0, "seed": 0, **zero_shot(zero, args.out / "data", labels, args.threads)}
                )
            )
        results.append(json.loads((zero / "report.json").read_text()))
    for n in pools:
        for seed in seeds:
            for side in sides:
                result = run(side, n, seed, args, labels)
                print(
                    json.dumps({k: result[k] for k in ("side", "pool", "seed", "steps", "train_wall_s", "ents_f")}),
                    flush=True,
                )
                results.append(result)
    report(results, args)


def report(results: List[Dict[str, Any]], args: argparse.Namespace) -> None:
    """results.json, a Markdown table on stdout and, with --plot, the curve."""
    table = summarize(results)
    (args.out / "results.json").write_text(json.dumps({"runs": results, "table": table}, indent=2))
    sizes = sorted({n for rows in table.values() for n in rows})
    print("| side | " + " | ".join(f"{n} sentences" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for side, rows in table.items():
        cells = [
            (
                f"{rows[n]['mean']:.1f} ({rows[n]['min']:.1f}-{rows[n]['max']:.1f}, {rows[n]['seeds']} seeds)"
                if n in rows
                else "-"
            )
            for n in sizes
        ]
        print(f"| {side} | " + " | ".join(cells) + " |")
    if args.plot:
        plot(table, args.plot)


if __name__ == "__main__":
    main()
