"""``spacy-gliner render`` pages opened in a real headless browser (Debian's ``chromium``):
the relations' labelled arcs and the classes table are in the DOM the browser builds, and
the page asks the network for nothing (read from Chromium's network log).

No browser is not a reason to skip: the test fails saying how to install one (``make test``
installs it where apt-get works: ``.ci/chromium``). The HTML as written is parsed in ``test_relations.py``.
"""

import sys
from pathlib import Path

import pytest
from helpers.classes import add_textcat
from helpers.cli import invoke, said
from helpers.data import benchmark
from helpers.pages import read_page
from helpers.pipelines import gliner_pipeline
from helpers.relex_checkpoints import RELATION_TYPES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _chromium import INSTALL, find_browser, rendered  # noqa: E402


def _browser() -> str:
    """The browser, or the test fails (not skips) saying how to install one."""
    found = find_browser()
    if found is None:
        pytest.fail(
            f"No headless browser to open the rendered page in: install Debian's chromium ({INSTALL}, as root),"
            " or another Chromium as `chromium` on PATH."
        )
    return found


def test_the_relations_page_shows_its_arcs_and_classes_in_a_browser(relex_checkpoint, tmp_path):
    browser = _browser()
    texts, labels = benchmark("conll2003", 4)
    text = texts[3]
    relations = {"works for": RELATION_TYPES[0], "<b>in</b>": RELATION_TYPES[1]}  # a label is text, never markup
    nlp = gliner_pipeline(relex_checkpoint("span-none"), labels, relations=relations, threshold=0.5)
    add_textcat(nlp, choices=("long", "<i>short</i>"))
    nlp.to_disk(tmp_path / "nlp")
    doc = nlp(text)
    assert doc._.rel and doc.cats
    result = invoke("render", text, "-m", tmp_path / "nlp", "-o", tmp_path / "page.html")
    assert result.exit_code == 0, said(result)
    dom, fetched = rendered(browser, tmp_path / "page.html")
    page = read_page(dom)
    assert sorted(page.arcs) == sorted(r["relation"] for r in doc._.rel) and "<b>in</b>" in page.arcs
    ends = sorted({(r[s]["start_char"], r[s]["end_char"], r[s]["label"]) for r in doc._.rel for s in ("head", "tail")})
    assert page.words == [text[a:b] for a, b, _ in ends] and page.tags == [label for _, _, label in ends]
    assert page.classes == [(choice, f"{score:.4f}") for choice, score in doc.cats.items()]
    assert page.scripts == 0 and "<b>" not in dom and "<i>" not in dom  # escaped: text, never markup
    assert fetched == []


def test_the_browser_check_sees_a_page_that_fetches(tmp_path):
    """The network check can fail: a page with an image from elsewhere is caught."""
    browser = _browser()
    page = tmp_path / "fetches.html"
    page.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>', encoding="utf8")
    assert rendered(browser, page)[1] == ["http://example.invalid/x.png"]
