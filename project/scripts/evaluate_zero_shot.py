"""The paper's zero-shot protocol on each benchmark: JSON scores, a Markdown table beside
the paper's GLiNER-S/M/L rows, and a bar chart (see ``spacy_gliner.data.evaluation``)."""

import json
import os
import time
from pathlib import Path
from typing import List, Optional

import spacy
import typer
from wasabi import msg

from spacy_gliner.data.evaluation import (
    BATCH_SIZE,
    PROTOCOL_THRESHOLD,
    ZERO_SHOT,
    evaluate_zero_shot,
    markdown_table,
    plot_f1,
    results_to_json,
)

app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Saved spaCy pipeline or GLiNER checkpoint"),
    benchmarks: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder of dataset folders"),
    output: Path = typer.Option(Path("metrics/zero_shot.json"), help="JSON scores"),
    table: Optional[Path] = typer.Option(None, help="Markdown table"),
    chart: Optional[Path] = typer.Option(None, help="Bar chart (PNG; needs matplotlib)"),
    name: str = typer.Option("this model", help="Row name in the table and chart"),
    datasets: List[str] = typer.Option(list(ZERO_SHOT), "--dataset", "-d", help="Datasets to evaluate"),
    threshold: float = typer.Option(PROTOCOL_THRESHOLD, help="Probability threshold (default: the paper's)"),
    batch_size: int = typer.Option(BATCH_SIZE, help="Sentences per forward pass"),
    limit: int = typer.Option(0, help="Only the first N sentences of each dataset (0: all)"),
    gpu_id: int = typer.Option(-1, help="GPU to run on if there is one, or -1 for the CPU"),
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if gpu_id >= 0:
        spacy.prefer_gpu(gpu_id)
    started = time.perf_counter()
    results = evaluate_zero_shot(model, benchmarks, datasets, threshold, batch_size, limit)
    seconds = time.perf_counter() - started
    rows = [
        (
            d,
            s.sentences,
            s.labels,
            f"{100 * s.precision:.1f}",
            f"{100 * s.recall:.1f}",
            f"{100 * s.f1:.1f}",
            f"{s.seconds:.0f}s",
        )
        for d, s in results.items()
    ]
    msg.table(rows, header=("dataset", "sentences", "labels", "P", "R", "F1", "time"), divider=True)
    info = {"model": str(model), "threshold": threshold, "limit": limit, "seconds": round(seconds, 1)}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results_to_json(results, **info), indent=2) + "\n", encoding="utf8")
    written = [output]
    if table:
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_text(markdown_table(results, name), encoding="utf8")
        written.append(table)
    if chart:
        written.append(plot_f1(results, chart, name))
    msg.good(
        f"Average F1 {100 * results_to_json(results)['average_f1']:.1f} in {seconds:.0f}s ->"
        f" {', '.join(map(str, written))}"
    )


if __name__ == "__main__":
    app()
