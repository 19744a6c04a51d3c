"""The zero-shot evaluation again, with the official gliner library on the same weights.

A saved spaCy pipeline is first exported to an official checkpoint folder
(``spacy_gliner.export``). ``gliner.GLiNER.from_pretrained(folder).evaluate`` then scores
each dataset as the official ``gliner.evaluation`` does (its own reader ``process``, the
lower-cased label list, batch 12, flat decoding), at each threshold. Its F1 must equal
ours (``spacy_gliner.data.evaluation``) on the same sentences.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import spacy
import typer
from wasabi import msg

from spacy_gliner import export
from spacy_gliner.data.evaluation import NESTED_MARKERS, ZERO_SHOT, evaluate_zero_shot, find_datasets

if TYPE_CHECKING:
    from gliner import GLiNER

app = typer.Typer(add_completion=False)


def load_official(checkpoint: Path, gpu_id: int) -> "GLiNER":
    import torch
    from gliner import GLiNER

    model = GLiNER.from_pretrained(str(checkpoint), local_files_only=True)
    if gpu_id >= 0 and torch.cuda.is_available():
        model.to(f"cuda:{gpu_id}")
    return model


def official_f1(model: "GLiNER", folder: Path, threshold: float, limit: int) -> float:
    """F1 of the official library on the first ``limit`` sentences (0: all) of ``folder``."""
    from gliner.evaluation.evaluate_ner import process

    records = json.loads((folder / "test.json").read_text(encoding="utf8"))
    test = [process(r) for r in (records[:limit] if limit else records)]
    labels = [label.lower() for label in json.loads((folder / "labels.json").read_text(encoding="utf8"))]
    flat = not any(marker in folder.name for marker in NESTED_MARKERS)
    _, f1 = model.evaluate(test, flat_ner=flat, threshold=threshold, batch_size=12, entity_types=labels)
    return float(f1)


@app.command()
def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Saved spaCy pipeline or GLiNER checkpoint"),
    benchmarks: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder of dataset folders"),
    datasets: List[str] = typer.Option(list(ZERO_SHOT), "--dataset", "-d", help="Datasets to check (repeat)"),
    thresholds: List[float] = typer.Option([0.5], "--threshold", "-t", help="Thresholds to check (repeat)"),
    output: Optional[Path] = typer.Option(None, help="JSON file with both F1s per threshold and dataset"),
    limit: int = typer.Option(0, help="Only the first N sentences of each dataset (0: all)"),
    tolerance: float = typer.Option(1e-3, help="Largest allowed F1 difference"),
    gpu_id: int = typer.Option(-1, help="GPU to run on if there is one, or -1 for the CPU"),
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if gpu_id >= 0:
        spacy.prefer_gpu(gpu_id)
    folders = find_datasets(benchmarks, datasets)
    rows, report, worst = [], {}, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = model
        if (model / "config.cfg").is_file():
            nlp = spacy.load(model)
            name = next(n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "gliner")
            checkpoint = export(nlp, name, Path(tmp) / "checkpoint")
        official = load_official(checkpoint, gpu_id)
        for threshold in thresholds:
            ours = evaluate_zero_shot(model, benchmarks, datasets, threshold, limit=limit)
            for folder in folders:
                mine = ours[folder.name]
                theirs = official_f1(official, folder, threshold, limit)
                diff = abs(mine.f1 - theirs)
                worst = max(worst, diff)
                rows.append(
                    (
                        threshold,
                        folder.name,
                        mine.predicted,
                        f"{100 * mine.f1:.2f}",
                        f"{100 * theirs:.2f}",
                        f"{diff:.1e}",
                    )
                )
                report.setdefault(str(threshold), {})[folder.name] = {
                    "sentences": mine.sentences,
                    "predicted": mine.predicted,
                    "ours_f1": mine.f1,
                    "official_f1": theirs,
                    "difference": diff,
                }
    msg.table(rows, header=("threshold", "dataset", "predicted", "ours F1", "official F1", "|diff|"), divider=True)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        record = {"model": str(model), "limit": limit, "max_difference": worst, "thresholds": report}
        output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf8")
    if worst > tolerance:
        msg.fail(f"Our protocol and the official library disagree: largest F1 difference {worst:.2e}", exits=1)
    msg.good(
        f"Same F1 as the official library: {len(folders)} datasets x {len(thresholds)} thresholds, largest difference"
        f" {worst:.1e}"
    )


if __name__ == "__main__":
    app()
