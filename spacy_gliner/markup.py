"""Where a document's markup is, by the rules of its kind: what redaction may replace.

A plain text has no markup. HTML and XML are tokenized as a browser or an XML parser
reads them (the HTML standard's tag-open, attribute and comment states); Markdown has
markup only where CommonMark sees raw HTML (outside code spans, fenced code and ``\\<``),
and its autolinks (``<https://...>``, ``<ada@example.org>``) are text between two kept
brackets. Each character gets a class:

- ``TEXT``: the document's text, replaced where an entity covers it;
- ``INSIDE``: markup content users write names into (tag and attribute names, attribute
  values quoted or not, comments, declarations, processing instructions, HTML
  ``<script>``/``<style>`` code), replaced only when asked (``--inside-tags``);
- ``KEPT``: the syntax that makes the markup (``<``, ``</``, ``=``, quotes, ``>``,
  ``<!--``, ``-->``, ``<![CDATA[``, ``]]>``) and line breaks, never replaced.

Also returned: the character ranges of the markup constructs (tags, comments, ...), so
that a tag wholly inside an entity (``Alan <b>Turing</b>``) can be kept as the entity's
structure while a construct the entity starts or ends in holds part of the name.
"""

import re
from bisect import bisect_left, bisect_right
from pathlib import PurePath
from typing import List, Optional, Sequence, Tuple

TEXT, MARKDOWN, HTML, XML = "text", "markdown", "html", "xml"
KINDS = (TEXT, MARKDOWN, HTML, XML)
SUFFIX_KINDS = {
    ".html": HTML, ".htm": HTML, ".xhtml": XML, ".xml": XML, ".svg": XML,
    ".md": MARKDOWN, ".markdown": MARKDOWN, ".mdown": MARKDOWN, ".mkd": MARKDOWN,
}  # fmt: skip
CHAR_TEXT, CHAR_INSIDE, CHAR_KEPT = 0, 1, 2

_WS = "\t\n\x0c\r "  # the HTML tokenizer's whitespace (CR included: it reads CR LF as LF)
_BREAKS = re.compile(r"[\r\n]+")
# HTML elements whose content is not tokenized as tags: code (its text is markup content)
# and other raw or escapable raw text (its text is the document's)
_CODE_ELEMENTS = ("script", "style")
_RAW_ELEMENTS = _CODE_ELEMENTS + ("xmp", "iframe", "noembed", "noframes", "title", "textarea")

# CommonMark 0.31 raw HTML (https://spec.commonmark.org/0.31.2/#raw-html): whitespace is
# spaces, tabs and up to one line ending
_MD_SP = r"[ \t]*(?:\r\n|\r|\n)?[ \t]*"
_MD_SP1 = r"(?:[ \t]+(?:\r\n|\r|\n)?[ \t]*|[ \t]*(?:\r\n|\r|\n)[ \t]*)"
_MD_ATTRIBUTE = rf"{_MD_SP1}[A-Za-z_:][A-Za-z0-9_.:-]*(?:{_MD_SP}={_MD_SP}(?:[^\"'=<>`\x00-\x20]+|'[^']*'|\"[^\"]*\"))?"
_MD_RAW_HTML = re.compile(
    rf"<[A-Za-z][A-Za-z0-9-]*(?:{_MD_ATTRIBUTE})*{_MD_SP}/?>"  # open tag
    rf"|</[A-Za-z][A-Za-z0-9-]*{_MD_SP}>"  # closing tag
    r"|<!-->|<!--->|<!--.*?-->"  # comment
    r"|<\?.*?\?>"  # processing instruction
    r"|<![A-Za-z][^>]*>"  # declaration
    r"|<!\[CDATA\[.*?\]\]>",
    re.S,
)
_MD_AUTOLINK = re.compile(
    r"<(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\x00-\x20<>]*"
    r"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>"
)
_MD_BLANK_LINE = re.compile(r"(?:\r\n|\r|\n)[ \t]*(?:\r\n|\r|\n)")
_MD_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.M)
_MD_BACKTICKS = re.compile(r"`+")

Constructs = List[Tuple[int, int]]


def kind_of(name: Optional[str]) -> str:
    """The kind of a document by its file name's suffix (plain text without one we know)."""
    return SUFFIX_KINDS.get(PurePath(name).suffix.lower(), TEXT) if name else TEXT


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"Unknown document kind {kind!r}: use one of {', '.join(KINDS)}.")
    return kind


def classify(text: str, kind: str) -> Tuple[bytearray, Constructs]:
    """(the class of each character, the sorted ranges of the markup constructs)."""
    classes = bytearray(len(text))
    constructs: Constructs = []
    if check_kind(kind) in (HTML, XML):
        _scan_html(text, classes, constructs, xml=kind == XML)
    elif kind == MARKDOWN:
        _scan_markdown(text, classes, constructs)
    for m in _BREAKS.finditer(text):
        classes[m.start() : m.end()] = bytes([CHAR_KEPT]) * (m.end() - m.start())
    return classes, constructs


def overlapping(constructs: Constructs, starts: Sequence[int], start: int, end: int) -> Constructs:
    """The constructs that share a character with [start, end); ``starts``: where each
    construct starts (constructs are sorted and never overlap)."""
    first, last = max(bisect_right(starts, start) - 1, 0), bisect_left(starts, end)
    return [(a, b) for a, b in constructs[first:last] if a < end and start < b]


# -- HTML and XML ------------------------------------------------------------------------
def _set(classes: bytearray, start: int, end: int, value: int) -> None:
    end = min(end, len(classes))  # a construct cut by the end of the text
    classes[start:end] = bytes([value]) * max(end - start, 0)


def _scan_html(text: str, classes: bytearray, constructs: Constructs, xml: bool) -> None:
    n, i = len(text), 0
    while True:
        i = text.find("<", i)
        if i < 0 or i + 1 >= n:
            return
        nxt = text[i + 1]
        if text.startswith("<!--", i):
            end = _comment(text, classes, i, xml)
        elif xml and text.startswith("<![CDATA[", i):  # character data: the document's text
            close = text.find("]]>", i + 9)
            close = n if close < 0 else close
            _set(classes, i, i + 9, CHAR_KEPT)
            _set(classes, close, close + 3, CHAR_KEPT)
            end = min(close + 3, n)
        elif nxt in "!?" or (nxt == "/" and i + 2 < n and not _ascii_letter(text[i + 2]) and text[i + 2] != ">"):
            end = _bogus(text, classes, i, xml)  # declaration, processing instruction, bogus comment
        elif text.startswith("</>", i):  # dropped by browsers
            _set(classes, i, i + 3, CHAR_KEPT)
            end = i + 3
        elif _ascii_letter(nxt) or (nxt == "/" and i + 2 < n and _ascii_letter(text[i + 2])):
            end, name = _tag(text, classes, i)
            constructs.append((i, end))
            if not xml and nxt != "/" and name in _RAW_ELEMENTS:
                end = _raw_text(text, classes, constructs, end, name)
            elif not xml and nxt != "/" and name == "plaintext":
                return  # the rest of the document is text
            i = end
            continue
        else:  # "<" before a space, a digit, "=" ...: text
            i += 1
            continue
        constructs.append((i, end))
        i = end


def _ascii_letter(c: str) -> bool:
    return c.isascii() and c.isalpha()


def _comment(text: str, classes: bytearray, i: int, xml: bool) -> int:
    """``<!--``...``-->`` (HTML: also ``--!>``, and ``<!-->``/``<!--->`` closing at once)."""
    n = len(text)
    for short in ("<!-->", "<!--->"):
        if not xml and text.startswith(short, i):
            _set(classes, i, i + len(short), CHAR_KEPT)
            return i + len(short)
    close = text.find("-->", i + 4)
    bang = -1 if xml else text.find("--!>", i + 4, n if close < 0 else close)  # searched only before "-->"
    close = bang if bang >= 0 else close
    stop = n if close < 0 else close + (4 if bang >= 0 else 3)
    close = n if close < 0 else close
    _set(classes, i, i + 4, CHAR_KEPT)
    _set(classes, i + 4, close, CHAR_INSIDE)
    _set(classes, close, stop, CHAR_KEPT)
    return stop


def _bogus(text: str, classes: bytearray, i: int, xml: bool) -> int:
    """``<!...>``, ``<?...>`` (XML: ``<?...?>``, and a DOCTYPE's ``[...]`` subset) or ``</1...>``."""
    n = len(text)
    if xml and text[i + 1] == "?":
        close = text.find("?>", i + 2)
        close, width = (n, 0) if close < 0 else (close, 2)
    else:
        close = text.find(">", i + 2)
        bracket = text.find("[", i + 2, close) if xml and close >= 0 else -1
        if bracket >= 0:  # an internal DTD subset may hold ">"
            subset_end = text.find("]", bracket)
            close = text.find(">", subset_end) if subset_end >= 0 else -1
        close, width = (n, 0) if close < 0 else (close, 1)
    _set(classes, i, i + 2, CHAR_KEPT)
    _set(classes, i + 2, close, CHAR_INSIDE)
    _set(classes, close, close + width, CHAR_KEPT)
    return close + width


def _tag(text: str, classes: bytearray, i: int) -> Tuple[int, str]:
    """(where a start or end tag ends, its lower-cased name), by the HTML tokenizer's tag,
    attribute name and attribute value states; a tag cut by the end of the text runs to it."""
    n = len(text)
    j = i + (2 if text[i + 1] == "/" else 1)
    kept = list(range(i, j))  # the syntax: "<", "</", "/", "=", quotes, ">"
    start = j
    while j < n and text[j] not in _WS + "/>":
        j += 1
    name = text[start:j].lower()
    while j < n:
        while j < n and text[j] in _WS:
            j += 1
        if j >= n:
            break
        if text[j] == ">":
            kept.append(j)
            j += 1
            break
        if text[j] == "/":  # self-closing, or a stray solidus
            kept.append(j)
            j += 1
            continue
        j += 1  # an attribute name (its first character may be "=")
        while j < n and text[j] not in _WS + "/>=":
            j += 1
        while j < n and text[j] in _WS:
            j += 1
        if j < n and text[j] == "=":
            kept.append(j)
            j += 1
            while j < n and text[j] in _WS:
                j += 1
            if j < n and text[j] in "\"'":
                close = text.find(text[j], j + 1)
                kept.append(j)
                if close < 0:
                    j = n
                    break
                kept.append(close)
                j = close + 1
            else:
                while j < n and text[j] not in _WS + ">":
                    j += 1
    _set(classes, start, j, CHAR_INSIDE)
    for k in kept:
        classes[k] = CHAR_KEPT
    return j, name


def _raw_text(text: str, classes: bytearray, constructs: Constructs, i: int, name: str) -> int:
    """Where the raw text of a ``<script>``, ``<style>``, ``<title>``... element ends (at its
    end tag); the code of ``<script>`` and ``<style>`` is a construct of markup content."""
    end_tag = re.compile(rf"</{name}[{_WS}/>]", re.I).search(text, i)
    end = end_tag.start() if end_tag else len(text)
    if name in _CODE_ELEMENTS and end > i:
        _set(classes, i, end, CHAR_INSIDE)
        constructs.append((i, end))
    return end


# -- Markdown --------------------------------------------------------------------------------
def _scan_markdown(text: str, classes: bytearray, constructs: Constructs) -> None:
    code = _markdown_code(text)
    code_starts = [a for a, _ in code]
    i = 0
    while True:
        i = text.find("<", i)
        if i < 0:
            return
        k = bisect_right(code_starts, i) - 1
        if k >= 0 and code[k][0] <= i < code[k][1]:
            i = code[k][1]
            continue
        if _escaped(text, i):
            i += 1
            continue
        link = _MD_AUTOLINK.match(text, i)
        if link:
            classes[i] = classes[link.end() - 1] = CHAR_KEPT
            i = link.end()
            continue
        raw = _MD_RAW_HTML.match(text, i)
        if raw is None or _MD_BLANK_LINE.search(text, i, raw.end()):  # raw HTML stays within a paragraph
            i += 1
            continue
        piece = text[i : raw.end()]
        piece_classes = bytearray(len(piece))
        _scan_html(piece, piece_classes, [], xml=False)
        classes[i : raw.end()] = piece_classes
        constructs.append((i, raw.end()))
        i = raw.end()


def _escaped(text: str, i: int) -> bool:
    """Whether the character at ``i`` follows an odd number of backslashes."""
    j = i
    while j > 0 and text[j - 1] == "\\":
        j -= 1
    return (i - j) % 2 == 1


def _markdown_code(text: str) -> Constructs:
    """Sorted ranges of fenced code blocks and code spans, where ``<`` is text."""
    ranges: Constructs = []
    pos = 0
    for fence in _MD_FENCE.finditer(text):
        if fence.start() < pos:
            continue
        mark = fence.group(1)
        line_end = text.find("\n", fence.end())
        closing = None
        if line_end >= 0:
            closing = re.compile(rf"^ {{0,3}}{re.escape(mark[0])}{{{len(mark)},}}[ \t]*\r?$", re.M).search(
                text, line_end + 1
            )
        end = closing.end() if closing else len(text)  # an unclosed fence runs to the end
        ranges.append((fence.start(), end))
        pos = end
    spans: Constructs = []
    for start, end in _gaps(ranges, len(text)):
        i = start
        while True:
            opening = _MD_BACKTICKS.search(text, i, end)
            if not opening:
                break
            if _escaped(text, opening.start()):
                i = opening.start() + 1
                continue
            close = _closing_backticks(text, opening, end)
            if close is None:
                i = opening.end()
                continue
            spans.append((opening.start(), close))
            i = close
    return sorted(ranges + spans)


def _closing_backticks(text: str, opening: "re.Match[str]", end: int) -> Optional[int]:
    """Where the code span opened by ``opening`` closes (a run of as many backticks, in the same paragraph)."""
    width = len(opening.group())
    for run in _MD_BACKTICKS.finditer(text, opening.end(), end):
        if _MD_BLANK_LINE.search(text, opening.end(), run.start()):
            return None
        if len(run.group()) == width:
            return run.end()
    return None


def _gaps(ranges: Sequence[Tuple[int, int]], length: int) -> Constructs:
    gaps, pos = [], 0
    for start, end in ranges:
        gaps.append((pos, start))
        pos = end
    gaps.append((pos, length))
    return gaps
