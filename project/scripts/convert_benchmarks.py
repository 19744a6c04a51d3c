"""Convert every benchmark folder (test.json + labels.json, ...) to <out>/<dataset>/<split>.spacy."""

from pathlib import Path

import typer
from wasabi import msg

from spacy_gliner.data.corpora import GoldFormat, convert_benchmarks

app = typer.Typer(add_completion=False)

COLUMNS = ("docs", "mentions", "entities", "types", "unplaced", "realigned", "relocated", "overlap_docs")


@app.command()
def main(
    root: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder of dataset folders"),
    out_dir: Path = typer.Argument(..., help="Output folder"),
    relocate: bool = typer.Option(True, help="Move mentions misplaced by substring search to whole words"),
    lowercase_types: bool = typer.Option(False, help="Lower-case entity types"),
    nested: bool = typer.Option(False, help="Always write doc.spans as well as doc.ents"),
    spans_key: str = typer.Option("sc", help="doc.spans key for overlapping gold spans"),
) -> None:
    summaries = convert_benchmarks(root, out_dir, relocate, GoldFormat(lowercase_types, nested, spans_key))
    msg.good(f"Converted {len(summaries)} datasets to {out_dir}")
    rows = [(name, *(getattr(s, c) for c in COLUMNS)) for name, s in summaries.items()]
    msg.table(rows, header=("dataset", *COLUMNS))
    for name, s in summaries.items():
        if s.extra.get("types_outside_labels"):
            msg.warn(f"{name}: gold types not in labels.json: {s.extra['types_outside_labels']}")


if __name__ == "__main__":
    app()
