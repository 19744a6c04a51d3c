"""Redaction never touches a byte outside an entity, and restore gives the input back exactly.

The property tests use a test double for the model (entities at known offsets), so that
they are about the redaction code; the end-to-end tests run the real reference checkpoint
through the command line.
"""
import json
import re
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from spacy_gliner.cli.app import app
from spacy_gliner.redact import BOM, markup_spans, redact_document, redact_text, restore_document

from conftest import REF_MINILM  # noqa: E402

NAMES = ["Alan Turing", "Ada Lovelace", "Grace Hopper", "Zoë Saldaña", "Jose\u0301 Mourinho", "李小龙", "O'Neil", "Turing"]
WORDS = ["the", "paper", "by", "and", "1,234,567", "e.g.", "U.S.-based", "😀", "|", "---", "#", "-", "1.", ">", "<", "a < b", "\u200b"]
BREAKS = ["\n", "\r\n", "\r\n\r\n", "\n\n"]
OPEN_CLOSE = [("**", "**"), ("_", "_"), ("<b>", "</b>"), ("<span class=\"x\">", "</span>"), ("[", "](https://x.org/a_b)"), ("", ""), ("| ", " |")]


@st.composite
def documents(draw) -> Tuple[bytes, List[Dict[str, Any]], List[Dict[str, Any]]]:
    """(document bytes, the entities outside markup, the entities inside tags) of a random page."""
    parts: List[str] = []
    entities: List[Dict[str, Any]] = []
    in_tags: List[Dict[str, Any]] = []
    pos = 0

    def add(text: str) -> int:
        nonlocal pos
        parts.append(text)
        pos += len(text)
        return pos - len(text)

    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["word", "name", "name", "break", "tag", "attr", "space"]))
        if kind == "word":
            add(draw(st.sampled_from(WORDS)))
        elif kind == "space":
            add(draw(st.sampled_from([" ", "  ", "\t", " "])))
        elif kind == "break":
            add(draw(st.sampled_from(BREAKS)))
        elif kind == "tag":
            add(draw(st.sampled_from(["<p>", "</p>", "<br/>", "<!-- note Alan Turing -->", "<td>", "</td>"])))
        elif kind == "attr":  # a name inside an attribute value: found, but never replaced by default
            name = draw(st.sampled_from(NAMES))
            start = add(f'<img alt="Photo of {name}" src="p.png">') + len('<img alt="Photo of ')
            in_tags.append({"start": start, "end": start + len(name), "label": "person"})
        else:
            name = draw(st.sampled_from(NAMES))
            opening, closing = draw(st.sampled_from(OPEN_CLOSE))
            add(opening)
            if draw(st.booleans()) and " " in name:  # a name across a line break
                first, last = name.split(" ", 1)
                start = add(first)
                add(draw(st.sampled_from(BREAKS)))
                add(last)
            else:
                start = add(name)
            entities.append({"start": start, "end": pos, "label": draw(st.sampled_from(["person", "person", "org name"]))})
            add(closing)
        if draw(st.booleans()):
            add(" ")
    bom = BOM if draw(st.booleans()) else b""
    return bom + "".join(parts).encode("utf8"), entities, in_tags


def outside(text: str, ranges: List[Tuple[int, int]]) -> List[bytes]:
    """The UTF-8 bytes of ``text`` between the given sorted character ranges."""
    pieces, pos = [], 0
    for start, end in ranges:
        pieces.append(text[pos:start].encode("utf8"))
        pos = end
    pieces.append(text[pos:].encode("utf8"))
    return pieces


def decoded(data: bytes) -> str:
    return data[len(BOM) :].decode("utf8") if data.startswith(BOM) else data.decode("utf8")


@settings(max_examples=300, deadline=None)
@given(doc=documents(), placeholder=st.sampled_from(["[redacted]", "label", "numbered", "", "\\1 $&"]), inside_tags=st.booleans())
def test_every_byte_outside_the_entities_is_kept_and_restore_is_exact(doc, placeholder, inside_tags):
    data, entities, in_tags = doc
    if inside_tags:  # then the names in attribute values are entities like the others
        entities, in_tags = sorted(entities + in_tags, key=lambda e: e["start"]), []
    redaction = redact_document(data, lambda text: entities + in_tags, placeholder, inside_tags)
    original, redacted = decoded(data), decoded(redaction.data)
    assert redaction.data.startswith(BOM) == data.startswith(BOM)
    reps = redaction.replacements
    # every byte outside the replaced ranges, in order, is the input's
    assert outside(original, [(r.start, r.end) for r in reps]) == outside(redacted, [(r.redacted_start, r.redacted_end) for r in reps])
    assert len(reps) == len(entities)  # known entities never overlap
    for r in reps:
        # inside an entity only its runs between line breaks and tags change, each to the placeholder
        assert re.sub(r"[^\r\n]", "", r.original) == re.sub(r"[^\r\n]", "", r.redacted)
        assert r.redacted.count(r.placeholder) >= len(r.pieces) >= 1
        assert all(original[a:b].strip() == original[a:b] and original[a:b] for a, b in r.pieces)
    # tags and attribute values are untouched: the names inside them are left and reported;
    # asked to replace inside tags, only quoted values and comments change
    quoted = re.compile(r'"[^"]*"|<!--.*?-->', re.S)
    tags_before = [original[a:b] for a, b in markup_spans(original)]
    tags_after = [redacted[a:b] for a, b in markup_spans(redacted)]
    if inside_tags:
        tags_before, tags_after = ([quoted.sub('""', t) for t in tags] for tags in (tags_before, tags_after))
    assert tags_before == tags_after
    assert [(e["start"], e["end"]) for e in redaction.inside_markup] == [(e["start"], e["end"]) for e in in_tags]
    if placeholder == "numbered":
        numbers: Dict[Tuple[str, str], str] = {}
        for r in reps:
            assert numbers.setdefault((r.label, " ".join(r.original.split())), r.placeholder) == r.placeholder
        assert len(set(numbers.values())) == len(numbers)
    mapping = json.loads(json.dumps(redaction.mapping()))  # as written to and read from a file
    assert restore_document(redaction.data, mapping) == data


def test_the_issue_example_keeps_the_closing_tag():
    data = b"<p>Contact Alan Turing at Bletchley Park.</p>"
    entities = [{"start": 11, "end": 22, "label": "person"}, {"start": 26, "end": 40, "label": "location"}]
    assert redact_document(data, lambda _: entities).data == b"<p>Contact [redacted] at [redacted].</p>"
    assert redact_document(data, lambda _: entities, "label").data == b"<p>Contact [PERSON] at [LOCATION].</p>"


def test_numbered_placeholders_follow_the_surface_form():
    text = "Alan Turing met Ada Lovelace.\r\nLater, Alan  Turing wrote to Alan. Ada Lovelace replied."
    names = ["Alan Turing", "Ada Lovelace", "Alan  Turing", "Alan", "Ada Lovelace"]
    entities, pos = [], 0
    for name in names:
        start = text.index(name, pos)
        entities.append({"start": start, "end": start + len(name), "label": "person"})
        pos = start + len(name)
    redacted, reps, _ = redact_text(text, entities, "numbered")
    assert redacted == "[PERSON_1] met [PERSON_2].\r\nLater, [PERSON_1] wrote to [PERSON_3]. [PERSON_2] replied."


def test_entities_inside_tags_only_when_asked_and_across_tags_piece_by_piece():
    text = '<img alt="Alan Turing"> <b>Alan</b> Turing'
    alt = {"start": 10, "end": 21, "label": "person"}
    across = {"start": text.index("Alan</b>"), "end": len(text), "label": "person"}
    redacted, reps, left = redact_text(text, [alt, across], "label")
    assert redacted == '<img alt="Alan Turing"> <b>[PERSON]</b> [PERSON]' and left == [alt]
    redacted, reps, left = redact_text(text, [alt, across], "label", inside_tags=True)
    assert redacted == '<img alt="[PERSON]"> <b>[PERSON]</b> [PERSON]' and left == []


def test_bad_entities_and_documents_say_what_is_wrong():
    with pytest.raises(ValueError, match="0 <= start < end <= 5"):
        redact_text("hello", [{"start": 2, "end": 9, "label": "x"}])
    with pytest.raises(ValueError, match="not UTF-8"):
        redact_document(b"\xff\xfe", lambda _: [])
    with pytest.raises(TypeError, match="bytes"):
        redact_document("text", lambda _: [])


def test_restore_refuses_another_or_a_changed_document():
    data = "Alan Turing wrote.\n".encode()
    redaction = redact_document(data, lambda _: [{"start": 0, "end": 11, "label": "person"}])
    with pytest.raises(ValueError, match="changed after redaction"):
        restore_document(redaction.data + b" ", redaction.mapping())
    with pytest.raises(ValueError, match="not a redaction mapping"):
        restore_document(redaction.data, {"replacements": []})


# -- end to end, the real checkpoint through the command line ---------------------------
def test_cli_redacts_html_with_bom_and_crlf_and_restores_it(tmp_path):
    page = tmp_path / "page.html"
    original = BOM + '<p>Contact Alan Turing at Bletchley Park.</p>\r\n<img alt="Alan Turing" src="a.png">\r\n<p>Grace Hopper replied.</p>\r\n'.encode()
    page.write_bytes(original)
    out, mapping, preview = tmp_path / "red.html", tmp_path / "map.json", tmp_path / "check.html"
    runner = CliRunner()
    args = ["redact", str(page), "-l", "person", "-m", str(REF_MINILM), "-t", "0.3", "-p", "numbered", "-o", str(out)]
    result = runner.invoke(app, args + ["--mapping", str(mapping), "--preview", str(preview), "--preview-color", "crimson"])
    assert result.exit_code == 0, result.output
    redacted = out.read_bytes()
    assert redacted.startswith(BOM) and redacted.count(b"\r\n") == 3
    assert b"[PERSON_1]" in redacted and b"Contact Alan" not in redacted and b".</p>\r\n" in redacted
    assert b'<img alt="Alan Turing" src="a.png">' in redacted  # attribute values are left by default
    entries = json.loads(mapping.read_text(encoding="utf8"))["replacements"]
    assert "Alan Turing" in [e["original"] for e in entries]
    html = preview.read_text(encoding="utf8")
    assert html.count("background: crimson") == len(entries) and "Bletchley" in html
    result = runner.invoke(app, ["restore", str(out), "--mapping", str(mapping), "-o", str(tmp_path / "back.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "back.html").read_bytes() == original
    bad = runner.invoke(app, ["redact", str(page), "-l", "person", "-m", str(REF_MINILM), "--preview-color", "nocolour"])
    assert bad.exit_code == 1 and "is not a colour" in bad.stderr
