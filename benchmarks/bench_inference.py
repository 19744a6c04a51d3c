"""Inference speed on CPU: spacy-gliner vs the official ``gliner`` library vs ``gliner-spacy``.

Same checkpoint (ref_minilm), same texts, same threshold, one run each. Every system and
batch size runs in its own subprocess, so that its peak RSS is its own; model loading
and a short warm-up are not timed. Texts:

* sentences: the first ``--per-dataset`` test sentences of each benchmark dataset in
  ../shared/data/benchmarks, each dataset with its own label list;
* long documents: ``--long-docs`` documents of ``--long-words`` words, built from
  consecutive CoNLL-2003 test sentences after the first ``--per-dataset`` (CoNLL labels).
  The official library silently truncates at 384 words, so it gets each long document
  cut into pieces of at most 384 words (no overlap: less work than spacy-gliner's
  overlapping windows); gliner-spacy cuts documents into 250-character chunks itself.

Systems: spacy-gliner ``nlp.pipe`` (spacy.blank("en") + "gliner", ``batch_size`` = windows
per forward pass); spacy-gliner-bf16 and spacy-gliner-int8, the same with
``mixed_precision="bf16"`` / ``"int8"`` (not exact: their entities are compared with
float32's); official ``GLiNER.inference(texts, labels, batch_size=...)``; official-onnx, the
official library on ONNX Runtime (``GLiNER.export_to_onnx`` of the checkpoint, then
``GLiNER.from_pretrained(folder, load_onnx_model=True)``, ``intra_op_num_threads`` =
``--threads``); fast-gliner (PyPI ``fast-gliner`` 0.3.2, Rust on ONNX Runtime, the same
exported ONNX file; it has no threshold, batch size or thread setting: its fixed threshold
is 0.5, so its entities are compared with the official ones above 0.5); gliner-spacy
``nlp.pipe`` (factory "gliner_spacy", one text chunk per forward pass, so it has no batch
size). The best batch size of each system counts. The check: on the
sentences, spacy-gliner's ``doc.ents`` must equal the official entities expanded to
spaCy token boundaries (``alignment_mode="expand"``, as the component maps words to
tokens). spacy-gliner's time is split with forward hooks on the same batches: encoder
forward, the rest of the network (LSTM, span and prompt layers), and everything else
(tokenization, windows, collation, thresholding, decoding, alignment, spaCy).

Environment: ``make bench`` (builds .venv-bench from benchmarks/requirements.txt, then runs
this with the arguments below), or by hand in that environment:

    python benchmarks/bench_inference.py --threads 2 --per-dataset 100 --long-docs 2 --long-words 5000

``--systems`` picks rows (default: all); ``--per-dataset 5 --long-docs 0`` is a quick check.
"""

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Tuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _paths import DATA, REF  # noqa: E402

OFFICIAL_MAX_WORDS = 384
Task = Tuple[str, List[str], List[str]]  # (set name, texts, labels)


def load_tasks(per_dataset: int, long_docs: int, long_words: int) -> Dict[str, List[Task]]:
    """The benchmark texts: {"sentences": [...], "long": [...]}, one task per label list."""
    from spacy_gliner.model.words import split_words

    sentences = []
    for folder in sorted((DATA / "benchmarks").iterdir()):
        data = json.loads((folder / "test.json").read_text(encoding="utf8"))
        labels = json.loads((folder / "labels.json").read_text(encoding="utf8"))
        sentences.append((folder.name, [d["sentence"] for d in data[:per_dataset]], labels))
    conll = DATA / "benchmarks" / "conll2003"
    pool = [d["sentence"] for d in json.loads((conll / "test.json").read_text(encoding="utf8"))[per_dataset:]]
    docs, current, n_words = [], [], 0
    for sentence in pool:
        if len(docs) == long_docs:
            break
        current.append(sentence)
        n_words += len(split_words(sentence))
        if n_words >= long_words:
            docs.append(" ".join(current))
            current, n_words = [], 0
    labels = json.loads((conll / "labels.json").read_text(encoding="utf8"))
    return {"sentences": sentences, "long": [("long-documents", docs, labels)] if docs else []}


def count_words(tasks: List[Task]) -> int:
    from spacy_gliner.model.words import split_words

    return sum(len(split_words(t)) for _, texts, _ in tasks for t in texts)


# -- workers: one system, one batch size, one process ---------------------------------
def run_spacy_gliner(
    tasks: List[Task], threshold: float, batch_size: int, mixed_precision: Any = False
) -> Dict[str, Any]:
    import spacy
    import torch

    import spacy_gliner.component  # noqa: F401  (registers the factory)

    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(REF), "mixed_precision": mixed_precision}
    nlp.add_pipe(
        "gliner", config={"model": model, "labels": tasks[0][2], "threshold": threshold, "batch_size": batch_size}
    )
    list(nlp.pipe(["Warm-up: Marie Curie worked in Paris."]))
    shim = nlp.get_pipe("gliner").model.shims[0]
    # the network that predictions run through: bf16 and int8 predict with a reduced copy
    network = shim.inference_network() if mixed_precision in ("bf16", "int8") else shim._model
    clock = {"network": 0.0, "encoder": 0.0}

    def timer(module: torch.nn.Module, key: str) -> None:
        def pre(*_: Any, **__: Any) -> None:
            clock[key + "_t0"] = time.perf_counter()

        def post(*_: Any, **__: Any) -> None:
            clock[key] += time.perf_counter() - clock[key + "_t0"]

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    timer(network, "network")
    timer(network.encoder, "encoder")
    entities, seconds = [], 0.0
    for _, texts, labels in tasks:
        start = time.perf_counter()
        docs = list(nlp.pipe(texts, component_cfg={"gliner": {"labels": labels}}))
        seconds += time.perf_counter() - start
        entities.append([[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs])
    start = time.perf_counter()
    for _, texts, _ in tasks:
        for text in texts:
            nlp.make_doc(text)
    tokenizer = time.perf_counter() - start
    split = {"encoder": clock["encoder"], "network_rest": clock["network"] - clock["encoder"], "tokenizer": tokenizer}
    return {"seconds": seconds, "entities": entities, "split": split}


def run_official(tasks: List[Task], threshold: float, batch_size: int) -> Dict[str, Any]:
    from gliner import GLiNER

    return _official_inference(GLiNER.from_pretrained(str(REF), local_files_only=True), tasks, threshold, batch_size)


def run_official_onnx(tasks: List[Task], threshold: float, batch_size: int) -> Dict[str, Any]:
    import onnxruntime
    import torch
    from gliner import GLiNER

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as folder:
        _export_onnx(Path(folder))
        model = GLiNER.from_pretrained(folder, load_onnx_model=True, local_files_only=True, session_options=options)
        return _official_inference(model, tasks, threshold, batch_size)


def _official_inference(model: Any, tasks: List[Task], threshold: float, batch_size: int) -> Dict[str, Any]:
    """Entities as (start, end, label, score): the score lets fast-gliner (threshold 0.5) be compared."""
    model.inference(["Warm-up: Marie Curie worked in Paris."], ["person"], threshold=threshold)
    entities, seconds = [], 0.0
    for name, texts, labels in tasks:
        pieces = _official_texts(name, texts)
        start = time.perf_counter()
        found = model.inference(pieces, labels, threshold=threshold, batch_size=batch_size)
        seconds += time.perf_counter() - start
        entities.append([[(e["start"], e["end"], e["label"], e["score"]) for e in ents] for ents in found])
    return {"seconds": seconds, "entities": entities}


def _export_onnx(folder: Path) -> Path:
    """ref_minilm exported by the official library (``export_to_onnx``): model.onnx, config, tokenizer."""
    from gliner import GLiNER

    GLiNER.from_pretrained(str(REF), local_files_only=True).export_to_onnx(folder)
    return folder / "model.onnx"


def run_fast_gliner(tasks: List[Task], threshold: float, batch_size: int) -> Dict[str, Any]:
    from fast_gliner import FastGLiNER

    with tempfile.TemporaryDirectory() as folder:
        _export_onnx(Path(folder))
        model = FastGLiNER.from_pretrained(folder, onnx_path="model.onnx", execution_provider="cpu")
        model.predict_entities(["Warm-up: Marie Curie worked in Paris."], ["person"])
        entities, seconds = [], 0.0
        for name, texts, labels in tasks:
            pieces = _official_texts(name, texts)
            start = time.perf_counter()
            found = [
                model.predict_entities(pieces[i : i + batch_size], labels) for i in range(0, len(pieces), batch_size)
            ]
            seconds += time.perf_counter() - start
            entities.append([[(e["start"], e["end"], e["label"]) for e in ents] for chunk in found for ents in chunk])
    return {"seconds": seconds, "entities": entities}


def _official_texts(task: str, texts: List[str]) -> List[str]:
    """The texts as the official library's rows get them: long documents cut into pieces of
    at most 384 words (it truncates), sentences as they are."""
    from spacy_gliner.model.words import split_words

    if task != "long-documents":
        return texts
    pieces = []
    for text in texts:
        words = split_words(text)
        pieces += [
            text[words[i][1] : words[min(i + OFFICIAL_MAX_WORDS, len(words)) - 1][2]]
            for i in range(0, len(words), OFFICIAL_MAX_WORDS)
        ]
    return pieces


def run_gliner_spacy(tasks: List[Task], threshold: float, batch_size: int) -> Dict[str, Any]:
    import gliner_spacy.pipeline  # noqa: F401  (registers the factory)
    import spacy

    with tempfile.TemporaryDirectory() as folder:
        model = _gliner_spacy_folder(Path(folder))
        entities, seconds = [], 0.0
        for _, texts, labels in tasks:
            nlp = spacy.blank("en")  # gliner-spacy takes labels only from its config
            nlp.add_pipe("gliner_spacy", config={"gliner_model": str(model), "labels": labels, "threshold": threshold})
            list(nlp.pipe(["Warm-up: Marie Curie worked in Paris."]))
            start = time.perf_counter()
            docs = list(nlp.pipe(texts))
            seconds += time.perf_counter() - start
            entities.append([[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs])
            del nlp, docs
            gc.collect()  # one model in memory at a time
    return {"seconds": seconds, "entities": entities}


def _gliner_spacy_folder(folder: Path) -> Path:
    """ref_minilm with ``model_name`` pointing at itself: gliner-spacy loads the tokenizer
    from ``model_name`` (a hub id, unreachable offline) instead of the checkpoint folder."""
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        os.symlink(REF / name, folder / name)
    config = json.loads((REF / "gliner_config.json").read_text(encoding="utf8"))
    config["model_name"] = str(folder)
    (folder / "gliner_config.json").write_text(json.dumps(config), encoding="utf8")
    return folder


WORKERS = {
    "spacy-gliner": run_spacy_gliner,
    "spacy-gliner-bf16": partial(run_spacy_gliner, mixed_precision="bf16"),
    "spacy-gliner-int8": partial(run_spacy_gliner, mixed_precision="int8"),
    "official": run_official,
    "official-onnx": run_official_onnx,
    "fast-gliner": run_fast_gliner,
    "gliner-spacy": run_gliner_spacy,
}


def worker(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = load_tasks(args.per_dataset, args.long_docs, args.long_words)[args.set]
    result = WORKERS[args.worker](tasks, args.threshold, args.batch_size)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["threads"] = torch.get_num_threads()
    Path(args.out).write_text(json.dumps(result), encoding="utf8")


# -- the driver ---------------------------------------------------------------------
def spawn(system: str, text_set: str, batch_size: int, args: argparse.Namespace, folder: Path) -> Dict[str, Any]:
    out = folder / f"{system}-{text_set}-{batch_size}.json"
    command = [
        sys.executable,
        __file__,
        "--worker",
        system,
        "--set",
        text_set,
        "--batch-size",
        str(batch_size),
        "--out",
        str(out),
    ]
    for flag in ("threads", "per_dataset", "long_docs", "long_words", "threshold"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL if not args.verbose else None)
    result = json.loads(out.read_text(encoding="utf8"))
    print(
        f"  {system:17s} {text_set:9s} batch {batch_size:2d}: {result['seconds']:8.1f} s, peak RSS"
        f" {result['peak_rss_mb']:6.0f} MB",
        flush=True,
    )
    return result


def agreement(
    found: List[List[list]],
    reference: List[List[list]],
    tasks: List[Task],
    to_tokens: bool = False,
    min_score: float = 0.0,
) -> Tuple[int, int, int, int]:
    """(sentences with identical entities, sentences, entities gained, entities lost) of
    ``found`` against ``reference``. ``to_tokens``: the reference's character offsets are
    first expanded to spaCy token boundaries (``alignment_mode="expand"``, as the component
    maps words to tokens); ``min_score``: only reference entities scoring at least this."""
    import spacy

    nlp = spacy.blank("en")
    same = total = gained = lost = 0
    for (_, texts, _), found_task, reference_task in zip(tasks, found, reference):
        for text, a, b in zip(texts, found_task, reference_task):
            b = [e[:3] for e in b if len(e) < 4 or e[3] >= min_score]
            if to_tokens:
                doc = nlp.make_doc(text)
                b = [
                    (s.start_char, s.end_char, s.label_)
                    for s in (doc.char_span(*e, alignment_mode="expand") for e in b)
                ]
            a, b = {tuple(e[:3]) for e in a}, set(map(tuple, b))
            same += a == b
            gained += len(a - b)
            lost += len(b - a)
            total += 1
    return same, total, gained, lost


# (system, reference system, expand the reference to tokens, reference entities' minimum score)
AGREEMENT = [
    ("spacy-gliner", "official", True, 0.0),
    ("spacy-gliner-bf16", "spacy-gliner", False, 0.0),
    ("spacy-gliner-int8", "spacy-gliner", False, 0.0),
    ("spacy-gliner-bf16", "official", True, 0.0),
    ("spacy-gliner-int8", "official", True, 0.0),
    ("official-onnx", "official", False, 0.0),
    ("fast-gliner", "official", False, 0.5),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-dataset", type=int, default=100, help="first N test sentences of each dataset")
    parser.add_argument("--long-docs", type=int, default=2)
    parser.add_argument("--long-words", type=int, default=5000)
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--batch-sizes", default="8,16,32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in every system (0: torch's default)")
    parser.add_argument("--systems", default=",".join(WORKERS))
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--set", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    tasks = load_tasks(args.per_dataset, args.long_docs, args.long_words)
    words = {name: count_words(t) for name, t in tasks.items()}
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    systems = args.systems.split(",")
    print(
        f"texts: {sum(len(t[1]) for t in tasks['sentences'])} sentences ({words['sentences']} words), "
        f"{sum(len(t[1]) for t in tasks['long'])} long documents ({words['long']} words); threshold {args.threshold}"
    )
    results: Dict[str, Dict[str, Dict[int, Dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for system in systems:
            for text_set in ("sentences", "long"):
                if not tasks[text_set]:
                    continue
                for batch_size in sizes if system != "gliner-spacy" else sizes[:1]:
                    results.setdefault(system, {}).setdefault(text_set, {})[batch_size] = spawn(
                        system, text_set, batch_size, args, Path(tmp)
                    )

    print("\n| system | texts | best batch size | words/s | x official | x gliner-spacy | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    best: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for system, sets in results.items():
        for text_set, runs in sets.items():
            size = min(runs, key=lambda b: runs[b]["seconds"])
            best[system, text_set] = dict(
                runs[size], batch_size=size, words_per_s=words[text_set] / runs[size]["seconds"]
            )
    for (system, text_set), r in best.items():
        ratios = []
        for other in ("official", "gliner-spacy"):
            ref = best.get((other, text_set))
            ratios.append(f"{r['words_per_s'] / ref['words_per_s']:.2f}" if ref else "-")
        size = r["batch_size"] if system != "gliner-spacy" else "-"
        print(
            f"| {system} | {text_set} | {size} | {r['words_per_s']:.0f} | {ratios[0]} | {ratios[1]} |"
            f" {r['peak_rss_mb']:.0f} |"
        )

    official = best.get(("official", "sentences"))
    for system in ("spacy-gliner", "spacy-gliner-bf16", "spacy-gliner-int8"):
        ours = best.get((system, "sentences"))
        if not ours:
            continue
        split, total = ours["split"], ours["seconds"]
        rest = total - split["encoder"] - split["network_rest"]
        print(
            f"\n{system}, sentences, batch {ours['batch_size']}: total {total:.1f} s; encoder forward"
            f" {split['encoder']:.1f} s; rest of the network (LSTM, span and prompt layers) {split['network_rest']:.1f}"
            f" s; everything else {rest:.1f} s (of which spaCy's tokenizer {split['tokenizer']:.1f} s)"
        )
        print(
            f"head + decoding + spaCy overhead = {(total - split['encoder']) / split['encoder']:.0%} of the encoder"
            " time"
        )
        if official:
            # even with no cost besides the encoder, the speed-up could not exceed this
            print(f"ceiling: official time / this encoder time alone = {official['seconds'] / split['encoder']:.2f}x")
    print("\nEntities on the sentences (best batch size of each system):\n")
    print("| system | compared with | sentences identical | entities gained | entities lost |")
    print("|---|---|---|---|---|")
    for system, reference, to_tokens, min_score in AGREEMENT:
        a, b = best.get((system, "sentences")), best.get((reference, "sentences"))
        if a and b:
            same, n, gained, lost = agreement(a["entities"], b["entities"], tasks["sentences"], to_tokens, min_score)
            name = (
                reference
                + (f" (score >= {min_score})" if min_score else "")
                + (", expanded to tokens" if to_tokens else "")
            )
            print(f"| {system} | {name} | {same}/{n} | {gained} | {lost} |")
    print(f"\nthreads: {next(iter(best.values()))['threads']}; load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
