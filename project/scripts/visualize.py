"""A displaCy page of a pipeline's entities on sample texts, one colour per label.

Each line of the samples file is ``{"text": ..., "labels": [...]}``; a nested component's
spans are drawn in displaCy's span style. Colours come from
``spacy_gliner.render.label_color`` (a hash of the label name), so they are the same on every
run and match ``spacy-gliner render``.
"""

import json
from pathlib import Path
from typing import Optional

import spacy
import srsly
import typer
from wasabi import msg

from spacy_gliner.loading import load_pipeline
from spacy_gliner.render import displacy_page, label_color

app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Saved spaCy pipeline or GLiNER checkpoint"),
    samples: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL: text and labels per line"),
    output: Path = typer.Argument(..., help="HTML file to write"),
    threshold: Optional[float] = typer.Option(None, help="Probability threshold (default: the component's)"),
    gpu_id: int = typer.Option(-1, help="GPU to run on if there is one, or -1 for the CPU"),
) -> None:
    if gpu_id >= 0:
        spacy.prefer_gpu(gpu_id)
    pipeline = load_pipeline(model)
    nlp, name, component = pipeline.nlp, pipeline.name, pipeline.component
    cfg = {} if threshold is None else {"threshold": threshold}
    docs = [
        nlp(sample["text"], component_cfg={name: {**cfg, "labels": list(sample["labels"])}})
        for sample in srsly.read_jsonl(samples)
    ]
    labels = sorted({label for sample in srsly.read_jsonl(samples) for label in sample["labels"]})
    colors = {label: label_color(label) for label in labels}
    style, options = ("span", {"spans_key": component.spans_key}) if component.nested else ("ent", {})
    html = displacy_page(docs, style, colors, **options)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf8")
    group = component.spans_key
    found = [
        [(s.text, s.label_, round(float(p), 4)) for s, p in zip(doc.spans[group], doc.spans[group].attrs["scores"])]
        for doc in docs
    ]
    msg.good(f"{sum(map(len, found))} entities in {len(docs)} texts -> {output}")
    for entities in found:
        msg.text(json.dumps(entities))


if __name__ == "__main__":
    app()
