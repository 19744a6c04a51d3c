"""Convert GLiNER's processed training JSON to a DocBin."""

from pathlib import Path

import typer
from wasabi import msg

from spacy_gliner.data.corpora import GoldFormat, convert_gliner_json

app = typer.Typer(add_completion=False)


@app.command()
def main(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="GLiNER JSON (tokenized_text + ner)"),
    out_path: Path = typer.Argument(..., help="Output .spacy file"),
    lowercase_types: bool = typer.Option(False, help="Lower-case entity types"),
    nested: bool = typer.Option(False, help="Always write doc.spans as well as doc.ents"),
    spans_key: str = typer.Option("sc", help="doc.spans key for overlapping gold spans"),
) -> None:
    summary = convert_gliner_json(path, out_path, GoldFormat(lowercase_types, nested, spans_key))
    msg.good(f"Wrote {summary.docs} docs to {out_path}")
    msg.table(summary.rows(), header=("", "count"))


if __name__ == "__main__":
    app()
