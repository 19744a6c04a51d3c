"""Convert a BIO / CoNLL file (blank line between passages) to a DocBin."""

from pathlib import Path

import typer
from wasabi import msg

from spacy_gliner.data.corpora import GoldFormat, convert_bio

app = typer.Typer(add_completion=False)


@app.command()
def main(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="BIO file: word and tag per line"),
    out_path: Path = typer.Argument(..., help="Output .spacy file"),
    nested: bool = typer.Option(False, help="Always write doc.spans as well as doc.ents"),
    spans_key: str = typer.Option("sc", help="doc.spans key for overlapping gold spans"),
) -> None:
    summary = convert_bio(path, out_path, GoldFormat(nested=nested, spans_key=spans_key))
    msg.good(f"Wrote {summary.docs} docs to {out_path}")
    msg.table(summary.rows(), header=("", "count"))


if __name__ == "__main__":
    app()
