"""The zero-shot protocol of ``spacy_gliner.data.evaluation`` against the official library's.

The gold reader and the scorer are compared with the official ``gliner.evaluation`` code
on the real benchmark files; whole evaluations are compared with the official
``GLiNER.evaluate`` on the same (tiny, official) checkpoint and sentences.
"""

import json
import random
from pathlib import Path
from typing import Any, Callable, List

import numpy as np
import pytest
from helpers.data import BENCHMARKS

from spacy_gliner.data.evaluation import (
    PAPER_F1,
    ZERO_SHOT,
    Benchmark,
    evaluate_benchmark,
    evaluate_zero_shot,
    load_search,
    markdown_table,
    micro_prf,
    plot_f1,
    results_from_json,
    results_to_json,
)

ALL_DATASETS = sorted(p.name for p in BENCHMARKS.iterdir() if (p / "labels.json").is_file())


def official_gold(folder: Path) -> set:
    """Gold mentions as the official reader (``process``) gives them, with sentence indices."""
    from gliner.evaluation.evaluate_ner import process

    records = json.loads((folder / "test.json").read_text(encoding="utf8"))
    return {(i, s, e, t) for i, r in enumerate(records) for s, e, t in process(r)["ner"]}


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_gold_and_words_are_the_official_readers(name: str) -> None:
    from gliner.evaluation.evaluate_ner import process

    bench = Benchmark.from_folder(BENCHMARKS / name)
    records = json.loads((BENCHMARKS / name / "test.json").read_text(encoding="utf8"))
    assert bench.gold == official_gold(BENCHMARKS / name)
    assert bench.words == [process(r)["tokenized_text"] for r in records]
    assert bench.labels == [label.lower() for label in json.loads((BENCHMARKS / name / "labels.json").read_text())]


def test_unaligned_gold_counts_against_recall() -> None:
    # mit-movie has mentions whose character range is not on word boundaries.
    bench = Benchmark.from_folder(BENCHMARKS / "mit-movie")
    unaligned = {m for m in bench.gold if m[1] is None or m[2] is None}
    assert unaligned
    aligned = bench.gold - unaligned
    precision, recall, f1, tp = micro_prf(bench.gold, aligned)
    assert (precision, tp) == (1.0, len(aligned))
    assert recall == pytest.approx(len(aligned) / len(bench.gold))


def test_micro_prf_is_the_official_scorer() -> None:
    from gliner.evaluation.evaluator import BaseNEREvaluator

    bench = Benchmark.from_folder(BENCHMARKS / "CrossNER_AI")
    rng = random.Random(0)
    gold = sorted(m for m in bench.gold if m[1] is not None and m[2] is not None)
    kept = [m for m in gold if rng.random() < 0.6]
    wrong_type = [(i, s, e, "person" if t != "person" else "task") for i, s, e, t in gold if rng.random() < 0.2]
    shifted = [(i, s + 1, e + 1, t) for i, s, e, t in gold if rng.random() < 0.1]
    predicted = set(kept + wrong_type + shifted)
    n = len(bench.words)
    per_sentence = lambda mentions: [[(s, e, t) for j, s, e, t in sorted(mentions) if j == i] for i in range(n)]  # noqa: E731
    evaluator = BaseNEREvaluator(per_sentence(bench.gold), per_sentence(predicted))
    expected = evaluator.compute_prf(*evaluator.transform_data())
    precision, recall, f1, tp = micro_prf(bench.gold, predicted)
    assert 0.3 < f1 < 0.9
    assert (precision, recall, f1) == pytest.approx(
        (expected["precision"], expected["recall"], expected["f_score"]), abs=1e-12
    )


def test_micro_prf_without_predictions_or_gold_is_zero() -> None:
    assert micro_prf(set(), set()) == (0.0, 0.0, 0.0, 0)
    assert micro_prf({(0, 0, 0, "x")}, set()) == (0.0, 0.0, 0.0, 0)


def official_evaluate_f1(model: Any, folder: Path, threshold: float, limit: int) -> float:
    from gliner.evaluation.evaluate_ner import process

    records = json.loads((folder / "test.json").read_text(encoding="utf8"))[:limit]
    labels = [label.lower() for label in json.loads((folder / "labels.json").read_text(encoding="utf8"))]
    _, f1 = model.evaluate(
        [process(r) for r in records], flat_ner=True, threshold=threshold, batch_size=12, entity_types=labels
    )
    return float(f1)


@pytest.mark.parity
@pytest.mark.parametrize(
    "dataset,threshold,limit",
    [
        ("CrossNER_politics", 0.1, 60),
        ("CrossNER_music", 0.1, 60),
        ("mit-restaurant", 0.1, 100),
        ("CrossNER_politics", 0.3, 100),
    ],
)
def test_same_f1_as_official_evaluate_on_real_weights(
    dataset: str, threshold: float, limit: int, checkpoint_path: Callable[[str], Path], official: Callable[[str], Any]
) -> None:
    # ref_minilm is weak: below 0.5 it finds some gold, so precision and recall are both tested.
    folder = BENCHMARKS / dataset
    ours = evaluate_benchmark(
        load_search(checkpoint_path("ref_minilm")), Benchmark.from_folder(folder), threshold, limit=limit
    )
    assert ours.sentences == limit and ours.tp > 0 and ours.predicted > ours.tp
    assert ours.f1 == pytest.approx(official_evaluate_f1(official("ref_minilm"), folder, threshold, limit), abs=1e-9)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["markerV0-bert", "marker-bert-h48", "markerV0-deberta-h64"])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_same_f1_as_official_evaluate_on_tiny_checkpoints(
    name: str, threshold: float, checkpoint_path: Callable[[str], Path], official: Callable[[str], Any]
) -> None:
    folder = BENCHMARKS / "CrossNER_AI"
    ours = evaluate_benchmark(load_search(checkpoint_path(name)), Benchmark.from_folder(folder), threshold, limit=40)
    assert ours.predicted > 0 and ours.sentences == 40
    assert ours.f1 == pytest.approx(official_evaluate_f1(official(name), folder, threshold, 40), abs=1e-9)


def test_pipeline_and_checkpoint_give_the_same_scores(tmp_path: Path, checkpoint_path: Callable[[str], Path]) -> None:
    import spacy

    folder = checkpoint_path("markerV0-bert")
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(folder)})
    nlp.to_disk(tmp_path / "pipeline")
    for name in ("CrossNER_AI", "mit-restaurant"):
        (tmp_path / "bench" / name).mkdir(parents=True)
        records = json.loads((BENCHMARKS / name / "test.json").read_text(encoding="utf8"))[:15]
        (tmp_path / "bench" / name / "test.json").write_text(json.dumps(records))
        (tmp_path / "bench" / name / "labels.json").write_bytes((BENCHMARKS / name / "labels.json").read_bytes())
    names = ["CrossNER_AI", "mit-restaurant"]
    from_checkpoint = evaluate_zero_shot(folder, tmp_path / "bench", names, 0.4, progress=False)
    from_pipeline = evaluate_zero_shot(tmp_path / "pipeline", tmp_path / "bench", names, 0.4, progress=False)
    for name in names:
        a, b = from_checkpoint[name], from_pipeline[name]
        assert (a.tp, a.predicted, a.gold, a.f1) == (b.tp, b.predicted, b.gold, b.f1)
        assert a.sentences == 15 and a.predicted > 0
    assert results_from_json(json.loads(json.dumps(results_to_json(from_pipeline)))) == from_pipeline


def test_missing_dataset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="mit-movie"):
        evaluate_zero_shot(tmp_path, tmp_path, ["mit-movie"], progress=False)


def fake_results(f1s: List[float]) -> dict:
    from spacy_gliner.data.evaluation import Scores

    return {name: Scores(f1, f1, f1, 1, 1, 1, 1, 1) for name, f1 in zip(ZERO_SHOT, f1s)}


def test_table_has_the_paper_rows_and_ours() -> None:
    results = fake_results([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    table = markdown_table(results, "mine").splitlines()
    assert table[0] == "| model | Movie | Restaurant | AI | Literature | Music | Politics | Science | Avg |"
    assert [row.split(" | ")[0] for row in table[2:]] == [f"| {name}" for name in [*PAPER_F1, "mine"]]
    assert table[-1] == "| mine | 10.0 | 20.0 | 30.0 | 40.0 | 50.0 | 60.0 | 70.0 | 40.0 |"
    for row, values in zip(table[2:5], PAPER_F1.values()):
        numbers = [float(x) for x in row.strip("|").split("|")[1:]]
        assert numbers == list(values)
        assert np.mean(numbers[:-1]) == pytest.approx(numbers[-1], abs=0.06)  # the paper's averages


def test_table_of_other_datasets_has_no_paper_rows() -> None:
    from spacy_gliner.data.evaluation import Scores

    table = markdown_table({"conll2003": Scores(0.5, 0.5, 0.5, 1, 2, 2, 2, 4)}, "mine")
    assert "paper" not in table and "| mine | 50.0 | 50.0 |" in table


def test_chart_is_a_png_and_stable(tmp_path: Path) -> None:
    results = fake_results([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    first = plot_f1(results, tmp_path / "a.png", "mine").read_bytes()
    second = plot_f1(results, tmp_path / "b.png", "mine").read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and len(first) > 10_000
    assert first == second


def test_nested_datasets_follow_the_official_rule() -> None:
    assert Benchmark("ACE 2004", [], set(), []).flat is False
    assert Benchmark("GENIA_NER", [], set(), []).flat is False
    assert Benchmark("CrossNER_AI", [], set(), []).flat is True
