"""One ``nlp(text)`` call per document vs ``nlp.pipe(texts)``: time per document.

ref_minilm, the first ``--sentences`` CoNLL-2003 test sentences with the CoNLL labels,
threshold 0.5, torch on ``--threads`` threads. Loading and a warm-up are not timed; each
way runs ``--repeats`` times, alternating, and its fastest run counts. Both wall time and
the process's CPU time are measured: on one thread, CPU time is the work done, and it
stays meaningful on a shared machine where wall time waits for other processes. ``nlp.pipe`` runs with the
component's default ``batch_size`` (8 windows per
forward pass) and once more with ``batch_size=1`` (one window per pass, as a single call
has when its text fits one window), to show how much of the gap batching explains. The
entities must be the same whichever way a document runs.

    python benchmarks/bench_pipe_vs_call.py --threads 1 --sentences 200
"""

import argparse
import json
import os
import time
from typing import Callable, List, Tuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _paths import DATA, REF  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import spacy
    import torch

    from spacy_gliner.architectures import get_loaded

    torch.set_num_threads(args.threads)
    conll = DATA / "benchmarks" / "conll2003"
    texts = [d["sentence"] for d in json.loads((conll / "test.json").read_text(encoding="utf8"))[: args.sentences]]
    labels = json.loads((conll / "labels.json").read_text(encoding="utf8"))
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"model": str(REF), "labels": labels, "threshold": 0.5})
    get_loaded(pipe.model)

    def ents(docs) -> List[List[Tuple[int, int, str]]]:
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]

    def one_by_one() -> List[List[Tuple[int, int, str]]]:
        return ents(nlp(text) for text in texts)

    def piped() -> List[List[Tuple[int, int, str]]]:
        return ents(nlp.pipe(texts))

    def piped_unbatched() -> List[List[Tuple[int, int, str]]]:
        return ents(nlp.pipe(texts, component_cfg={"gliner": {"batch_size": 1}}))

    ways: List[Tuple[str, Callable[[], List[List[Tuple[int, int, str]]]]]] = [
        ("nlp(text), one call per document", one_by_one),
        ("nlp.pipe(texts)", piped),
        ("nlp.pipe(texts), gliner batch_size=1", piped_unbatched),
    ]
    one_by_one()  # warm-up (also of nlp.pipe: same network)
    list(nlp.pipe(texts[:16]))
    best = {name: float("inf") for name, _ in ways}
    best_cpu = dict(best)
    results = {}
    for _ in range(args.repeats):
        for name, run in ways:
            start, start_cpu = time.perf_counter(), time.process_time()
            results[name] = run()
            best_cpu[name] = min(best_cpu[name], time.process_time() - start_cpu)
            best[name] = min(best[name], time.perf_counter() - start)
    same = all(result == results[ways[0][0]] for result in results.values())
    words = sum(len(t.split()) for t in texts)
    base, base_cpu = best["nlp.pipe(texts)"], best_cpu["nlp.pipe(texts)"]
    print(
        f"{len(texts)} CoNLL-2003 sentences ({words} words), {len(labels)} labels, torch threads {args.threads}, best"
        f" of {args.repeats}"
    )
    print("| way | CPU ms per doc | x nlp.pipe (CPU) | wall ms per doc | x nlp.pipe (wall) |")
    print("|---|---|---|---|---|")
    for name, _ in ways:
        cpu, wall = best_cpu[name], best[name]
        print(
            f"| {name} | {1000 * cpu / len(texts):.1f} | {cpu / base_cpu:.2f} | {1000 * wall / len(texts):.1f} |"
            f" {wall / base:.2f} |"
        )
    print(f"same entities every way: {same}")
    if not same:
        raise SystemExit("the entities differ between the ways of running")


if __name__ == "__main__":
    main()
