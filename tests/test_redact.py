"""Redaction never touches a byte outside an entity, and restore gives the input back exactly.

The property tests use a test double for the model (entities at known offsets), so that
they are about the redaction code; the end-to-end tests run the real reference checkpoint
through the command line.
"""

import json
import re
from typing import Any, Dict, List, Tuple

import pytest
from helpers.data import REF_MINILM  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from spacy_gliner.cli.app import app
from spacy_gliner.markup import classify
from spacy_gliner.redact import BOM, RedactionIncomplete, redact_document, redact_text, restore_document

NAMES = [
    "Alan Turing",
    "Ada Lovelace",
    "Grace Hopper",
    "Zoë Saldaña",
    "Jose\u0301 Mourinho",
    "李小龙",
    "O'Neil",
    "Turing",
]
WORDS = [
    "the",
    "paper",
    "by",
    "and",
    "1,234,567",
    "e.g.",
    "U.S.-based",
    "😀",
    "|",
    "---",
    "#",
    "-",
    "1.",
    ">",
    "< ",
    "a < b",
    "\u200b",
]
BREAKS = ["\n", "\r\n", "\r\n\r\n", "\n\n"]
OPEN_CLOSE = [
    ("**", "**"),
    ("_", "_"),
    ("<b>", "</b>"),
    ('<span class="x">', "</span>"),
    ("[", "](https://x.org/a_b)"),
    ("", ""),
    ("| ", " |"),
]


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
            entities.append(
                {"start": start, "end": pos, "label": draw(st.sampled_from(["person", "person", "org name"]))}
            )
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


def markup_texts(text: str, kind: str) -> List[str]:
    return [text[a:b] for a, b in classify(text, kind)[1]]


@settings(max_examples=300, deadline=None)
@given(
    doc=documents(),
    placeholder=st.sampled_from(["[redacted]", "label", "numbered", "", "\\1 $&"]),
    inside_tags=st.booleans(),
    kind=st.sampled_from(["html", "markdown", "text"]),
)
def test_every_byte_outside_the_entities_is_kept_and_restore_is_exact(doc, placeholder, inside_tags, kind):
    data, entities, in_tags = doc
    if inside_tags or kind == "text":  # then the names in attribute values are entities like the others
        entities, in_tags = sorted(entities + in_tags, key=lambda e: e["start"]), []
    if in_tags:  # an entity found in markup and left: refused unless allowed
        with pytest.raises(RedactionIncomplete, match=f"{len(in_tags)} entit(y|ies) found inside markup"):
            redact_document(data, lambda text: entities + in_tags, placeholder, inside_tags, kind)
    redaction = redact_document(
        data, lambda text: entities + in_tags, placeholder, inside_tags, kind, allow_skipped=True
    )
    original, redacted = decoded(data), decoded(redaction.data)
    assert redaction.data.startswith(BOM) == data.startswith(BOM)
    reps = redaction.replacements
    # every byte outside the replaced ranges, in order, is the input's
    assert outside(original, [(r.start, r.end) for r in reps]) == outside(
        redacted, [(r.redacted_start, r.redacted_end) for r in reps]
    )
    assert len(reps) == len(entities)  # known entities never overlap
    for r in reps:
        # inside an entity only its runs between line breaks and tags change, each to the placeholder
        assert re.sub(r"[^\r\n]", "", r.original) == re.sub(r"[^\r\n]", "", r.redacted)
        assert r.redacted.count(r.placeholder) >= len(r.pieces) >= 1
        assert all(original[a:b].strip() == original[a:b] and original[a:b] for a, b in r.pieces)
    # tags and attribute values are untouched: the names inside them are left and reported;
    # asked to replace inside tags, only quoted values and comments change
    if kind != "text":
        quoted = re.compile(r'"[^"]*"|<!--.*?-->', re.S)
        tags_before, tags_after = markup_texts(original, kind), markup_texts(redacted, kind)
        if inside_tags:
            tags_before, tags_after = ([quoted.sub('""', t) for t in tags] for tags in (tags_before, tags_after))
        assert tags_before == tags_after
    assert [(e["start"], e["end"]) for e in redaction.left] == [(e["start"], e["end"]) for e in in_tags]
    if placeholder == "numbered":
        numbers: Dict[Tuple[str, str], str] = {}
        for r in reps:
            assert numbers.setdefault((r.label, " ".join(r.original.split())), r.placeholder) == r.placeholder
        assert len(set(numbers.values())) == len(numbers)
    mapping = json.loads(json.dumps(redaction.mapping()))  # as written to and read from a file
    assert restore_document(redaction.data, mapping) == data


def test_a_text_in_a_paragraph_keeps_the_closing_tag():
    data = b"<p>Contact Alan Turing at Bletchley Park.</p>"
    entities = [{"start": 11, "end": 22, "label": "person"}, {"start": 26, "end": 40, "label": "location"}]
    for kind in ("html", "markdown", "text"):
        assert redact_document(data, lambda _: entities, kind=kind).data == b"<p>Contact [redacted] at [redacted].</p>"
        assert (
            redact_document(data, lambda _: entities, "label", kind=kind).data
            == b"<p>Contact [PERSON] at [LOCATION].</p>"
        )


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
    redacted, reps, left = redact_text(text, [alt, across], "label", kind="html")
    assert redacted == '<img alt="Alan Turing"> <b>[PERSON]</b> [PERSON]' and left == [alt]
    redacted, reps, left = redact_text(text, [alt, across], "label", inside_tags=True, kind="html")
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


def entities_at(text: str, *names: str, label: str = "person") -> List[Dict[str, Any]]:
    """Entities at each occurrence of the given names, in order."""
    found = []
    for name in names:
        start = text.index(name, found[-1]["end"] if found else 0)
        found.append({"start": start, "end": start + len(name), "label": label})
    return found


def redacted_as(text: str, names: List[str], kind: str, inside_tags: bool = False, placeholder: str = "label") -> str:
    return redact_document(
        text.encode(), lambda t: entities_at(t, *names), placeholder, inside_tags, kind
    ).data.decode()


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        # "<" and ">" in plain text are text: nothing between them is hidden
        (
            "if a<b and c>d then Alan Turing met Grace Hopper.",
            ["Alan Turing", "Grace Hopper"],
            "if a<b and c>d then [PERSON] met [PERSON].",
        ),
        (
            "<draft by Alan Turing ->\n\nGrace Hopper wrote.",
            ["Alan Turing", "Grace Hopper"],
            "<draft by [PERSON] ->\n\n[PERSON] wrote.",
        ),
        ("Alan Turing <alan.turing@example.org>", ["Alan Turing", "alan.turing"], "[PERSON] <[PERSON]@example.org>"),
        ("Dear <Ada Lovelace>,", ["Ada Lovelace"], "Dear <[PERSON]>,"),
    ],
)
def test_plain_text_has_no_markup(text, names, expected):
    assert redacted_as(text, names, "text") == expected


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        # not markup in Markdown: an autolink's text, a "<" that opens no tag, code
        ("Alan Turing <alan.turing@example.org>", ["Alan Turing", "alan.turing"], "[PERSON] <[PERSON]@example.org>"),
        ("if a<b, Alan Turing >d", ["Alan Turing"], "if a<b, [PERSON] >d"),
        (
            "<draft by Alan Turing ->\n\nGrace Hopper",
            ["Alan Turing", "Grace Hopper"],
            "<draft by [PERSON] ->\n\n[PERSON]",
        ),
        (
            "`<img alt=Turing>` and \\<b title=Hopper>",
            ["Turing", "Hopper"],
            "`<img alt=[PERSON]>` and \\<b title=[PERSON]>",
        ),
        ("```\n<img alt=Turing>\n```\n", ["Turing"], "```\n<img alt=[PERSON]>\n```\n"),
    ],
)
def test_markdown_markup_is_only_raw_html(text, names, expected):
    assert redacted_as(text, names, "markdown") == expected


# markup content users write names into, by kind: each is left (and refused) by default and
# replaced with inside_tags; the syntax around it stays
IN_MARKUP = [
    ("html", "<img alt=Turing src=a.png>", ["Turing"], "<img alt=[PERSON] src=a.png>"),
    ("html", "<img alt='Alan Turing'>", ["Alan Turing"], "<img alt='[PERSON]'>"),
    ("html", '<p title="Ada Lovelace">', ["Ada Lovelace"], '<p title="[PERSON]">'),
    ("html", "<!-- by Ada Lovelace -->", ["Ada Lovelace"], "<!-- by [PERSON] -->"),
    ("html", "<Ada Lovelace>", ["Ada Lovelace"], "<[PERSON]>"),
    (
        "html",
        '<script>var author = "Alan Turing";</script>',
        ["Alan Turing"],
        '<script>var author = "[PERSON]";</script>',
    ),
    ("html", "<style>/* Grace Hopper */</style>", ["Grace Hopper"], "<style>/* [PERSON] */</style>"),
    ("html", "<![CDATA[Alan Turing]]>", ["Alan Turing"], "<![CDATA[[PERSON]]]>"),
    ("html", "<p>a<b and Ada Lovelace>", ["Ada Lovelace"], "<p>a<b and [PERSON]>"),
    (
        "xml",
        '<?xml version="1.0"?><letter from="Alan Turing"/>',
        ["Alan Turing"],
        '<?xml version="1.0"?><letter from="[PERSON]"/>',
    ),
    ("xml", "<?author Grace Hopper?><a/>", ["Grace Hopper"], "<?author [PERSON]?><a/>"),
    ("markdown", "Photo: <img alt=Turing>", ["Turing"], "Photo: <img alt=[PERSON]>"),
    ("markdown", "<!-- Ada Lovelace -->", ["Ada Lovelace"], "<!-- [PERSON] -->"),
    ("markdown", "Dear <Ada Lovelace>,", ["Ada Lovelace"], "Dear <[PERSON]>,"),  # raw HTML in CommonMark
]


@pytest.mark.parametrize(("kind", "text", "names", "expected"), IN_MARKUP)
def test_every_kind_of_markup_content_is_reachable_and_never_left_silently(kind, text, names, expected):
    with pytest.raises(RedactionIncomplete, match="1 entity found inside markup .*line 1, column"):
        redacted_as(text, names, kind)
    redaction = redact_document(text.encode(), lambda t: entities_at(t, *names), "label", kind=kind, allow_skipped=True)
    assert redaction.data == text.encode() and [(e["start"], e["end"]) for e in redaction.left] == [
        (e["start"], e["end"]) for e in entities_at(text, *names)
    ]
    assert redacted_as(text, names, kind, inside_tags=True) == expected


def test_text_that_markup_shows_is_replaced_by_default():
    page = "<html><head><title>Letter from Alan Turing</title></head><body><textarea>Grace Hopper</textarea>"
    page += "<svg><![CDATA[x]]></svg><p>Ada <b>Lovelace</b></p></body></html>"
    assert redacted_as(page, ["Alan Turing", "Grace Hopper", "Ada <b>Lovelace"], "html") == page.replace(
        "Alan Turing", "[PERSON]"
    ).replace("Grace Hopper", "[PERSON]").replace("Ada <b>Lovelace", "[PERSON] <b>[PERSON]")
    xml = '<?xml version="1.0"?><note><to>Alan Turing</to><body><![CDATA[Grace Hopper <x>]]></body></note>'
    assert redacted_as(xml, ["Alan Turing", "Grace Hopper"], "xml") == xml.replace("Alan Turing", "[PERSON]").replace(
        "Grace Hopper", "[PERSON]"
    )


def test_an_entity_half_in_a_tag_is_replaced_where_it_can_be_and_reported():
    text = "<p>Alan <img alt=Turing> wrote"
    with pytest.raises(RedactionIncomplete) as err:
        redacted_as(text, ["Alan <img alt=Turing"], "html")
    assert err.value.redaction.data == b"<p>[PERSON] <img alt=Turing> wrote"


def test_a_name_in_a_tag_inside_a_longer_entity_is_not_taken_for_structure():
    """Overlapping entities are joined: a name the model found in an attribute stays a name
    even when a longer entity around it holds the whole tag."""
    text = '<p>Ada <span title="Lovelace">Lovelace</span> wrote.</p>'
    around = {"start": 3, "end": text.index("</span>"), "label": "person"}
    in_title = entities_at(text, "Lovelace")[0]
    with pytest.raises(RedactionIncomplete):
        redact_document(text.encode(), lambda t: [around, in_title], "label", kind="html")
    out = redact_document(text.encode(), lambda t: [around, in_title], "label", True, "html").data.decode()
    assert out == '<p>[PERSON] <span title="[PERSON]">[PERSON]</span> wrote.</p>'
    # alone, the longer entity keeps a tag it holds as its structure, unless the tag shares a word with it
    assert (
        redacted_as('<p>Ada <span class="x">Lovelace</span></p>', ['Ada <span class="x">Lovelace'], "html")
        == '<p>[PERSON] <span class="x">[PERSON]</span></p>'
    )
    linked = 'Alan <a href="/wiki/Turing">Turing</a>'
    with pytest.raises(RedactionIncomplete):
        redacted_as(linked, [linked[: linked.index("</a>")]], "html")
    assert (
        redacted_as(linked, [linked[: linked.index("</a>")]], "html", inside_tags=True)
        == '[PERSON] <a href="[PERSON]">[PERSON]</a>'
    )  # the whole value: it holds the name


def test_placeholders_are_escaped_in_markup():
    label = "<img src=x onerror=alert(1)>"
    for kind in ("html", "xml", "markdown"):
        out = redact_document(
            b"<p>Alan Turing</p>", lambda t: [{"start": 3, "end": 14, "label": label}], "label", kind=kind
        ).data
        assert b"<IMG" not in out and out == b"<p>[&lt;IMG_SRC=X_ONERROR=ALERT(1)&gt;]</p>"
    out = redact_document(
        b'<a title="Ada">', lambda t: [{"start": 10, "end": 13, "label": "x"}], 'a" onclick="x', True, "html"
    ).data
    assert out == b'<a title="a&quot; onclick=&quot;x">'
    assert (
        redact_document(b"Ada", lambda t: [{"start": 0, "end": 3, "label": label}], "label").data
        == b"[<IMG_SRC=X_ONERROR=ALERT(1)>]"
    )


def test_numbered_placeholders_never_take_a_number_the_document_holds():
    text = "[PERSON_1] and [PERSON_3] are from the first pass; Alan Turing, Grace Hopper, Ada Lovelace and Alan Turing."
    out = redacted_as(
        text, ["Alan Turing", "Grace Hopper", "Ada Lovelace", "Alan Turing"], "text", placeholder="numbered"
    )
    assert (
        out == "[PERSON_1] and [PERSON_3] are from the first pass; [PERSON_2], [PERSON_4], [PERSON_5] and [PERSON_2]."
    )
    # a second pass over a redacted file: the new names get numbers of their own
    second = redacted_as(out + " Later: Joan Clarke.", ["Joan Clarke"], "text", placeholder="numbered")
    assert second.endswith("Later: [PERSON_6].") and second.count("[PERSON_2]") == 2


def test_restore_refuses_the_mapping_of_another_file_that_redacts_the_same():
    """Two form letters that redact to the same bytes: the bytes cannot tell their mappings
    apart, the name of the redacted file can."""
    letters = {
        name: f"Dear {who},\nyour order has shipped.\n".encode()
        for name, who in (("a", "Alan Turing"), ("b", "Ada Lovelace"))
    }
    done = {
        name: redact_document(data, lambda t: entities_at(t, t[5 : t.index(",")])) for name, data in letters.items()
    }
    assert done["a"].data == done["b"].data
    mapping_a = json.loads(json.dumps(done["a"].mapping("a.red.txt")))
    assert restore_document(done["a"].data, mapping_a, "a.red.txt") == letters["a"]
    with pytest.raises(ValueError, match="written for the redacted file 'a.red.txt', not 'b.red.txt'"):
        restore_document(done["b"].data, mapping_a, "b.red.txt")


def _mapping() -> Dict[str, Any]:
    data = "Alan Turing met Grace Hopper.\n".encode()
    redaction = redact_document(data, lambda t: entities_at(t, "Alan Turing", "Grace Hopper"))
    return {"data": redaction.data, **json.loads(json.dumps(redaction.mapping("x.txt")))}


def _damaged(change: Any) -> Any:
    mapping = _mapping()
    mapping.pop("data")
    return change(mapping)


DAMAGED_MAPPINGS = {
    "a list": lambda m: [m],
    "a string": lambda m: "mapping",
    "no replacements": lambda m: {k: v for k, v in m.items() if k != "replacements"},
    "replacements not a list": lambda m: {**m, "replacements": {"0": 1}},
    "a replacement not an object": lambda m: {**m, "replacements": [1, 2]},
    "a missing key": lambda m: {
        **m,
        "replacements": [{k: v for k, v in r.items() if k != "original"} for r in m["replacements"]],
    },
    "offsets as strings": lambda m: {
        **m,
        "replacements": [{**r, "redacted_start": str(r["redacted_start"])} for r in m["replacements"]],
    },
    "offsets as booleans": lambda m: {**m, "replacements": [{**r, "redacted_start": False} for r in m["replacements"]]},
    "negative offsets": lambda m: {
        **m,
        "replacements": [{**r, "redacted_start": -5, "redacted_end": 5} for r in m["replacements"]],
    },
    "overlapping": lambda m: {**m, "replacements": [m["replacements"][0], m["replacements"][0]]},
    "huge numbers": lambda m: {
        **m,
        "replacements": [{**r, "redacted_start": 10**30, "redacted_end": 10**30 + 10} for r in m["replacements"]],
    },
    "floats": lambda m: {
        **m,
        "replacements": [{**r, "redacted_end": float(r["redacted_end"])} for r in m["replacements"]],
    },
    "a hash that is not one": lambda m: {**m, "sha256": 12},
    "no version": lambda m: {k: v for k, v in m.items() if k != "version"},
    "a name that is not a name": lambda m: {**m, "redacted_file": ["x"]},
    "an original that is not text": lambda m: {
        **m,
        "replacements": [{**r, "original": None} for r in m["replacements"]],
    },
}


@pytest.mark.parametrize("shape", list(DAMAGED_MAPPINGS))
def test_damaged_mappings_are_refused_with_a_reason(shape):
    data = _mapping()["data"]
    with pytest.raises(ValueError) as err:
        restore_document(data, _damaged(DAMAGED_MAPPINGS[shape]))
    assert "\n" not in str(err.value) and not isinstance(err.value, (KeyError, TypeError))


# -- end to end, the real checkpoint through the command line ---------------------------
def test_cli_redacts_html_with_bom_and_crlf_and_restores_it(tmp_path):
    page = tmp_path / "page.html"
    original = (
        BOM
        + '<p>Contact Alan Turing at Bletchley Park.</p>\r\n<img alt="Alan Turing" src="a.png">\r\n<p>Grace Hopper'
        " replied.</p>\r\n".encode()
    )
    page.write_bytes(original)
    out, mapping, preview = tmp_path / "red.html", tmp_path / "map.json", tmp_path / "check.html"
    runner = CliRunner()
    args = ["redact", str(page), "-l", "person", "-m", str(REF_MINILM), "-t", "0.3", "-p", "numbered", "-o", str(out)]
    args += ["--mapping", str(mapping), "--preview", str(preview), "--preview-color", "crimson"]
    # the name in the alt text is found but would be left: nothing is written, and the command says where
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "line 2, column 11" in refused.stderr and "--inside-tags" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]
    # allowed: written, with the name left and said so (not "✔")
    allowed = runner.invoke(app, args + ["--allow-skipped"])
    assert allowed.exit_code == 0, allowed.output
    assert (
        b'<img alt="Alan Turing" src="a.png">' in out.read_bytes()
        and "LEFT in the output" in allowed.stderr
        and "✔" not in allowed.stderr
    )
    result = runner.invoke(app, args + ["--inside-tags"])
    assert result.exit_code == 0, result.output
    redacted = out.read_bytes()
    assert redacted.startswith(BOM) and redacted.count(b"\r\n") == 3
    assert b"[PERSON_1]" in redacted and b"Alan" not in redacted and b".</p>\r\n" in redacted
    assert b'<img alt="[PERSON_1]" src="a.png">' in redacted
    entries = json.loads(mapping.read_text(encoding="utf8"))["replacements"]
    assert "Alan Turing" in [e["original"] for e in entries]
    html = preview.read_text(encoding="utf8")
    assert html.count("background: crimson") == len(entries) and "Bletchley" in html
    result = runner.invoke(app, ["restore", str(out), "--mapping", str(mapping), "-o", str(tmp_path / "back.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "back.html").read_bytes() == original
    bad = runner.invoke(
        app, ["redact", str(page), "-l", "person", "-m", str(REF_MINILM), "--preview-color", "nocolour"]
    )
    assert bad.exit_code == 1 and "is not a colour" in bad.stderr


MARKUP_ALPHABET = st.sampled_from(
    list("<>/!?-=\"' \n\r\t`\\[]&;ab")
    + [
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<?",
        "?>",
        "<!DOCTYPE",
        "</",
        "<b ",
        "<a href=",
        'title="Ada',
        "Ada",
        "Lovelace",
    ]
    + [
        "<script>",
        "</script>",
        "<style>",
        "</style>",
        "<title>",
        "</title>",
        "<plaintext>",
        "<https://",
        "@x.org>",
        "```\n",
        "``",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(MARKUP_ALPHABET, max_size=40),
    cuts=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 12)), max_size=6),
    kind=st.sampled_from(["html", "xml", "markdown", "text"]),
    inside_tags=st.booleans(),
)
def test_no_letter_of_an_entity_found_survives_unreported(pieces, cuts, kind, inside_tags):
    """On any text with any markup, an entity's text is replaced, and what stays of it is
    syntax, or markup it holds whole that shares no word with its text, or it is reported as
    left (and with inside_tags nothing is left)."""
    text = "".join(pieces)
    entities = [{"start": a, "end": min(a + n, len(text)), "label": "x"} for a, n in cuts if a < len(text)]
    classes, constructs = classify(text, kind)
    assert len(classes) == len(text) and constructs == sorted(constructs)
    assert all(b <= c for (_, b), (c, _) in zip(constructs, constructs[1:]))
    _, reps, left = redact_text(text, entities, "label", inside_tags, kind)
    replaced = {k for r in reps for a, b in r.pieces for k in range(a, b)}
    word = re.compile(r"[^\W_]{2,}")
    for ent in entities:
        span = range(ent["start"], ent["end"])
        own_text = "".join(text[k] if classes[k] == 0 else " " for k in span)
        # the entity's text is replaced; what stays of it (markup it holds whole) shares no word with that text
        assert all(k in replaced for k in span if classes[k] == 0 and text[k].isalnum()), (text, ent)
        kept = "".join(
            text[k] if k not in replaced and classes[k] != 2 else " " for k in span
        )  # syntax (<![CDATA[) aside
        assert (
            ent in left
            or not any(c.isalnum() for c in kept)
            or (
                any(c.isalnum() for c in own_text)
                and not set(word.findall(own_text.casefold())) & set(word.findall(kept.casefold()))
            )
        ), (text, ent)
    assert not left or not inside_tags
