"""Calibration: per-label thresholds from gold data (Python and ``spacy-gliner calibrate``):
each threshold tried is an exact re-decoding of the candidates kept at the floor (span models),
the choice is never below the best shared threshold on the gold data, a recall target is met
where it can be, and the thresholds are written into the saved pipeline."""

import json
from pathlib import Path
from typing import List

import numpy as np
import pytest
import spacy
from helpers.cli import invoke, said  # noqa: E402
from helpers.data import DATA, REF_MINILM  # noqa: E402

from spacy_gliner.data.calibration import Gold, apply, calibrate, plot, read_gold
from spacy_gliner.loading import RunOptions, load_pipeline

LABELS = ["location", "else", "organization", "person"]


pytestmark = pytest.mark.usefixtures("weights_read_once")  # each checkpoint folder is read once for the module


@pytest.fixture(scope="module")
def gold() -> List[Gold]:
    items = json.loads((DATA / "benchmarks" / "conll2003" / "dev.json").read_text(encoding="utf8"))[:40]
    return [Gold(x["sentence"], {(e["pos"][0], e["pos"][1], e["type"]) for e in x["entities"]}) for x in items]


@pytest.fixture(scope="module")
def gold_file(gold, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gold") / "dev.jsonl"
    lines = [
        json.dumps({"text": g.text, "entities": [{"start": a, "end": b, "label": c} for a, b, c in sorted(g.spans)]})
        for g in gold
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


@pytest.fixture(scope="module")
def pipeline():
    return load_pipeline(REF_MINILM, RunOptions(LABELS))


def micro(pipeline, gold, threshold):
    """P, R, F of the pipe run at ``threshold`` (its span group: the spans it placed)."""
    tp = predicted = support = 0
    docs = pipeline.nlp.pipe(
        [g.text for g in gold], component_cfg={pipeline.name: {"labels": LABELS, "threshold": threshold}}
    )
    for doc, g in zip(docs, gold):
        found = {(s.start_char, s.end_char, s.label_) for s in doc.spans["sc"]}
        tp, predicted, support = tp + len(found & g.spans), predicted + len(found), support + len(g.spans)
    p, r = tp / predicted, tp / support
    return p, r, 2 * p * r / (p + r)


def test_choice_is_exact_and_never_below_one_threshold(pipeline, gold):
    result = calibrate(pipeline, gold, floor=0.1, step=0.05)
    assert set(result.thresholds) == {label for g in gold for _, _, label in g.spans} | {"*"}
    assert result.thresholds["*"] == result.shared
    assert result.scores[2] >= result.shared_scores[2]
    # what the calibration counted is what the pipe gives at those thresholds: exact re-decoding
    assert np.allclose(micro(pipeline, gold, result.thresholds), result.scores)
    assert np.allclose(micro(pipeline, gold, result.shared), result.shared_scores)
    assert len(set(result.thresholds.values())) > 1, "the weak reference model's labels want different thresholds"


def test_recall_target(pipeline, gold):
    result = calibrate(pipeline, gold, floor=0.1, step=0.05, min_recall=0.6)
    for r in result.labels:
        reachable = any(recall >= 0.6 for _, _, recall in r.curve)
        assert r.recall >= 0.6 if reachable else r.threshold == 0.1
        # the best precision among the thresholds that reach it
        if reachable:
            assert r.precision == pytest.approx(max(p for _, p, recall in r.curve if recall >= 0.6))


def test_refusals(pipeline, gold, tmp_path):
    with pytest.raises(ValueError, match="labels the component does not look for: 'disease'"):
        calibrate(pipeline, [Gold("Flu is bad.", {(0, 3, "disease")})])
    with pytest.raises(ValueError, match="floor must be a number strictly between 0 and 1"):
        calibrate(pipeline, gold, floor=0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "abc", "entities": [{"start": 0, "end": 9, "label": "person"}]}\n')
    with pytest.raises(ValueError, match="line 1: the text is not a string, or an entity's offsets are outside it"):
        read_gold(bad, pipeline)
    with pytest.raises(ValueError, match="a .spacy DocBin or a .jsonl file"):
        read_gold(tmp_path / "x.csv", pipeline)


def test_cli_writes_the_pipeline_table_and_plot(gold_file, tmp_path):
    out, png = tmp_path / "calibrated", tmp_path / "pr.png"
    result = invoke(
        "calibrate", REF_MINILM, gold_file, "-o", out, "-l", ",".join(LABELS), "--plot", png, "--floor", "0.1"
    )
    assert result.exit_code == 0, said(result)
    assert "all, one threshold" in result.stdout and "support" in result.stdout
    assert png.read_bytes().startswith(b"\x89PNG")
    component = spacy.load(out).get_pipe("gliner")
    assert isinstance(component.threshold, dict) and set(component.threshold) <= set(LABELS) | {"*"}
    assert list(component.labels) == LABELS
    assert f"-> {out}" in said(result)
    # a folder that is not a pipeline is never written into
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    result = invoke("calibrate", out, gold_file, "-o", taken)
    assert result.exit_code == 1 and "not empty and not a saved pipeline" in said(result)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]


def test_plot_needs_matplotlib(pipeline, gold, tmp_path, monkeypatch):
    import builtins

    result = calibrate(pipeline, gold[:10], floor=0.2, step=0.2, rounds=1)
    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'pip install "spacy-gliner\[plot\]"'):
        plot(result, tmp_path / "x.png")


def test_apply_and_docbin_gold(pipeline, gold, tmp_path):
    from spacy.tokens import DocBin

    result = calibrate(pipeline, gold[:10], floor=0.2, step=0.2, rounds=1)
    fresh = load_pipeline(REF_MINILM, RunOptions(LABELS))
    apply(fresh, result)
    assert fresh.component.threshold == result.thresholds and list(fresh.component.labels) == LABELS
    docs = []
    for g in gold:
        doc = pipeline.nlp.make_doc(g.text)
        doc.set_ents([doc.char_span(a, b, label=c) for a, b, c in sorted(g.spans)])
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "dev.spacy")
    assert [(x.text, x.spans) for x in read_gold(tmp_path / "dev.spacy", pipeline)] == [(g.text, g.spans) for g in gold]
