"""The GLiNER paper's zero-shot protocol, on the benchmark JSON files.

Each dataset folder holds ``test.json`` (``{"sentence", "entities": [{"type", "pos"}]}``,
``pos`` a character range) and ``labels.json``. As in the paper (and the official
``gliner.evaluation``): the words are ``sentence.split()``; every sentence is scored
against the dataset's full label list, lower-cased; threshold 0.5; flat greedy decoding
(nested for ACE/GENIA-like datasets); exact-match micro precision, recall and F1 over
(sentence, first word, last word, type). A gold mention whose ``pos`` is not on word
boundaries keeps ``None`` for the missing end, as the official reader does: it counts in
recall and can never be predicted.

``predict_word_spans`` runs the model on the benchmark's own words, so the numbers are
those of the official library on the same checkpoint (``project/scripts/check_official.py``
shows it). Tables and charts put them beside the paper's GLiNER-S/M/L rows.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

if TYPE_CHECKING:  # pragma: no cover
    from ..model.search import SpanSearch

PathLike = Union[str, Path]
PROTOCOL_THRESHOLD = 0.5  # the paper's and gliner.evaluation's, whatever the component's default
BATCH_SIZE = 12  # sentences per forward pass, as gliner.evaluation's
# (sentence index, first word, last word inclusive, type); word indices may be None (unaligned gold)
Mention = Tuple[int, Optional[int], Optional[int], str]

ZERO_SHOT = (
    "mit-movie",
    "mit-restaurant",
    "CrossNER_AI",
    "CrossNER_literature",
    "CrossNER_music",
    "CrossNER_politics",
    "CrossNER_science",
)
COLUMNS = {
    "mit-movie": "Movie",
    "mit-restaurant": "Restaurant",
    "CrossNER_AI": "AI",
    "CrossNER_literature": "Literature",
    "CrossNER_music": "Music",
    "CrossNER_politics": "Politics",
    "CrossNER_science": "Science",
}
# Zero-shot F1 (%) reported in the GLiNER paper (Table 1), in ZERO_SHOT order, then the average.
PAPER_F1 = {
    "GLiNER-S (paper)": (46.9, 33.3, 50.7, 60.0, 60.9, 61.5, 55.6, 52.7),
    "GLiNER-M (paper)": (42.9, 37.3, 51.8, 59.7, 69.4, 68.6, 58.1, 55.4),
    "GLiNER-L (paper)": (57.2, 42.9, 57.2, 64.4, 69.6, 72.6, 62.6, 60.9),
}
NESTED_MARKERS = ("ACE", "GENIA", "Corpus")  # the official rule for nested datasets


@dataclass
class Benchmark:
    """One dataset split: its words, gold mentions and lower-cased label list."""

    name: str
    words: List[List[str]]
    gold: Set[Mention]
    labels: List[str]

    @property
    def flat(self) -> bool:
        return not any(marker in self.name for marker in NESTED_MARKERS)

    @classmethod
    def from_folder(cls, folder: PathLike, split: str = "test") -> "Benchmark":
        """Read ``<folder>/<split>.json`` and ``<folder>/labels.json`` (types lower-cased)."""
        folder = Path(folder)
        records = json.loads((folder / f"{split}.json").read_text(encoding="utf8"))
        labels = [str(label).lower() for label in json.loads((folder / "labels.json").read_text(encoding="utf8"))]
        words, gold = [], set()
        for i, record in enumerate(records):
            sentence = record["sentence"]
            words.append(sentence.split())
            for ent in record["entities"]:
                first, last = word_span(sentence, *ent["pos"])
                gold.add((i, first, last, str(ent["type"]).lower()))
        return cls(folder.name, words, gold, labels)


@dataclass
class Scores:
    """Exact-match micro scores of one dataset (fractions, not percentages)."""

    precision: float
    recall: float
    f1: float
    tp: int
    predicted: int
    gold: int
    sentences: int
    labels: int
    seconds: float = 0.0


def word_span(sentence: str, start_char: int, end_char: int) -> Tuple[Optional[int], Optional[int]]:
    """First and last word of a character range, over ``sentence.split()``; None where no
    word starts (ends) there. The official reader's rule: positions assume single spaces
    and the search stops at the end word."""
    first = last = None
    pos = 0
    for i, word in enumerate(sentence.split()):
        if pos == start_char:
            first = i
        if pos + len(word) == end_char:
            last = i
            break
        pos += len(word) + 1
    return first, last


def predict_word_spans(
    search: "SpanSearch",
    word_lists: Sequence[Sequence[str]],
    labels: Sequence[str],
    threshold: float = PROTOCOL_THRESHOLD,
    flat: bool = True,
    batch_size: int = BATCH_SIZE,
) -> Set[Mention]:
    """Decoded predictions on given words, as (sentence, first word, last word, label)."""
    from ..model.decoding import greedy_decode
    from ..model.search import unique_labels

    labels = unique_labels(labels)
    found = search(word_lists, [labels] * len(word_lists), threshold, batch_size)
    out: Set[Mention] = set()
    for i, cands in enumerate(found):
        for k in greedy_decode(cands, flat=flat):
            out.add((i, int(cands.starts[k]), int(cands.ends[k]), labels[cands.labels[k]]))
    return out


def micro_prf(gold: Set[Mention], predicted: Set[Mention]) -> Tuple[float, float, float, int]:
    """Exact-match micro precision, recall, F1 and true positives (0 where undefined)."""
    tp = len(gold & predicted)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, tp


def evaluate_benchmark(
    search: "SpanSearch",
    bench: Benchmark,
    threshold: float = PROTOCOL_THRESHOLD,
    batch_size: int = BATCH_SIZE,
    limit: int = 0,
) -> Scores:
    """Score one benchmark (its first ``limit`` sentences if ``limit``)."""
    import time

    words = bench.words[:limit] if limit else bench.words
    gold = {m for m in bench.gold if m[0] < len(words)}
    started = time.perf_counter()
    predicted = predict_word_spans(search, words, bench.labels, threshold, bench.flat, batch_size)
    seconds = time.perf_counter() - started
    precision, recall, f1, tp = micro_prf(gold, predicted)
    return Scores(precision, recall, f1, tp, len(predicted), len(gold), len(words), len(bench.labels), seconds)


def load_search(model: PathLike) -> "SpanSearch":
    """The span search of a saved spaCy pipeline's gliner component, or of a GLiNER
    checkpoint, on the device of spaCy's current ops."""
    from ..loading import load_pipeline

    return load_pipeline(model).component.search()


def find_datasets(root: PathLike, names: Iterable[str] = ZERO_SHOT) -> List[Path]:
    """The folders of the named datasets under ``root``; a missing one is an error."""
    root = Path(root)
    folders = [root / name for name in names]
    missing = [str(f) for f in folders if not (f / "test.json").is_file() or not (f / "labels.json").is_file()]
    if missing:
        raise FileNotFoundError(f"No test.json and labels.json in: {', '.join(missing)}")
    return folders


def evaluate_zero_shot(
    model: PathLike,
    root: PathLike,
    names: Iterable[str] = ZERO_SHOT,
    threshold: float = PROTOCOL_THRESHOLD,
    batch_size: int = BATCH_SIZE,
    limit: int = 0,
    progress: bool = True,
) -> Dict[str, Scores]:
    """The protocol on each named dataset under ``root``, in order."""
    from tqdm import tqdm

    folders = find_datasets(root, names)
    search = load_search(model)
    results = {}
    for folder in tqdm(folders, desc="zero-shot", disable=not progress, leave=False):
        results[folder.name] = evaluate_benchmark(search, Benchmark.from_folder(folder), threshold, batch_size, limit)
    return results


def average_f1(results: Dict[str, Scores]) -> float:
    return sum(s.f1 for s in results.values()) / len(results) if results else 0.0


def results_to_json(results: Dict[str, Scores], **info: object) -> Dict[str, object]:
    """A JSON-ready record: per-dataset scores, the average F1 and run information."""
    return {"datasets": {name: asdict(s) for name, s in results.items()}, "average_f1": average_f1(results), **info}


def results_from_json(data: Dict[str, object]) -> Dict[str, Scores]:
    return {name: Scores(**values) for name, values in data["datasets"].items()}  # type: ignore[union-attr]


def markdown_table(results: Dict[str, Scores], name: str = "this model") -> str:
    """F1 (%) per dataset and the average, beside the paper's rows (zero-shot datasets only)."""
    ordered = [d for d in ZERO_SHOT if d in results] + [d for d in results if d not in ZERO_SHOT]
    header = [COLUMNS.get(d, d) for d in ordered] + ["Avg"]
    rows = [f"| model | {' | '.join(header)} |", "|---|" + "---|" * len(header)]
    if all(d in COLUMNS for d in ordered) and len(ordered) == len(ZERO_SHOT):
        for paper, values in PAPER_F1.items():
            rows.append(f"| {paper} | {' | '.join(f'{v:.1f}' for v in values)} |")
    ours = [100 * results[d].f1 for d in ordered] + [100 * average_f1(results)]
    rows.append(f"| {name} | {' | '.join(f'{v:.1f}' for v in ours)} |")
    return "\n".join(rows) + "\n"


def plot_f1(results: Dict[str, Scores], path: PathLike, name: str = "this model") -> Path:
    """A bar chart (PNG) of F1 per dataset beside the paper's models. Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = [d for d in ZERO_SHOT if d in results] + [d for d in results if d not in ZERO_SHOT]
    series = {name: [100 * results[d].f1 for d in ordered] + [100 * average_f1(results)]}
    if len(ordered) == len(ZERO_SHOT) and all(d in COLUMNS for d in ordered):
        series = {**{k: list(v) for k, v in PAPER_F1.items()}, **series}
    columns = [COLUMNS.get(d, d) for d in ordered] + ["Avg"]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(1.1 * len(columns) + 2, 4))
    for k, (label, values) in enumerate(series.items()):
        ax.bar([i + (k - (len(series) - 1) / 2) * width for i in range(len(columns))], values, width, label=label)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns)
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Zero-shot NER, exact-match micro F1")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path
