"""Convert Pile-NER-type conversations (train.json) to train/dev DocBins."""

from pathlib import Path

import typer
from wasabi import msg

from spacy_gliner.data.corpora import GoldFormat, convert_pilener

app = typer.Typer(add_completion=False)


@app.command()
def main(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Pile-NER-type train.json"),
    out_dir: Path = typer.Argument(..., help="Folder for train.spacy and dev.spacy"),
    dev_fraction: float = typer.Option(0.1, help="Share of passages held out for dev"),
    seed: int = typer.Option(0, help="Seed of the train/dev split"),
    lowercase_types: bool = typer.Option(False, help="Lower-case entity types"),
    nested: bool = typer.Option(False, help="Always write doc.spans as well as doc.ents"),
    spans_key: str = typer.Option("sc", help="doc.spans key for overlapping gold spans"),
) -> None:
    summary = convert_pilener(path, out_dir, dev_fraction, seed, GoldFormat(lowercase_types, nested, spans_key))
    msg.good(f"Wrote {summary.docs} docs to {out_dir}")
    msg.table(summary.rows(), header=("", "count"))


if __name__ == "__main__":
    app()
