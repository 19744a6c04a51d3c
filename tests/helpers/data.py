"""Where the shared data lives, its benchmark sentences, and the tiny checkpoints the tests write."""

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

# The shared data beside the project root (``../shared/data``), or where SPACY_GLINER_DATA points.
ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SPACY_GLINER_DATA", ROOT.parent / "shared" / "data"))
REF_MINILM = DATA / "models" / "ref_minilm"
BENCHMARKS = DATA / "benchmarks"

# The sentences of the parity checks: real benchmark text with each dataset's own labels.
PARITY_SETS = (("conll2003", 40), ("CrossNER_AI", 30), ("mit-movie", 30))

# Tiny random checkpoints written by the official library: both span modes, both
# encoder families, and a GLiNER hidden size that differs from the encoder width.
TINY_CHECKPOINTS: Dict[str, Dict[str, Any]] = {
    "markerV0-bert": {"span_mode": "markerV0", "encoder": "bert"},
    "marker-bert-h48": {"span_mode": "marker", "encoder": "bert", "hidden_size": 48},
    "markerV0-deberta-h64": {"span_mode": "markerV0", "encoder": "deberta", "hidden_size": 64},
    # the other families (tests/test_families.py): token-level with entities longer than
    # max_width, and bi-encoders whose labels encoder is narrower than the GLiNER hidden size
    "token-bert-w3": {"span_mode": "token_level", "encoder": "bert", "max_width": 3},
    "token-deberta-h48": {"span_mode": "token_level", "encoder": "deberta", "hidden_size": 48},
    "bi-markerV0-bert-h48": {"span_mode": "markerV0", "encoder": "bert", "hidden_size": 48, "labels_encoder": True},
    "bi-token-deberta": {"span_mode": "token_level", "encoder": "deberta", "labels_encoder": True},
}


def benchmark(name: str, n: int) -> Tuple[List[str], List[str]]:
    """The first ``n`` test sentences of a benchmark and its full label list."""
    folder = BENCHMARKS / name
    items = json.loads((folder / "test.json").read_text(encoding="utf8"))[:n]
    labels = json.loads((folder / "labels.json").read_text(encoding="utf8"))
    return [item["sentence"] for item in items], labels
