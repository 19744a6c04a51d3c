"""Float noise on the scores of the test suite's checkpoints: the measurements behind SCORE_TOL.

Every candidate that ref_minilm and the tiny checkpoints (tests/helpers/data.py TINY_CHECKPOINTS,
written once by the official library) score above 0.02 on the parity sentences, scored by the
official library (its greedy search bypassed: ``helpers.parity.official_candidates``) and by ours
(``SpanSearch``), under this machine's own kernels and under each other kernel setting (a
process of its own per setting: MKL reads MKL_CBWR, ATen ATEN_CPU_CAPABILITY at start-up).
Prints, per checkpoint, the largest |ours - official| within a setting, and the largest move
of the official scores from the default kernels: float32 sums in another order, as on another
CPU. README, "Tests", quotes the result.

    OMP_NUM_THREADS=1 python benchmarks/score_noise.py [--float64]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

from _paths import ROOT

sys.path.insert(0, str(ROOT / "tests"))

SETTINGS = (
    "",
    "MKL_CBWR=COMPATIBLE",
    "MKL_CBWR=AVX2",
    "ATEN_CPU_CAPABILITY=default",
    "ATEN_CPU_CAPABILITY=avx2",
    "MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default",
)
LOW = 0.02  # candidates above this score


def scores(folders: Dict[str, str], float64: bool) -> Dict[str, List[list]]:
    """name -> [dataset, text index, start, end, label, official score or None, our score or None]."""
    import torch
    from helpers.data import PARITY_SETS, benchmark
    from helpers.parity import load_official, official_candidates

    from spacy_gliner.model import checkpoint
    from spacy_gliner.model.inputs import word_splitter
    from spacy_gliner.model.search import SpanSearch, unique_labels

    torch.set_num_threads(1)
    out = {}
    for name, folder in folders.items():
        official, ours = load_official(Path(folder)), checkpoint.load(folder)
        if float64:
            official.model.to(torch.float64)
            ours.network.to(torch.float64)
        search, split = SpanSearch(ours), word_splitter(ours.settings.words_splitter_type)
        found: Dict[tuple, list] = {}
        for dataset, n in PARITY_SETS:
            texts, labels = benchmark(dataset, n)
            labels = unique_labels(labels)
            words = [split(t) for t in texts]
            mine = search([[w for w, _, _ in ws] for ws in words], [labels] * len(texts), LOW, 8)
            for i, (theirs, ws, cands) in enumerate(
                zip(official_candidates(official, texts, labels, LOW), words, mine)
            ):
                for e in theirs:
                    found.setdefault((dataset, i, e["start"], e["end"], e["label"]), [None, None])[0] = e["score"]
                for s, e, label, score in zip(cands.starts, cands.ends, cands.labels, cands.scores):
                    found.setdefault((dataset, i, ws[s][1], ws[e][2], labels[label]), [None, None])[1] = float(score)
        out[name] = [[*key, *pair] for key, pair in found.items()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--float64", action="store_true", help="both networks in float64")
    parser.add_argument("--child", nargs=2, metavar=("FOLDERS_JSON", "OUT_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folders = json.loads(Path(args.child[0]).read_text())
        Path(args.child[1]).write_text(json.dumps(scores(folders, args.float64)))
        return

    from helpers.data import REF_MINILM, TINY_CHECKPOINTS
    from helpers.official_checkpoints import write_official_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        folders = {"ref_minilm": str(REF_MINILM)}
        for name, options in TINY_CHECKPOINTS.items():
            folders[name] = str(write_official_checkpoint(Path(tmp) / name, **options))
        (Path(tmp) / "folders.json").write_text(json.dumps(folders))
        runs = {}
        for setting in SETTINGS:
            env = {**os.environ, **dict(pair.split("=") for pair in setting.split())}
            out = Path(tmp) / "out.json"
            command = [sys.executable, __file__, "--child", str(Path(tmp) / "folders.json"), str(out)] + (
                ["--float64"] if args.float64 else []
            )
            subprocess.run(command, env=env, check=True)
            runs[setting or "default"] = json.loads(out.read_text())
    print(
        "largest |ours - official| per setting, and largest move of the official scores from the default kernels"
        f" ({'float64' if args.float64 else 'float32'})"
    )
    default = runs["default"]
    for name in folders:
        base = {tuple(row[:5]): row[5] for row in default[name]}
        print(name)
        for setting, run in runs.items():
            rows = run[name]
            within = max(abs(r[5] - r[6]) for r in rows if r[5] is not None and r[6] is not None)
            moved = max(
                abs(r[5] - base[tuple(r[:5])]) for r in rows if r[5] is not None and base.get(tuple(r[:5])) is not None
            )
            print(
                f"  {setting:50s} ours vs official {within:.1e}   official vs default {moved:.1e}   ({len(rows)}"
                " candidates)"
            )


if __name__ == "__main__":
    main()
