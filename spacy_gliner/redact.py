"""Redaction of real documents: entities replaced, every other byte kept, and undone.

A document is bytes (UTF-8, with or without a byte order mark, any line ends). It is
decoded without any newline translation, the entities found in its text are replaced,
and the result is encoded back with the same BOM: every byte outside the replaced
characters is the input's byte. Within an entity, what is replaced is each run of its
characters between line breaks and markup (``<...>`` tags, attribute values included, and
``<!-- -->`` comments), whitespace at a run's edges kept: lists, tables, paragraphs and
HTML keep their shape. An entity wholly inside a tag (an ``alt="..."`` value) is left as
it is unless ``inside_tags`` is asked for; then quoted attribute values and comment text
are replaced too, while the tags' own characters (names, ``=``, quotes) still stay.

The mapping (:meth:`Redaction.mapping`, a JSON-able dict) says what replaced what, with
the hashes of both documents; :func:`restore_document` puts the originals back byte for
byte. The mapping holds the original entity texts: keep it as safe as the document.
"""
import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from .render import merge_spans

BOM = b"\xef\xbb\xbf"
DEFAULT_PLACEHOLDER = "[redacted]"
LABEL, NUMBERED = "label", "numbered"  # placeholder modes: [PERSON], [PERSON_1]
MAPPING_FORMAT = "spacy-gliner-redaction"
MAPPING_VERSION = 1
# An HTML/XML tag (quoted attribute values may hold ">"), a comment, or a Markdown autolink;
# "<" followed by a space or a digit ("a < b", "<3") is text.
_MARKUP = re.compile(r"<!--.*?-->|<[A-Za-z/!?](?:\"[^\"]*\"|'[^']*'|[^'\"<>])*>", re.S)
_BREAK = re.compile(r"[\r\n]+")
_TAG_TEXT = re.compile(r"<!--(.*?)-->|\"([^\"]*)\"|'([^']*)'", re.S)  # text inside a tag: a comment's, a quoted value

Entity = Mapping[str, Any]  # {"start", "end", "label", ...}: character offsets into the text


@dataclass(frozen=True)
class Replacement:
    """One replaced entity (overlapping entities are joined first).

    ``start``/``end``: characters of the original text (after any BOM); ``redacted_start``/
    ``redacted_end``: the characters of the redacted text that stand for it; ``pieces``: the
    replaced runs, in original characters (the line breaks and tags between them are kept).
    """

    start: int
    end: int
    label: str
    original: str
    placeholder: str
    redacted_start: int
    redacted_end: int
    redacted: str
    pieces: Tuple[Tuple[int, int], ...] = field(default=())


@dataclass
class Redaction:
    """A redacted document: the bytes in and out, what was replaced, and what was left."""

    original: bytes
    data: bytes
    replacements: List[Replacement]
    inside_markup: List[Dict[str, Any]]  # entities wholly inside tags, left as they are

    def mapping(self) -> Dict[str, Any]:
        """What replaced what, for :func:`restore_document` (and for reading)."""
        return {
            "format": MAPPING_FORMAT,
            "version": MAPPING_VERSION,
            "offsets": "characters of the text after any byte order mark",
            "bom": self.original.startswith(BOM),
            "sha256": _sha256(self.original),
            "redacted_sha256": _sha256(self.data),
            "replacements": [{k: v for k, v in asdict(r).items() if k != "pieces"} for r in self.replacements],
        }


def decode_document(data: bytes, where: str = "the document") -> Tuple[str, bool]:
    """(text, whether a BOM came first): UTF-8 decoded with no newline translation."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"A document to redact is bytes (read the file in binary mode), not {type(data).__name__}.")
    bom = data.startswith(BOM)
    try:
        return bytes(data[len(BOM) if bom else 0 :]).decode("utf8"), bom
    except UnicodeDecodeError as err:
        raise ValueError(f"{where} is not UTF-8 text (byte {err.start}: {err.reason}). Convert it first, e.g. `iconv -f latin1 -t utf-8`.") from err


def encode_document(text: str, bom: bool) -> bytes:
    return (BOM if bom else b"") + text.encode("utf8")


def markup_spans(text: str) -> List[Tuple[int, int]]:
    """Character ranges of tags and comments (``<p>``, ``<a href="...">``, ``<!-- -->``)."""
    return [m.span() for m in _MARKUP.finditer(text)]


def placeholder_for(mode: str, label: str, surface: str, numbers: Dict[Tuple[str, str], int]) -> str:
    """The text that replaces one entity. ``numbers`` is the document's running numbering:
    the same label and surface form (whitespace runs read as one space) keep their number."""
    if mode not in (LABEL, NUMBERED):
        return mode
    name = "_".join(label.upper().split()) or "ENTITY"
    if mode == LABEL:
        return f"[{name}]"
    key = (name, " ".join(surface.split()))
    if key not in numbers:
        numbers[key] = 1 + sum(1 for n, _ in numbers if n == name)
    return f"[{name}_{numbers[key]}]"


def redact_text(
    text: str, entities: Sequence[Entity], placeholder: str = DEFAULT_PLACEHOLDER, inside_tags: bool = False
) -> Tuple[str, List[Replacement], List[Entity]]:
    """(redacted text, replacements, entities left inside markup).

    ``placeholder``: a fixed text, ``"label"`` ([PERSON]) or ``"numbered"`` ([PERSON_1]).
    """
    if not isinstance(placeholder, str):
        raise TypeError(f"placeholder must be a str (a text, 'label' or 'numbered'), not {type(placeholder).__name__}.")
    for ent in entities:
        if not (isinstance(ent.get("start"), int) and isinstance(ent.get("end"), int) and 0 <= ent["start"] < ent["end"] <= len(text)):
            raise ValueError(f"An entity to redact needs 0 <= start < end <= {len(text)} (the text's length); got {dict(ent)!r}.")
    protected = bytearray(len(text))  # 1: a character that is never replaced
    for m in _BREAK.finditer(text):
        protected[m.start() : m.end()] = b"\x01" * (m.end() - m.start())
    for start, end in markup_spans(text):
        protected[start:end] = b"\x01" * (end - start)
        if inside_tags:  # attribute values and comment text become replaceable; the tag itself stays
            for m in _TAG_TEXT.finditer(text, start, end):
                a, b = m.span(m.lastindex)
                protected[a:b] = bytes(b - a)
    numbers: Dict[Tuple[str, str], int] = {}
    out: List[str] = []
    replacements: List[Replacement] = []
    left: List[Entity] = []
    pos = shift = 0
    for start, end, label in merge_spans(entities):
        pieces = _runs(text, protected, start, end)
        if not pieces:
            left.extend(e for e in entities if start <= e["start"] and e["end"] <= end)
            continue
        fill = placeholder_for(placeholder, label, text[start:end], numbers)
        redacted, cut = [], start
        for a, b in pieces:
            redacted += [text[cut:a], fill]
            cut = b
        redacted.append(text[cut:end])
        new = "".join(redacted)
        out += [text[pos:start], new]
        r_start = start + shift
        replacements.append(Replacement(start, end, label, text[start:end], fill, r_start, r_start + len(new), new, tuple(pieces)))
        shift += len(new) - (end - start)
        pos = end
    out.append(text[pos:])
    return "".join(out), replacements, left


def _runs(text: str, protected: bytearray, start: int, end: int) -> List[Tuple[int, int]]:
    """Runs of unprotected characters in [start, end), each without whitespace at its edges."""
    runs, i = [], start
    while i < end:
        while i < end and protected[i]:
            i += 1
        j = i
        while j < end and not protected[j]:
            j += 1
        a, b = i, j
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            runs.append((a, b))
        i = j
    return runs


def redact_document(
    data: bytes,
    find: Callable[[str], Sequence[Entity]],
    placeholder: str = DEFAULT_PLACEHOLDER,
    inside_tags: bool = False,
) -> Redaction:
    """Redact a document (bytes): ``find(text)`` gives the entities of its decoded text
    (character offsets; the CLI passes the pipeline's exact offsets)."""
    text, bom = decode_document(data)
    redacted, replacements, left = redact_text(text, find(text), placeholder, inside_tags)
    return Redaction(bytes(data), encode_document(redacted, bom), replacements, [dict(e) for e in left])


def restore_document(data: bytes, mapping: Mapping[str, Any]) -> bytes:
    """The original document from a redacted one and its mapping, byte for byte.

    Refuses (``ValueError``) a mapping of another document, or a redacted document changed
    since: the originals would go to the wrong places.
    """
    if not isinstance(mapping, Mapping) or mapping.get("format") != MAPPING_FORMAT:
        raise ValueError(f"This is not a redaction mapping (no \"format\": \"{MAPPING_FORMAT}\"): pass the file written by redact --mapping.")
    if mapping.get("version") != MAPPING_VERSION:
        raise ValueError(f"Redaction mapping version {mapping.get('version')!r} is not supported (this version reads {MAPPING_VERSION}).")
    if _sha256(bytes(data)) != mapping.get("redacted_sha256"):
        raise ValueError(
            "The document is not the one this mapping was written for, or it changed after redaction "
            "(its SHA-256 differs): restore needs the redacted output exactly as written."
        )
    text, bom = decode_document(data, "the redacted document")
    pieces, pos = [], 0
    for r in sorted(mapping.get("replacements", []), key=lambda r: r["redacted_start"]):
        start, end = r["redacted_start"], r["redacted_end"]
        if start < pos or end > len(text) or text[start:end] != r["redacted"]:
            raise ValueError(f"The mapping does not fit the document at characters {start}-{end}: restore needs the redacted output exactly as written.")
        pieces += [text[pos:start], r["original"]]
        pos = end
    pieces.append(text[pos:])
    restored = encode_document("".join(pieces), bom)
    if _sha256(restored) != mapping.get("sha256"):
        raise ValueError("The restored document differs from the original (its SHA-256 does not match the mapping's); the mapping was edited.")
    return restored


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
