"""Shared fixtures: the real benchmark data, the reference checkpoint, tiny official checkpoints, no network.

Checkpoints are expensive to build and to load, so they live for the whole session and
are read-only: a test that changes a network (dtype, device) loads its own copy.
"""
import json
import os
import socket
from pathlib import Path
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
import torch
from spacy.tokens import Doc

# One torch thread: the test models are small, and on a busy machine OpenMP threads that
# wait for each other make them 10-50 times slower. Subprocesses inherit the setting.
THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "1"))
torch.set_num_threads(THREADS)

try:
    from official_checkpoints import OFFICIAL_PATH_CHECKPOINTS, write_official_checkpoint, write_official_path_checkpoint
except ImportError:  # tests/ collected as a package
    from tests.official_checkpoints import OFFICIAL_PATH_CHECKPOINTS, write_official_checkpoint, write_official_path_checkpoint

from spacy_gliner.model.words import split_words

# The shared data beside the project root (``../shared/data``), or where SPACY_GLINER_DATA points.
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPACY_GLINER_DATA", ROOT.parent / "shared" / "data"))
REF_MINILM = DATA / "models" / "ref_minilm"
BENCHMARKS = DATA / "benchmarks"

# Float noise on one score, the one tolerance of the parity checks: our score of an entity
# may differ from the official one by this much, and a difference in the entities is
# explained only where moving each official score by at most this much gives ours (see
# ``explain``). Float32 sums in another order (our code, or the official library on another
# CPU: MKL's and ATen's kernels differ by CPU) move these models' scores by up to 2.5e-5
# (measured on every checkpoint of the suite under MKL_CBWR=COMPATIBLE/AVX2 and
# ATEN_CPU_CAPABILITY=default/avx2 by benchmarks/score_noise.py; ~1e-11 in float64): 4x
# margin. README, "Tests".
SCORE_TOL = 1e-4

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


@pytest.fixture(scope="session")
def parity_sets() -> List[Tuple[str, List[str], List[str]]]:
    """(dataset, sentences, labels) for each dataset of the parity checks."""
    return [(name, *benchmark(name, n)) for name, n in PARITY_SETS]


def _written_once(tmp_path_factory: pytest.TempPathFactory, write: Callable[..., Path], specs: Dict[str, Dict[str, Any]]) -> Callable[[str], Path]:
    """The folder of a checkpoint by name, written by ``write(folder, **specs[name])`` on first use."""
    written: Dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in written:
            written[name] = write(tmp_path_factory.mktemp(name) / "model", **specs[name])
        return written[name]

    return get


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Folder of a tiny official checkpoint by name (see ``TINY_CHECKPOINTS``), written once."""
    return _written_once(tmp_path_factory, write_official_checkpoint, TINY_CHECKPOINTS)


@pytest.fixture(scope="session")
def official_path_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Folder of a checkpoint made through the official creation path around the published
    all-MiniLM-L6-v2, by name (see ``official_checkpoints.OFFICIAL_PATH_CHECKPOINTS``), written once."""
    return _written_once(tmp_path_factory, write_official_path_checkpoint, OFFICIAL_PATH_CHECKPOINTS)


@pytest.fixture(scope="session")
def checkpoint_path(tiny_checkpoint: Callable[[str], Path]) -> Callable[[str], Path]:
    """Folder of ``"ref_minilm"`` or of a tiny checkpoint, by name."""
    return lambda name: REF_MINILM if name == "ref_minilm" else tiny_checkpoint(name)


@pytest.fixture(scope="session")
def loaded(checkpoint_path: Callable[[str], Path]) -> Callable[[str], Any]:
    """``checkpoint.load`` of a named checkpoint, once per session (do not modify the result)."""
    from spacy_gliner.model import checkpoint

    cache: Dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            cache[name] = checkpoint.load(checkpoint_path(name))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def official(checkpoint_path: Callable[[str], Path]) -> Callable[[str], Any]:
    """The official library's ``GLiNER`` for a named checkpoint, once per session (do not modify)."""
    cache: Dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            cache[name] = load_official(checkpoint_path(name))
        return cache[name]

    return get


def load_official(path: Path) -> Any:
    """A fresh official ``GLiNER`` model from a local folder, in eval mode."""
    from gliner import GLiNER

    model = GLiNER.from_pretrained(str(path), local_files_only=True)
    model.eval()
    return model


class NetworkUsed(OSError):
    """Raised by the test doubles of everything that could reach the network."""


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: offline environment, socket connections refused, hub downloads raising."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkUsed("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)


# -- comparing predictions with the official library's ---------------------------------
Key = Tuple[int, int, str]


class OfficialEntities(list):
    """One text's entities from the official library (dicts with start, end, label, score),
    with what explains a difference from them: ``candidates()``, every span that run scored
    above ``threshold - SCORE_TOL`` with its official score, in the official candidate order,
    and the run's threshold and mode."""

    def __init__(self, entities: Sequence[dict], candidates: Callable[[], List[dict]], threshold: float, flat_ner: bool, multi_label: bool) -> None:
        super().__init__(entities)
        self.candidates = candidates
        self.threshold = threshold
        self.flat_ner = flat_ner
        self.multi_label = multi_label


def official_inference(
    model: Any,
    texts: Sequence[str],
    labels: Any,
    threshold: float = 0.5,
    flat_ner: bool = True,
    multi_label: bool = False,
    batch_size: int = 8,
    **options: Any,
) -> List[OfficialEntities]:
    """``model.inference`` (the official library), each text's entities able to explain a
    difference. The candidates come from a second run in the same batches (so with the same
    scores), made the first time a difference asks for them. ``options`` go to both runs
    (relex models: ``relations``, which are part of the prompt, and ``return_relations=False``)."""
    texts = list(texts)
    entities = model.inference(texts, labels, threshold=threshold, flat_ner=flat_ner, multi_label=multi_label, batch_size=batch_size, **options)
    runs: List[List[List[dict]]] = []

    def candidates(i: int) -> List[dict]:
        if not runs:
            runs.append(official_candidates(model, texts, labels, threshold - SCORE_TOL, batch_size, **options))
        return runs[0][i]

    return [OfficialEntities(e, partial(candidates, i), threshold, flat_ner, multi_label) for i, e in enumerate(entities)]


def official_candidates(model: Any, texts: Sequence[str], labels: Any, threshold: float, batch_size: int = 8, **options: Any) -> List[List[dict]]:
    """Every span the official library scores above ``threshold`` in each text, as entity
    dicts with its scores, in the order its greedy search receives them (which settles equal
    scores): its own ``inference``, its decoder's greedy search keeping every candidate."""
    decoder = model.decoder
    decoder.greedy_search = lambda spans, flat_ner=True, multi_label=False: list(spans)
    try:
        return model.inference(list(texts), labels, threshold=threshold, batch_size=batch_size, **options)
    finally:
        del decoder.greedy_search


@dataclass
class Comparison:
    """How predictions compare with the official library's, text by text.

    A text passes when its entities (start, end, label, in order) are the official ones, or
    when the difference is explained: the official library's own greedy decoding gives ours
    once each official score moves by at most SCORE_TOL, float noise (see ``explain``).
    """

    texts: int = 0
    entities: int = 0  # official entities compared
    max_diff: float = 0.0  # largest difference between our score of an entity and the official one
    explained: List[str] = field(default_factory=list)  # texts that differ by float near-ties only
    errors: List[str] = field(default_factory=list)  # anything else: a real mismatch

    def check(self) -> None:
        assert not self.errors, "\n".join(self.errors[:5])
        assert self.max_diff <= SCORE_TOL, f"scores differ by up to {self.max_diff:.2e}"


def compare(official: Sequence[List[dict]], ours: Sequence[List[dict]], threshold: float, comparison: Comparison) -> Comparison:
    """Add texts to ``comparison``: entities as dicts with start, end, label, score.

    A difference can only be explained where the official entities are ``OfficialEntities``
    (from ``official_inference``); with plain lists, any difference is an error.
    """
    assert len(official) == len(ours), f"{len(official)} official results for {len(ours)} of ours"
    for theirs, mine in zip(official, ours):
        i = comparison.texts
        comparison.texts += 1
        comparison.entities += len(theirs)
        if [_key(e) for e in theirs] == [_key(e) for e in mine]:
            for a, b in zip(theirs, mine):
                comparison.max_diff = max(comparison.max_diff, abs(a["score"] - b["score"]))
            continue
        a, b = {_key(e) for e in theirs}, {_key(e) for e in mine}
        where = f"text {i}: only official {sorted(a - b)}, only ours {sorted(b - a)}"
        if not isinstance(theirs, OfficialEntities):
            comparison.errors.append(f"{where} (no official candidates to explain it: use official_inference)")
            continue
        assert theirs.threshold == threshold, f"compared at threshold {threshold}, the official run used {theirs.threshold}"
        official_scores = {_key(c): c["score"] for c in theirs.candidates()}
        for e in mine:
            if _key(e) in official_scores:
                comparison.max_diff = max(comparison.max_diff, abs(official_scores[_key(e)] - e["score"]))
        problem = explain(theirs, mine)
        (comparison.errors if problem else comparison.explained).append(f"{where}: {problem}" if problem else where)
    return comparison


def explain(theirs: OfficialEntities, ours: List[dict]) -> Optional[str]:
    """Why ``ours`` is not an official reading of the text, or None where it is one: where the
    official greedy search, on the official candidates with each score moved by at most
    SCORE_TOL, returns exactly ``ours``. So two official scores at most 2 * SCORE_TOL apart
    may be taken in either order, and a score within SCORE_TOL of the threshold may fall on
    either side, with everything that follows from that in the greedy search (a cascade);
    nothing else.

    The moved scores are built, then checked: ours up by SCORE_TOL (so each wins every
    near-tie it can) and the others down by SCORE_TOL, ours with one start kept in our
    order, and ties in the moved scores go to ours. The decoding that settles it is the
    official library's own.
    """
    threshold, candidates = theirs.threshold, theirs.candidates()
    scored = {_key(c): c["score"] for c in candidates}
    decoded = official_greedy([(c, c["score"]) for c in candidates if c["score"] > threshold], theirs.flat_ner, theirs.multi_label)
    if decoded != [_key(e) for e in theirs] or any(scored[_key(e)] != e["score"] for e in theirs):
        return "the official candidates do not decode to the official entities (the official run changed?)"
    mine = [_key(e) for e in ours]
    unscored = [k for k in mine if k not in scored]
    if unscored:
        return f"the official library scores {unscored} at most {threshold - SCORE_TOL} (threshold - SCORE_TOL)"
    moved = {k: s - SCORE_TOL for k, s in scored.items()}
    previous: Optional[Key] = None
    for k in mine:  # entities with one start come in acceptance order: keep ours
        moved[k] = scored[k] + SCORE_TOL
        if previous is not None and previous[0] == k[0]:
            moved[k] = min(moved[k], moved[previous])
        previous = k
    if any(moved[k] < scored[k] - SCORE_TOL for k in mine):
        return "our order of entities with one start takes official scores more than 2 * SCORE_TOL apart in the other order"
    rank = {k: r for r, k in enumerate(mine)}
    kept = [c for c in candidates if moved[_key(c)] > threshold]
    order = sorted(range(len(kept)), key=lambda j: (-moved[_key(kept[j])], rank.get(_key(kept[j]), len(rank) + j)))
    if official_greedy([(kept[j], moved[_key(kept[j])]) for j in order], theirs.flat_ner, theirs.multi_label) != mine:
        their_scores = {k: round(scored[k], 7) for k in set(mine) ^ {_key(e) for e in theirs}}
        return f"no official scores within {SCORE_TOL} of {their_scores} (official scores) decode to ours"
    return None


def _key(entity: dict) -> Key:
    return (entity["start"], entity["end"], entity["label"])


def official_greedy(scored: List[Tuple[dict, float]], flat_ner: bool, multi_label: bool) -> List[Key]:
    """The official library's greedy search over (entity, score) pairs, in this order where scores are equal."""
    from gliner.decoding.decoder import Span, SpanDecoder

    # character offsets, end inclusive like word indices: two spans share a word iff they share a character
    spans = [Span(start=e["start"], end=e["end"] - 1, entity_type=e["label"], score=score) for e, score in scored]
    return [(s.start, s.end + 1, s.entity_type) for s in SpanDecoder(None).greedy_search(spans, flat_ner, multi_label)]


def aligned(doc: Any) -> bool:
    """Whether no token holds characters of two GLiNER words, so word spans map 1:1 onto token spans."""
    owner = np.full(len(doc.text), -1)
    for i, (_, start, end) in enumerate(split_words(doc.text)):
        owner[start:end] = i
    for token in doc:
        words = set(owner[token.idx : token.idx + len(token)]) - {-1}
        if len(words) > 1:
            return False
    return True


def token_entities(doc: Any, entities: List[dict]) -> List[dict]:
    """Official entities (character offsets) widened to whole tokens of ``doc``: the same
    entities (which keep what explains a difference) where the tokens are GLiNER's words."""
    if aligned(doc):
        return entities
    out = []
    for e in entities:
        span = doc.char_span(e["start"], e["end"], alignment_mode="expand")
        out.append({"start": span.start_char, "end": span.end_char, "label": e["label"], "score": e["score"]})
    return out


def fitting_ents(doc: Any, entities: List[dict]) -> List[Tuple[int, int, str]]:
    """The (start, end, label) token spans that the placing rule puts in ``doc.ents`` for
    entities at character offsets: each widened to tokens; by score, best first, then by
    position, each one whose tokens no chosen one holds; in document order."""
    taken: set = set()
    chosen = []
    for e in sorted(entities, key=lambda e: (-e["score"], e["start"], e["end"])):
        span = doc.char_span(e["start"], e["end"], alignment_mode="expand")
        if taken.isdisjoint(range(span.start, span.end)):
            taken.update(range(span.start, span.end))
            chosen.append((span.start, span.end, e["label"]))
    return sorted(chosen)


# -- invariants of annotated docs (property and reliability tests) --------------------
def assert_valid_output(doc: Doc, spans_key: str, threshold: float, nested: bool, allowed: Optional[Sequence[str]] = None) -> None:
    """The invariants that every annotated doc (without entities of its own) satisfies."""
    from spacy_gliner.alignment import exact_entities

    group = doc.spans[spans_key]
    found = exact_entities(group)
    assert len(found) == len(group) == len(group.attrs["scores"])
    scores = np.asarray([e.score for e in found], dtype=np.float64)
    assert np.all(scores > threshold) and np.all(scores <= 1.0)
    for span, e in zip(group, found):
        assert 0 <= span.start < span.end <= len(doc)
        assert span.start_char == doc[span.start].idx and span.end_char == doc[span.end - 1].idx + len(doc[span.end - 1])
        assert not doc[span.start].is_space and not doc[span.end - 1].is_space
        assert span.text.strip()
        # the span is the smallest run of tokens holding the entity's characters
        widened = doc.char_span(e.start, e.end, alignment_mode="expand")
        assert (span.start, span.end) == (widened.start, widened.end)
        if allowed is not None:
            assert span.label_ in allowed
    bounds = [(e.start, e.end) for e in found]  # entities decoded on words: the official rules, in characters
    for i, (s1, e1) in enumerate(bounds):
        for s2, e2 in bounds[i + 1 :]:
            overlap = s1 < e2 and s2 < e1
            if not nested:
                assert not overlap or (s1, e1) == (s2, e2), f"overlapping flat entities {(s1, e1)} and {(s2, e2)}"
            else:
                assert not overlap or (s1 <= s2 and e2 <= e1) or (s2 <= s1 and e1 <= e2), f"crossing entities {(s1, e1)}, {(s2, e2)}"
    if not nested:
        entities = [{"start": e.start, "end": e.end, "label": e.label, "score": e.score} for e in found]
        assert [(e.start, e.end, e.label_) for e in doc.ents] == fitting_ents(doc, entities)


def spans_of(doc: Doc, key: str = "sc") -> List[tuple]:
    return [(s.start, s.end, s.label_) for s in doc.spans[key]]


@pytest.fixture(scope="module")
def weights_read_once():
    """``checkpoint.load`` reads each folder once for the module (the CLI tests load the same
    checkpoint in many commands); modules opt in with an autouse fixture that asks for it."""
    from spacy_gliner.model import checkpoint

    cache: Dict[str, Any] = {}
    original = checkpoint.load

    def load(source, relations=False):
        key = str(Path(source).resolve())
        if key not in cache:
            cache[key] = original(source, relations)
        return cache[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint, "load", load)
        yield


def invoke(*args: Any, input: Any = None) -> Any:
    """The command line run as a user runs it, in this process (typer's CliRunner)."""
    from typer.testing import CliRunner

    from spacy_gliner.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def said(result: Any) -> str:
    """The messages a command printed on stderr, as one line of plain text (wasabi wraps and colours them)."""
    import re

    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", result.stderr).split())
