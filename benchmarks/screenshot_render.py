"""Render a real CrossNER science passage with ``spacy-gliner render`` and screenshot the page.

The page is opened in headless Chromium (Debian's ``chromium`` package) so that the
colours can be checked by eye; the PNG goes to ``docs/render_example.png``.

    python benchmarks/screenshot_render.py --model ../shared/data/models/ref_minilm
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

from _chromium import find_browser, screenshot  # noqa: E402
from _paths import DATA  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def passage(indices: List[int]) -> str:
    """CrossNER science sentences that mention scientists or persons (by their rank among those)."""
    items = json.loads((DATA / "benchmarks" / "CrossNER_science" / "test.json").read_text(encoding="utf8"))
    about_people = [x["sentence"] for x in items if any(e["type"] in ("scientist", "person") for e in x["entities"])]
    return "\n\n".join(about_people[i] for i in indices)


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
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "render_example.png", help="PNG to write")
    args = parser.parse_args()
    browser = find_browser()
    if browser is None:
        sys.exit("Chromium is not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
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
        screenshot(browser, page, args.output, "1200,800")
    print(f"Screenshot -> {args.output}")


if __name__ == "__main__":
    main()
