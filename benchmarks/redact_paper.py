"""Redact every person name of a paper-like Markdown page and record what was found and missed.

The page (``docs/redaction/paper.md``) has a title, authors with affiliations and
superscripts, an e-mail, body text citing people and a reference list in several
citation styles. It goes through ``spacy-gliner redact`` as a user runs it (numbered
placeholders, mapping, preview), then ``spacy-gliner restore``. The script checks that
every byte outside the replaced ranges is the input's and that restore gives the input
back, and scores the replacements against the person mentions listed in ``GOLD``:

    python benchmarks/redact_paper.py --model ../shared/data/models/ref_minilm --threshold 0.3

It runs three times: ``--propagate off``, ``exact`` and ``parts`` (a found name's other
occurrences, and its parts), and compares them.

Writes ``docs/redaction/paper.redacted.md``, ``docs/redaction/mapping.json``,
``docs/redaction/preview.html`` (and the same with ``.parts`` before the suffix), ``docs/redaction/results.md``
and, with Chromium installed, the screenshots
``docs/redaction/preview.png`` and ``preview.parts.png``.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

from _chromium import find_browser, screenshot  # noqa: E402
from _paths import DATA  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "redaction"

# Every person mention of the page, as written; each occurrence counts (longest first).
# "John Murray" (a publisher) and the e-mail address are not in the list.
GOLD = """María José González-Pérez|Kenji Watanabe|Aisha O. Bello|Lukas Hoffmann|Zaratiana|Charles Darwin|Ada Lovelace|
Michael Faraday|Lample|Emily Clarke|Tomás Rivera|Grishman|Sundheim|Tjong Kim Sang|De Meulder|Collobert|Huang|Xu|Yu|Devlin|He|
Jacob Devlin|Urchade Zaratiana|Wenxuan Zhou|Darwin|Joseph Dalton Hooker|Hooker|Lyell|J. D. H.|Asa Gray|Thomas Henry Huxley|
Emma Darwin|Tomeh|Holat|Charnois|Sanh|Wang|Li|Feng|Meng|Yoshua Bengio|Fei-Fei Li|Zaratiana, U.|Tomeh, N.|Holat, P.|Charnois, T.|
Devlin, J.|Chang, M.-W.|Lee, K.|Toutanova, K.|He, P.|Liu, X.|Gao, J.|Chen, W.|Lample, G.|Ballesteros, M.|Subramanian, S.|
Kawakami, K.|Dyer, C.|Tjong Kim Sang, E. F.|De Meulder, F.|Grishman, R.|Sundheim, B.|W. Zhou|S. Zhang|Y. Gu|M. Chen|H. Poon|
V. Sanh|L. Debut|J. Chaumond|T. Wolf|X. Li|J. Feng|Y. Meng|Q. Han|F. Wu|J. Li|R. Collobert|J. Weston|L. Bottou|M. Karlen|
K. Kavukcuoglu|P. Kuksa|Z. Huang|W. Xu|K. Yu|Wang, Wenhui|Furu Wei|Li Dong|Hangbo Bao|Nan Yang|Ming Zhou|Vaswani, Ashish|
Noam Shazeer|Niki Parmar|Jakob Uszkoreit|Llion Jones|Aidan N. Gomez|Łukasz Kaiser|Illia Polosukhin|Peters, Matthew E.|
Mark Neumann|Mohit Iyyer|Matt Gardner|Christopher Clark|Kenton Lee|Luke Zettlemoyer|DARWIN, C. R.|Burkhardt, Frederick|
Sydney Smith|Toole, Betty Alexandra|Ada|Ratinov, L.|Roth, D.|Akbik, A.|Blythe, D.|Vollgraf, R.|Nadeau, David|Satoshi Sekine"""


def gold_mentions(text: str) -> List[Tuple[int, int]]:
    names = sorted({n.strip() for n in GOLD.replace("\n", "").split("|")}, key=len, reverse=True)
    taken = [False] * len(text)
    found = []
    for name in names:
        for m in re.finditer(rf"(?<![^\W_]){re.escape(name)}(?![^\W_])", text):
            if not any(taken[m.start() : m.end()]):
                taken[m.start() : m.end()] = [True] * (m.end() - m.start())
                found.append(m.span())
    return sorted(found)


def redact(
    paper: Path, model: str, threshold: Optional[str], propagate: str, suffix: str, folder: Path = FOLDER
) -> dict:
    """One ``spacy-gliner redact`` run (and restore) as a user runs it; what it replaced, what
    it missed, and whether every other byte stayed and restore gave the input back."""
    redacted, mapping, preview = (
        folder / f"{name}{suffix}{ext}"
        for name, ext in (("paper.redacted", ".md"), ("mapping", ".json"), ("preview", ".html"))
    )
    run = [
        sys.executable,
        "-m",
        "spacy_gliner",
        "redact",
        str(paper),
        "-l",
        "person",
        "-m",
        model,
        "--propagate",
        propagate,
    ]
    run += ["-t", threshold] if threshold is not None else []
    run += ["-p", "numbered", "-o", str(redacted), "--mapping", str(mapping), "--preview", str(preview)]
    subprocess.run(run, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        back = Path(tmp) / "back.md"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "spacy_gliner",
                "restore",
                str(redacted),
                "--mapping",
                str(mapping),
                "-o",
                str(back),
            ],
            check=True,
        )
        restored = back.read_bytes() == paper.read_bytes()

    text = paper.read_bytes().decode("utf8")
    out = redacted.read_bytes().decode("utf8")
    reps = json.loads(mapping.read_text(encoding="utf8"))["replacements"]
    kept, pos, rpos = True, 0, 0
    for r in reps:  # every character outside the replaced ranges is the input's, in order
        kept &= text[pos : r["start"]] == out[rpos : r["redacted_start"]]
        pos, rpos = r["end"], r["redacted_end"]
    kept &= text[pos:] == out[rpos:]

    covered = [False] * len(text)
    for r in reps:
        covered[r["start"] : r["end"]] = [True] * (r["end"] - r["start"])
    gold = gold_mentions(text)
    full = [text[a:b] for a, b in gold if all(covered[i] for i in range(a, b) if not text[i].isspace())]
    none = [text[a:b] for a, b in gold if not any(covered[a:b])]
    part = [text[a:b] for a, b in gold if text[a:b] not in full and any(covered[a:b])]
    in_gold = [False] * len(text)
    for a, b in gold:
        in_gold[a:b] = [True] * (b - a)
    wrong = [r["original"] for r in reps if not any(in_gold[r["start"] : r["end"]])]
    propagated = sum(bool(r.get("propagated")) for r in reps)
    return {
        "gold": gold,
        "full": full,
        "none": none,
        "part": part,
        "wrong": wrong,
        "reps": reps,
        "kept": kept,
        "restored": restored,
        "propagated": propagated,
        "preview": preview,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=str(DATA / "models" / "ref_minilm"), help="GLiNER checkpoint or saved pipeline"
    )
    parser.add_argument(
        "--threshold",
        default=None,
        help=(
            "threshold, e.g. 0.3 or person=0.2,0.5 (default: the model's own; the reference model is weak: its scores"
            " sit low)"
        ),
    )
    parser.add_argument("--out", type=Path, default=FOLDER, help="folder for the outputs (default: docs/redaction)")
    args = parser.parse_args()
    paper = FOLDER / "paper.md"
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # the "exact" run's files are not kept: only its numbers
        folders = {"off": args.out, "exact": Path(tmp), "parts": args.out}
        runs = {
            mode: redact(paper, args.model, args.threshold, mode, "" if mode == "off" else f".{mode}", folder)
            for mode, folder in folders.items()
        }
    base = runs["off"]
    n = len(base["gold"])
    lines = [
        (
            f"# Redaction of `paper.md`: results (model {Path(args.model).name}, threshold"
            f" {args.threshold or 'the model' + chr(39) + 's'}, labels: person)"
        ),
        "",
        (
            "Written by `benchmarks/redact_paper.py`. `--propagate off` (the files without a suffix), `exact` (numbers"
            " only) and `parts` (the files with `.parts`)."
        ),
        "",
        (
            "| --propagate | fully replaced | partly | missed | replacements | of which propagated | not a person |"
            " other bytes kept | restore byte-identical |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for mode, r in runs.items():
        lines.append(
            f"| {mode} | {len(r['full'])} of {n} ({100 * len(r['full']) / n:.0f}%) | {len(r['part'])} |"
            f" {len(r['none'])} | {len(r['reps'])} | {r['propagated']} | {len(r['wrong'])} |"
            f" {'yes' if r['kept'] else 'NO'} | {'yes' if r['restored'] else 'NO'} |"
        )
    lines.append("")
    for title, key in (
        ("Missed", "none"),
        ("Partly replaced", "part"),
        ("Replaced but not a person name", "wrong"),
        ("Fully replaced", "full"),
    ):
        names = base[key] if key != "wrong" else base["wrong"]
        lines += [f"## {title} (--propagate off)", "", ", ".join(f"`{m}`" for m in names) or "none", ""]
    gained = [m for m in runs["parts"]["full"] if m not in base["full"]]
    lines += [
        "## Fully replaced with --propagate parts only",
        "",
        ", ".join(f"`{m}`" for m in sorted(set(gained))) or "none",
        "",
    ]
    (args.out / "results.md").write_text("\n".join(lines), encoding="utf8")
    print("\n".join(lines[4:9]))
    browser = find_browser()
    if browser is None:
        print("Chromium is not installed (apt-get install -y chromium): no screenshot")
        return
    for mode, png in (("off", "preview.png"), ("parts", "preview.parts.png")):  # screenshots: in docs/redaction
        screenshot(browser, runs[mode]["preview"], FOLDER / png, "1200,1500")
        print(f"Screenshot -> {FOLDER / png}")


if __name__ == "__main__":
    main()
