"""Render a real CrossNER science passage with ``spacy-gliner render`` and screenshot the page.

The page is opened in headless Chromium (Debian's ``chromium`` package) so that the
colours can be checked by eye; the PNG goes to ``docs/render_example.png``.

    python benchmarks/screenshot_render.py --model ../shared/data/models/ref_minilm

``--relations``: the page of a doc with relations and classes instead (labelled arcs under
the entities, a table of classes), to ``docs/render_relations.png``. No relex checkpoint can
be downloaded here, and the tiny ones of the tests score at random: this doc's entities,
relations and classes are set by hand (``RELATIONS_DOC``), in the form a relex model and a
text classifier write them (``doc._.rel``, ``doc.cats``), and drawn by ``render.render_html``,
which ``spacy-gliner render`` calls; it shows the drawing, not a model's output.

    python benchmarks/screenshot_render.py --relations
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

from _chromium import INSTALL, find_browser, screenshot  # noqa: E402
from _paths import DATA  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# the relations page: (text, entities (start, end, label), relations (head, tail, type, score), classes)
RELATIONS_DOC = (
    "Satya Nadella, the chief executive of Microsoft, was born in Hyderabad and lives in Seattle.",
    [(0, 13, "person"), (38, 47, "organization"), (61, 70, "location"), (84, 91, "location")],
    [(0, 1, "works for", 0.93), (0, 2, "born in", 0.88), (0, 3, "lives in", 0.81), (1, 3, "located in", 0.64)],
    {"business": 0.91, "sport": 0.02, "politics": 0.07},
)


def passage(indices: List[int]) -> str:
    """CrossNER science sentences that mention scientists or persons (by their rank among those)."""
    items = json.loads((DATA / "benchmarks" / "CrossNER_science" / "test.json").read_text(encoding="utf8"))
    about_people = [x["sentence"] for x in items if any(e["type"] in ("scientist", "person") for e in x["entities"])]
    return "\n\n".join(about_people[i] for i in indices)


def relations_page(page: Path) -> None:
    """Write the page of :data:`RELATIONS_DOC` (see the module's docstring)."""
    import spacy

    from spacy_gliner.relations import FoundRelation, RelationEnd, set_relations
    from spacy_gliner.render import render_html

    text, entities, relations, classes = RELATIONS_DOC
    doc = spacy.blank("en")(text)
    spans = [doc.char_span(start, end, label=label) for start, end, label in entities]
    doc.ents = spans
    ends = [RelationEnd(s.start_char, s.end_char, s.label_, s.start, s.end) for s in spans]
    set_relations(doc, [FoundRelation(ends[h], ends[t], kind, score) for h, t, kind, score in relations])
    doc.cats = classes
    page.write_text(render_html(doc, "sc", False, {}), encoding="utf8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=str(DATA / "models" / "ref_minilm"), help="GLiNER checkpoint or saved pipeline"
    )
    parser.add_argument("--labels", default="person,organization,location,date", help="labels to render")
    parser.add_argument(
        "--threshold", default="0.25", help="threshold (the reference model is weak: its scores sit low)"
    )
    parser.add_argument(
        "--sentences", default="1,4,5", help="which of the sentences about people to render, comma-separated"
    )
    parser.add_argument(
        "--output", type=Path, help="PNG to write (default: docs/render_example.png, or docs/render_relations.png)"
    )
    parser.add_argument("--relations", action="store_true", help="the relations page (docs/render_relations.png)")
    args = parser.parse_args()
    args.output = args.output or ROOT / "docs" / ("render_relations.png" if args.relations else "render_example.png")
    browser = find_browser()
    if browser is None:
        sys.exit(f"Chromium is not installed: {INSTALL}")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        if args.relations:
            relations_page(page)
        else:
            render = [
                sys.executable,
                "-m",
                "spacy_gliner",
                "render",
                passage([int(i) for i in args.sentences.split(",")]),
                "--labels",
                args.labels,
            ]
            render += ["--model", args.model, "--threshold", args.threshold, "--output", str(page)]
            subprocess.run(render, check=True)
        screenshot(browser, page, args.output, "1200,760" if args.relations else "1200,800")
    print(f"Screenshot -> {args.output}")


if __name__ == "__main__":
    main()
