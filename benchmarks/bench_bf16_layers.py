"""Which parts of a bfloat16 network move entities: agreement and CPU time of each choice.

Each variant runs the same network (``--model``, default ref_minilm) over the same texts as
``bench_inference.py`` (the first ``--per-dataset`` test sentences of each benchmark dataset,
each with its own labels) and is compared, per threshold, with float32 and with the official
library: texts whose entities are identical, entities gained and lost. Every variant runs
once, at the lowest threshold; the higher thresholds replay the same network outputs (the
greedy decoding of the candidates above a threshold does not depend on those below it).
Time is the process's CPU time for that one pass, torch on one thread: on a shared machine
wall time measures the neighbours.

Variants: ``float32``; ``autocast`` (float32 weights under ``torch.autocast(bfloat16)``:
bf16 matmuls, float32 residuals, LayerNorms and softmax); ``shipped`` (what
``mixed_precision="bf16"`` runs: ``reduced_precision_copy(network, "bf16")``, bf16 linear
weights under that autocast); ``int8`` (``reduced_precision_copy(network, "int8")``);
``bf16``: a copy with every weight and activation in bfloat16; ``bf16 except A+B``: the same
with the named parts (``PARTS``, or ``layerN``: the encoder's N-th layer) in float32, each
part casting its inputs to its own dtype; ``bf16 linears encoder``: the encoder's linear layers
computing in bf16 from float32 inputs and returning float32, all else float32.

    python benchmarks/bench_bf16_layers.py --per-dataset 100 --variants all
    python benchmarks/bench_bf16_layers.py --per-dataset 5 --variants float32,shipped   # quick check

Results: docs/benchmarks.md ("Precision modes").
"""

import argparse
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _paths import REF  # noqa: E402
from bench_inference import Task, load_tasks  # noqa: E402

Entities = List[List[List[Tuple[int, int, str]]]]  # task -> text -> (start, end, label)

# parts kept in float32, one variant each (names: network.BF16_PARTS, "+" joins several)
DEFAULT_VARIANTS = [
    "float32",
    "autocast",
    "shipped",
    "int8",
    "bf16",
    "bf16 except span",
    "bf16 except prompt+span",
    "bf16 except embeddings",
    "bf16 except layer5",
    "bf16 except layer4+layer5",
    "bf16 except encoder",
    "bf16 linears encoder",
]


def official_entities(
    model: Path, tasks: Sequence[Task], thresholds: Sequence[float], cache: Path
) -> Dict[float, Entities]:
    """The official library's entities at each threshold (read from ``cache`` when it holds them)."""
    key = json.dumps([str(model), [(name, len(texts)) for name, texts, _ in tasks], sorted(thresholds)])
    if cache.exists():
        stored = json.loads(cache.read_text(encoding="utf8"))
        if stored["key"] == key:
            return {float(t): e for t, e in stored["entities"].items()}
    from gliner import GLiNER

    official = GLiNER.from_pretrained(str(model), local_files_only=True)
    found: Dict[float, Entities] = {}
    for threshold in thresholds:
        found[threshold] = [
            [
                [(e["start"], e["end"], e["label"]) for e in ents]
                for ents in official.inference(texts, labels, threshold=threshold, batch_size=8)
            ]
            for _, texts, labels in tasks
        ]
    cache.write_text(json.dumps({"key": key, "entities": found}), encoding="utf8")
    return found


PARTS = {
    "embeddings": "encoder.embeddings",
    "encoder": "encoder",
    "projection": "projection",
    "lstm": "lstm",
    "prompt": "prompt_layer",
    "span": "span_layer",
}  # and "layerN": the encoder's N-th layer


def bf16_copy(network: Any, float32_parts: Sequence[str]) -> Any:
    """A bfloat16 copy of ``network`` with ``float32_parts`` in float32; every part casts its
    floating inputs to its own dtype (forward pre-hooks), so any mix runs."""
    import copy

    import torch

    from spacy_gliner.model.network import CPU_BF16_LSTM

    reduced = copy.deepcopy(network).to(torch.bfloat16)
    modules = dict(reduced.named_modules())
    names = {**PARTS, **{f"layer{i}": f"encoder.encoder.layer.{i}" for i in range(len(reduced.encoder.encoder.layer))}}
    for part in float32_parts:
        modules[names[part]].float()
    if reduced.lstm is not None:  # torch.lstm is no module call, so no hook: its inputs are cast here
        if "lstm" in float32_parts or not CPU_BF16_LSTM:  # oneDNN's bf16 LSTM needs AVX-512
            reduced.lstm.float()
        run_lstm, dtype = reduced._run_lstm, reduced.lstm.weight_ih_l0.dtype
        reduced._run_lstm = lambda words, lengths: run_lstm(words.to(dtype), lengths)
    for name in [*names.values(), "encoder.pooler"]:
        module = modules.get(name)
        if module is None or name == "lstm":
            continue
        dtype = next(module.parameters()).dtype

        def cast(_: Any, args: tuple, kwargs: dict, dtype: Any = dtype) -> tuple:
            def to(x: Any) -> Any:
                return x.to(dtype) if isinstance(x, torch.Tensor) and x.is_floating_point() else x

            return tuple(map(to, args)), {k: to(v) for k, v in kwargs.items()}

        module.register_forward_pre_hook(cast, with_kwargs=True)
    return reduced.eval()


def bf16_linears(network: Any, prefix: str) -> Any:
    """A copy whose linear layers under ``prefix`` hold bfloat16 weights and compute in bf16
    from float32 inputs, returning float32: the numerics of a bf16 autocast (bf16 matmuls,
    float32 residuals, LayerNorms and softmax) without casting the weights per call."""
    import copy

    import torch
    from torch import nn

    class Linear16(nn.Module):
        def __init__(self, linear: nn.Linear) -> None:
            super().__init__()
            self.weight = nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
            self.bias = (
                None
                if linear.bias is None
                else nn.Parameter(linear.bias.detach().to(torch.bfloat16), requires_grad=False)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias).to(x.dtype)

    reduced = copy.deepcopy(network)
    for name, module in list(reduced.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Linear) and full.startswith(prefix):
                setattr(module, child_name, Linear16(child))
    return reduced.eval()


def variant_runner(network: Any, variant: str) -> Tuple[Any, Callable[[], Any]]:
    """(network, context to run it in) for one variant."""
    import torch

    from spacy_gliner.model.network import reduced_precision_copy

    if variant == "float32":
        return network, contextlib.nullcontext
    if variant == "autocast":
        return network, lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    if variant in ("shipped", "int8"):
        return reduced_precision_copy(network, "bf16" if variant == "shipped" else "int8"), contextlib.nullcontext
    if variant == "bf16":
        return bf16_copy(network, ()), contextlib.nullcontext
    if variant.startswith("bf16 except "):
        return bf16_copy(network, tuple(variant[len("bf16 except ") :].split("+"))), contextlib.nullcontext
    if variant == "bf16 linears encoder":
        return bf16_linears(network, "encoder."), contextlib.nullcontext
    raise ValueError(f"unknown variant {variant!r}")


def run_variant(
    loaded: Any, variant: str, tasks: Sequence[Task], thresholds: Sequence[float], batch_size: int
) -> Tuple[Dict[float, Entities], float]:
    """Entities per threshold, and the CPU seconds of the one network pass."""
    import dataclasses

    from spacy_gliner.model.search import SpanSearch, predict_entities

    network, context = variant_runner(loaded.network, variant)
    replay: List[Any] = []
    state = {"replaying": False, "next": 0}

    class Replay(SpanSearch):
        """Runs the network on the first pass, replays its outputs on the later ones."""

        def _run(self, tensors: Dict[str, Any]) -> Any:
            if state["replaying"]:
                state["next"] += 1
                return replay[state["next"] - 1]
            with context():
                out = network(**tensors)
            replay.append(out)
            return out

    search = Replay(dataclasses.replace(loaded, network=network))
    with context():  # warm-up, not timed
        _, texts, labels = tasks[0]
        predict_entities(
            loaded, texts[:8], labels, min(thresholds), batch_size=batch_size, search=SpanSearch(search.loaded)
        )
    found: Dict[float, Entities] = {}
    seconds = 0.0
    for i, threshold in enumerate(sorted(thresholds)):
        state.update(replaying=i > 0, next=0)
        start = time.process_time()
        found[threshold] = [
            [
                [(e["start"], e["end"], e["label"]) for e in ents]
                for ents in predict_entities(loaded, texts, labels, threshold, batch_size=batch_size, search=search)
            ]
            for _, texts, labels in tasks
        ]
        if i == 0:
            seconds = time.process_time() - start
    return found, seconds


def agreement(found: Entities, reference: Entities) -> Tuple[int, int, int, int]:
    """(texts with identical entities, texts, entities gained, entities lost)."""
    same = total = gained = lost = 0
    for found_task, reference_task in zip(found, reference):
        for a, b in zip(found_task, reference_task):
            a, b = set(map(tuple, a)), set(map(tuple, b))
            same += a == b
            gained += len(a - b)
            lost += len(b - a)
            total += 1
    return same, total, gained, lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REF)
    parser.add_argument("--per-dataset", type=int, default=100)
    parser.add_argument("--thresholds", default="0.3,0.5")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--variants", default="all", help='comma-separated, or "all"')
    parser.add_argument("--official-cache", type=Path, default=Path("/tmp/bench_bf16_layers_official.json"))
    args = parser.parse_args()

    import torch

    from spacy_gliner.model import checkpoint

    torch.set_num_threads(1)
    tasks = load_tasks(args.per_dataset, 0, 0)["sentences"]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    variants = DEFAULT_VARIANTS if args.variants == "all" else args.variants.split(",")
    loaded = checkpoint.load(args.model)
    loaded.network.eval()
    print(
        f"{sum(len(t[1]) for t in tasks)} texts, model {args.model.name}, torch {torch.__version__}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, one thread, batch {args.batch_size}",
        flush=True,
    )
    official = official_entities(args.model, tasks, thresholds, args.official_cache)
    results: Dict[str, Tuple[Dict[float, Entities], float]] = {}
    for variant in dict.fromkeys(["float32"] + variants):
        results[variant] = run_variant(loaded, variant, tasks, thresholds, args.batch_size)
        print(f"  {variant}: {results[variant][1]:.1f} CPU s", flush=True)
    base_seconds = results["float32"][1]
    print(
        "\n| variant | threshold | texts = float32 | gained / lost vs float32 | texts = official | gained / lost vs"
        " official | CPU s | x float32 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for variant, (found, seconds) in results.items():
        for threshold in sorted(thresholds):
            same, n, gained, lost = agreement(found[threshold], results["float32"][0][threshold])
            o_same, _, o_gained, o_lost = agreement(found[threshold], official[threshold])
            print(
                f"| {variant} | {threshold} | {same}/{n} ({100 * same / n:.1f}%) | {gained} / {lost} | {o_same}/{n}"
                f" ({100 * o_same / n:.1f}%) | {o_gained} / {o_lost} | {seconds:.1f} | {base_seconds / seconds:.2f} |"
            )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
