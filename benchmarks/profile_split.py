"""Where spacy-gliner's inference time goes, part by part, and how close each part runs to the CPU's speed.

The network's inputs for the benchmark sentences (those of ``bench_inference.py``, same
checkpoint, threshold and batch size) are captured once; then each part runs alone on
them under ``torch.inference_mode``: the encoder, the BiLSTM, the prompt layer, the span
layer's per-word MLPs and its per-span loop. Each part's multiply-adds are counted from
the tensor shapes, so the table shows both what a part costs against the encoder and
whether its kernels are slow (low G multiply-adds per second) or simply have that much
arithmetic to do (the issue-3 question: can head + decoding + spaCy get under 25% of the
encoder?). The rest of the pipeline (inputs, thresholding, decoding, spaCy) is the
end-to-end time minus the network's, both taken in the same ``nlp.pipe`` run.

    python benchmarks/profile_split.py --threads 2 --per-dataset 100
    python benchmarks/profile_split.py --threads 2 --per-dataset 100 --mixed-precision bf16   # or int8

With ``--mixed-precision``, the parts run in the network that predictions then run through
(the component's bf16 or int8 copy), and the dtype each part outputs is printed. Run in the
benchmark environment (``make bench-setup``) or the project's own venv.

Results: ``docs/benchmarks.md`` ("Where the time goes").
"""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inference import REF, load_tasks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-dataset", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings per part")
    parser.add_argument("--mixed-precision", default="false", choices=["false", "bf16", "int8"])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import spacy
    import torch

    import spacy_gliner.component  # noqa: F401  (registers the factory)

    torch.set_num_threads(args.threads)
    tasks = load_tasks(args.per_dataset, 0, 0)["sentences"]
    nlp = spacy.blank("en")
    precision = False if args.mixed_precision == "false" else args.mixed_precision
    model = {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(REF), "mixed_precision": precision}
    nlp.add_pipe(
        "gliner",
        config={"model": model, "labels": tasks[0][2], "threshold": args.threshold, "batch_size": args.batch_size},
    )

    def run_all() -> float:
        start = time.perf_counter()
        for _, texts, labels in tasks:
            list(nlp.pipe(texts, component_cfg={"gliner": {"labels": labels}}))
        return time.perf_counter() - start

    run_all()  # warm-up
    shim = nlp.get_pipe("gliner").model.shims[0]
    network = shim.inference_network() if precision else shim._model  # what predictions run through
    # The inputs of each stage, as the network's own forward pass builds them.
    seen: Dict[str, List[Any]] = {"batch": [], "lstm": [], "prompt": [], "span": []}
    clock = {"network": 0.0, "encoder": 0.0}

    def timed(module: torch.nn.Module, key: str) -> list:
        def before(*_: Any) -> None:
            clock[key + " start"] = time.perf_counter()

        def after(*_: Any) -> None:
            clock[key] += time.perf_counter() - clock[key + " start"]

        return [module.register_forward_pre_hook(before), module.register_forward_hook(after)]

    def keep(key: str) -> Callable[..., None]:
        return lambda _, args_, kwargs: seen[key].append((args_, kwargs))

    run_lstm = network._run_lstm
    network._run_lstm = lambda *a: seen["lstm"].append(a) or run_lstm(*a)
    hooks = (
        timed(network, "network")
        + timed(network.encoder, "encoder")
        + [
            network.register_forward_pre_hook(keep("batch"), with_kwargs=True),
            network.prompt_layer.register_forward_pre_hook(keep("prompt"), with_kwargs=True),
            network.span_layer.register_forward_pre_hook(keep("span"), with_kwargs=True),
        ]
    )
    total = run_all()
    for hook in hooks:
        hook.remove()
    del network._run_lstm
    network.eval()
    batches = [kwargs for _, kwargs in seen["batch"]]
    words = [w for w, _ in seen["lstm"]]
    labels = [args_[1] for args_, _ in seen["span"]]

    settings = network.settings
    hidden, width = settings.hidden_size, settings.max_width
    span = network.span_layer
    cfg = network.encoder.config

    def best(fn: Callable[[], Any]) -> float:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            with torch.inference_mode():
                fn()
            times.append(time.perf_counter() - start)
        return min(times)

    parts = {
        "encoder": best(
            lambda: [network.encoder(input_ids=b["input_ids"], attention_mask=b["attention_mask"]) for b in batches]
        ),
        "BiLSTM": best(lambda: [network._run_lstm(*a) for a in seen["lstm"]]),
        "prompt layer": best(lambda: [network.prompt_layer(*a) for a, _ in seen["prompt"]]),
        "span layer, per-word MLPs": best(lambda: [span.word_parts(a[0], a[3]) for a, _ in seen["span"]]),
        "span layer, whole": best(lambda: [span(*a) for a, _ in seen["span"]]),
    }
    parts["span layer, per-span loop"] = parts.pop("span layer, whole") - parts["span layer, per-word MLPs"]
    with torch.inference_mode():
        b, (w, n), (q,), (sa, _) = batches[0], seen["lstm"][0], seen["prompt"][0][0], seen["span"][0]
        dtypes = {
            "encoder": (
                network.encoder(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state.dtype
            ),
            "BiLSTM": network._run_lstm(w, n).dtype,
            "prompt layer": network.prompt_layer(q).dtype,
            "span layer": span(*sa).dtype,
        }

    # multiply-adds, from the shapes
    tokens = sum(b["input_ids"].numel() for b in batches)
    attention = sum(2 * b["input_ids"].shape[0] * b["input_ids"].shape[1] ** 2 * cfg.hidden_size for b in batches)
    per_layer = 4 * cfg.hidden_size**2 + 2 * cfg.hidden_size * cfg.intermediate_size
    real_words = sum(int(b["word_lengths"].sum()) for b in batches)
    padded_words = sum(w.shape[0] * w.shape[1] for w in words)
    n_labels = sum(q.shape[0] * q.shape[1] for q in labels)
    spans_x_labels = sum(
        q.shape[0] * q.shape[1] * sum(max(0, w.shape[1] - k) for k in range(width)) for w, q in zip(words, labels)
    )
    lstm_hidden = hidden // 2
    macs = {
        "encoder": cfg.num_hidden_layers * (tokens * per_layer + attention),
        "BiLSTM": (
            padded_words * 2 * (hidden * 4 * lstm_hidden + lstm_hidden * 4 * lstm_hidden) * settings.num_rnn_layers
        ),
        "prompt layer": n_labels * 2 * hidden * 4 * hidden,
        "span layer, per-word MLPs": real_words * 3 * 2 * hidden * 4 * hidden,
        "span layer, per-span loop": spans_x_labels * 4 * hidden,
    }
    parts["inputs, thresholding, decoding, spaCy"] = total - clock["network"]
    encoder = parts["encoder"]
    print(
        f"{len(batches)} batches, {tokens} sub-tokens (padded), {real_words} words ({padded_words} padded), threads"
        f" {args.threads}"
    )
    print(
        f"end to end (nlp.pipe): {total:.2f} s, of which the network {clock['network']:.2f} s; parts below: each alone,"
        f" best of {args.repeats}\n"
    )
    square = torch.randn(2048, 2048)
    peak = 2048**3 / 1e9 / best(lambda: square @ square)
    print(
        f"reference: one 2048 x 2048 float32 matmul runs at {peak:.0f} G multiply-adds/s on {args.threads} thread(s)\n"
    )
    print(
        f"mixed_precision {args.mixed_precision}; output dtypes: "
        + ", ".join(f"{k} {v}" for k, v in dtypes.items())
        + "\n"
    )
    print("| part | seconds | % of encoder | G multiply-adds | G multiply-adds/s |")
    print("|---|---|---|---|---|")
    for name, seconds in parts.items():
        gmac = macs.get(name)
        rate = f"{gmac / 1e9 / seconds:.0f}" if gmac else "-"
        amount = f"{gmac / 1e9:.1f}" if gmac else "-"
        print(f"| {name} | {seconds:.2f} | {seconds / encoder:.0%} | {amount} | {rate} |")
    overhead = (total - clock["encoder"]) / clock["encoder"]
    head_macs = sum(v for k, v in macs.items() if k != "encoder")
    print(f"\nhead + decoding + spaCy in the nlp.pipe run: {overhead:.0%} of the encoder time there; "
          f"the head's arithmetic alone is {head_macs / macs['encoder']:.0%} of the encoder's")  # fmt: skip


if __name__ == "__main__":
    main()
