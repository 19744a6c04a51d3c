"""Redaction of real documents: entities replaced, every other byte kept, and undone.

A document is bytes (UTF-8, with or without a byte order mark, any line ends). It is
decoded without any newline translation, the entities found in its text are replaced,
and the result is encoded back with the same BOM: every byte outside the replaced
characters is the input's byte. What is markup depends on the document's kind
(:mod:`spacy_gliner.markup`: plain text has none; HTML and XML are tokenized by their own
rules; Markdown has raw HTML). Within an entity, what is replaced is each run of its
characters between line breaks and markup syntax, whitespace at a run's edges kept: lists,
tables, paragraphs and HTML keep their shape, and a tag wholly inside an entity
(``Alan <b>Turing</b>``) stays. An entity in markup content (an ``alt=...`` value, a
comment, a tag name, ``<script>`` code) is replaced there only with ``inside_tags``;
otherwise it is left, and :func:`redact_document` refuses to hand back a document that
still holds an entity it found (:class:`RedactionIncomplete`) unless ``allow_skipped``.

The mapping (:meth:`Redaction.mapping`, a JSON-able dict) says what replaced what, with
the hashes of both documents; :func:`restore_document` puts the originals back byte for
byte. The mapping holds the original entity texts: keep it as safe as the document.
"""

import hashlib
import html
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .markup import CHAR_INSIDE, CHAR_KEPT, CHAR_TEXT, TEXT, check_kind, classify, overlapping
from .records import PROPAGATED_KEY
from .render import merge_spans

BOM = b"\xef\xbb\xbf"
DEFAULT_PLACEHOLDER = "[redacted]"
LABEL, NUMBERED = "label", "numbered"  # placeholder modes: [PERSON], [PERSON_1]
MAPPING_FORMAT = "spacy-gliner-redaction"
MAPPING_VERSION = 2  # 2: "redacted_file"; version 1 mappings are still restored
_NUMBER_END = re.compile(r"_(\d+)\]")  # the end of a numbered placeholder, [NAME_12]
_WORD = re.compile(r"[^\W_]{2,}")  # a word that can tie markup content to an entity's text

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
    propagated: bool = False  # every entity joined here was taken by propagation, none found by the model


@dataclass
class Redaction:
    """A redacted document: the bytes in and out, what was replaced, and what was left.

    ``left``: the entities found whose characters are (wholly or partly) still in ``data``,
    because they lie in markup content and ``inside_tags`` was not asked for.
    """

    original: bytes
    data: bytes
    replacements: List[Replacement]
    left: List[Dict[str, Any]]
    kind: str = TEXT

    def mapping(self, redacted_file: Optional[str] = None) -> Dict[str, Any]:
        """What replaced what, for :func:`restore_document` (and for reading).
        ``redacted_file``: the name the redacted document is written under, which restore checks."""
        return {
            "format": MAPPING_FORMAT,
            "version": MAPPING_VERSION,
            "offsets": "characters of the text after any byte order mark",
            "kind": self.kind,
            "bom": self.original.startswith(BOM),
            "sha256": _sha256(self.original),
            "redacted_sha256": _sha256(self.data),
            "redacted_file": redacted_file,
            "replacements": [{k: v for k, v in asdict(r).items() if k != "pieces"} for r in self.replacements],
        }


class RedactionIncomplete(ValueError):
    """Entities were found where they are not replaced (in markup content): the document
    would still hold them. ``redaction`` is the redaction as it stands, ``left`` in it."""

    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        n = len(redaction.left)
        super().__init__(
            f"{n} {'entity' if n == 1 else 'entities'} found inside markup would be left in the output"
            f" ({describe_left(redaction)}). Replace them too with --inside-tags (inside_tags=True), or accept the"
            " output with them with --allow-skipped (allow_skipped=True)."
        )


def describe_left(redaction: Redaction, shown: int = 5) -> str:
    """Where the first ``shown`` entities left are ("person at line 2, column 11; ..."): where
    to look, by label and place, without the names."""
    text, _ = decode_document(redaction.original)
    breaks = [m.start() for m in re.finditer("\n", text)]
    places = []
    for ent in redaction.left[:shown]:
        line = bisect_left(breaks, ent["start"])  # line breaks before the entity
        column = ent["start"] - (breaks[line - 1] + 1 if line else 0) + 1
        places.append(f"{ent.get('label', '?')} at line {line + 1}, column {column}")
    more = len(redaction.left) - shown
    return "; ".join(places) + (f"; and {more} more" if more > 0 else "")


def decode_document(data: bytes, where: str = "the document") -> Tuple[str, bool]:
    """(text, whether a BOM came first): UTF-8 decoded with no newline translation."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"A document to redact is bytes (read the file in binary mode), not {type(data).__name__}.")
    bom = data.startswith(BOM)
    try:
        return bytes(data[len(BOM) if bom else 0 :]).decode("utf8"), bom
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{where} is not UTF-8 text (byte {err.start}: {err.reason}). Convert it first, e.g. `iconv -f latin1 -t"
            " utf-8`."
        ) from err


def encode_document(text: str, bom: bool) -> bytes:
    return (BOM if bom else b"") + text.encode("utf8")


class Placeholders:
    """What replaces each entity of one document: a fixed text, ``"label"`` ([PERSON]) or
    ``"numbered"`` ([PERSON_1]: the same label and surface form, whitespace runs read as one
    space, keep their number). A number whose placeholder the document already holds
    (``[PERSON_1]`` in the source, or a second pass over a redacted file) is skipped, so a
    number never stands for two things. In markup (HTML, XML, Markdown) the placeholder is
    HTML-escaped: a label never becomes a tag."""

    def __init__(self, mode: str, text: str, kind: str) -> None:
        if not isinstance(mode, str):
            raise TypeError(f"placeholder must be a str (a text, 'label' or 'numbered'), not {type(mode).__name__}.")
        self.mode, self.text, self.kind = mode, text, kind
        self.numbers: Dict[Tuple[str, str], str] = {}
        self.last: Counter = Counter()
        self.ends: Dict[str, List[int]] = defaultdict(list)  # number -> where "_<number>]" occurs
        if mode == NUMBERED:
            for m in _NUMBER_END.finditer(text):
                self.ends[m.group(1)].append(m.start())

    def __call__(self, label: str, surface: str) -> str:
        if self.mode not in (LABEL, NUMBERED):
            return self.escape(self.mode)
        name = self.escape("_".join(label.upper().split()) or "ENTITY")
        if self.mode == LABEL:
            return f"[{name}]"
        key = (name, " ".join(surface.split()))
        if key not in self.numbers:
            number = self.last[name] + 1
            while self._taken(name, number):
                number += 1
            self.last[name] = number
            self.numbers[key] = f"[{name}_{number}]"
        return self.numbers[key]

    def escape(self, value: str) -> str:
        return value if self.kind == TEXT else html.escape(value)

    def _taken(self, name: str, number: int) -> bool:
        head = "[" + name
        return any(p >= len(head) and self.text.startswith(head, p - len(head)) for p in self.ends.get(str(number), ()))


def redact_text(
    text: str,
    entities: Sequence[Entity],
    placeholder: str = DEFAULT_PLACEHOLDER,
    inside_tags: bool = False,
    kind: str = TEXT,
) -> Tuple[str, List[Replacement], List[Entity]]:
    """(redacted text, replacements, entities left in markup content).

    ``placeholder``: a fixed text, ``"label"`` ([PERSON]) or ``"numbered"`` ([PERSON_1]);
    ``kind``: ``"text"``, ``"markdown"``, ``"html"`` or ``"xml"`` (where markup is).
    """
    fills = Placeholders(placeholder, text, check_kind(kind))
    for ent in entities:
        if not (
            isinstance(ent.get("start"), int)
            and isinstance(ent.get("end"), int)
            and 0 <= ent["start"] < ent["end"] <= len(text)
        ):
            raise ValueError(
                f"An entity to redact needs 0 <= start < end <= {len(text)} (the text's length); got {dict(ent)!r}."
            )
    classes, constructs = classify(text, kind)
    starts = [a for a, _ in constructs]
    out: List[str] = []
    replacements: List[Replacement] = []
    left: List[Entity] = []
    pos = shift = 0
    ordered = sorted(entities, key=lambda e: (e["start"], -e["end"]))  # as merge_spans joins them
    first = 0
    for start, end, label in merge_spans(ordered):
        last = first
        while last < len(ordered) and ordered[last]["start"] < end:
            last += 1
        found, first = ordered[first:last], last  # the entities joined into this span
        own = _entity_classes(text, classes, constructs, starts, start, end, found)
        pieces = _runs(text, own, start, end, CHAR_INSIDE if inside_tags else CHAR_TEXT)
        unreplaced = not pieces and any(text[k].isalnum() and classes[k] != CHAR_KEPT for k in range(start, end))
        if unreplaced or (not inside_tags and CHAR_INSIDE in own):
            left.extend(found)
        if not pieces:
            continue
        sources = [e.get(PROPAGATED_KEY) for e in found]
        propagated = all(sources)
        fill = fills(label, sources[0] if propagated else text[start:end])  # a part of a name: the name's number
        redacted, cut = [], start
        for a, b in pieces:
            redacted += [text[cut:a], fill]
            cut = b
        redacted.append(text[cut:end])
        new = "".join(redacted)
        out += [text[pos:start], new]
        r_start = start + shift
        replacements.append(
            Replacement(
                start, end, label, text[start:end], fill, r_start, r_start + len(new), new, tuple(pieces), propagated
            )
        )
        shift += len(new) - (end - start)
        pos = end
    out.append(text[pos:])
    return "".join(out), replacements, left


def _entity_classes(
    text: str,
    classes: bytearray,
    constructs: List[Tuple[int, int]],
    starts: List[int],
    start: int,
    end: int,
    found: Sequence[Entity],
) -> bytearray:
    """The classes of the characters of a span of joined entities (``found``), as they see
    them. Markup content is part of an entity where the entity lies in a construct, starts
    or ends in one, or has no letter outside markup (``<Ada Lovelace>``). A construct an
    entity holds whole (``Alan <b>Turing</b>``) is its structure, kept, except the runs of
    content that share a word with the entity's text (``Alan <a href="/wiki/Turing">Turing``)."""
    own = bytearray(classes[start:end])
    if CHAR_INSIDE not in own:
        return own
    content = bytearray(end - start)  # 1: markup content that is part of an entity

    def mark(lo: int, hi: int) -> None:
        content[lo - start : hi - start] = b"\x01" * (hi - lo)

    for ent in found:
        a, b = ent["start"], ent["end"]
        own_text = "".join(text[k] if classes[k] == CHAR_TEXT else " " for k in range(a, b))
        words = {w.casefold() for w in _WORD.findall(own_text)}
        for c_start, c_end in overlapping(constructs, starts, a, b):
            if not any(c.isalnum() for c in own_text) or not (a <= c_start and c_end <= b):
                mark(max(a, c_start), min(b, c_end))
                continue
            for lo, hi in _runs(text, classes[c_start:c_end], c_start, c_end, CHAR_INSIDE):
                if classes[lo] == CHAR_INSIDE and words & {w.casefold() for w in _WORD.findall(text[lo:hi])}:
                    mark(lo, hi)
    for k, c in enumerate(own):
        if c == CHAR_INSIDE and not content[k]:
            own[k] = CHAR_KEPT
    return own


def _runs(text: str, own: bytearray, start: int, end: int, limit: int) -> List[Tuple[int, int]]:
    """Runs of one class (at most ``limit``) in [start, end), each without whitespace at its edges."""
    runs, i = [], start
    while i < end:
        while i < end and own[i - start] > limit:
            i += 1
        j = i
        while j < end and own[j - start] == own[i - start] <= limit:
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
    kind: str = TEXT,
    allow_skipped: bool = False,
) -> Redaction:
    """Redact a document (bytes): ``find(text)`` gives the entities of its decoded text
    (character offsets; the CLI passes the pipeline's exact offsets).

    Raises :class:`RedactionIncomplete` when an entity found would stay in the output (in
    markup content, without ``inside_tags``), unless ``allow_skipped``: then the returned
    :class:`Redaction` lists them in ``left``.
    """
    text, bom = decode_document(data)
    redacted, replacements, left = redact_text(text, find(text), placeholder, inside_tags, kind)
    redaction = Redaction(bytes(data), encode_document(redacted, bom), replacements, [dict(e) for e in left], kind)
    if left and not allow_skipped:
        raise RedactionIncomplete(redaction)
    return redaction


def restore_document(data: bytes, mapping: Mapping[str, Any], redacted_file: Optional[str] = None) -> bytes:
    """The original document from a redacted one and its mapping, byte for byte.

    Refuses (``ValueError``) a damaged mapping, a mapping of another document, a redacted
    document changed since, and, given ``redacted_file`` (the name the document is read
    from), a mapping recorded for a file of another name: two originals that redact to the
    same bytes (form letters) cannot be told apart by the bytes, only by their names.
    """
    replacements = _check_mapping(mapping)
    recorded = mapping.get("redacted_file")
    if redacted_file is not None and recorded is not None and redacted_file != recorded:
        raise ValueError(
            f"This mapping was written for the redacted file {recorded!r}, not {redacted_file!r}. Two documents that "
            "redact to the same bytes cannot be told apart by their content, so restore checks the name: pass the "
            "mapping of this file (or, if you renamed the file, say so with --renamed)."
        )
    if _sha256(bytes(data)) != mapping["redacted_sha256"]:
        raise ValueError(
            "The document is not the one this mapping was written for, or it changed after redaction "
            "(its SHA-256 differs): restore needs the redacted output exactly as written."
        )
    text, bom = decode_document(data, "the redacted document")
    pieces, pos = [], 0
    for start, end, redacted, original in replacements:
        if end > len(text) or text[start:end] != redacted:
            raise ValueError(
                f"The mapping does not fit the document at characters {start}-{end}: restore needs the redacted output"
                " exactly as written."
            )
        pieces += [text[pos:start], original]
        pos = end
    pieces.append(text[pos:])
    restored = encode_document("".join(pieces), bom)
    if _sha256(restored) != mapping["sha256"]:
        raise ValueError(
            "The restored document differs from the original (its SHA-256 does not match the mapping's); the mapping"
            " was edited."
        )
    return restored


def _check_mapping(mapping: Any) -> List[Tuple[int, int, str, str]]:
    """The replacements of a mapping as (redacted_start, redacted_end, redacted, original),
    in order; a ValueError saying what is wrong with a mapping that is not whole."""
    if not isinstance(mapping, Mapping) or mapping.get("format") != MAPPING_FORMAT:
        raise ValueError(
            f'This is not a redaction mapping (no "format": "{MAPPING_FORMAT}"): pass the file written by redact'
            " --mapping."
        )
    if mapping.get("version") not in (1, MAPPING_VERSION):
        raise ValueError(
            f"Redaction mapping version {mapping.get('version')!r} is not supported (this version reads 1 and"
            f" {MAPPING_VERSION})."
        )
    damaged = "The mapping is damaged"
    for key in ("sha256", "redacted_sha256"):
        if not (isinstance(mapping.get(key), str) and re.fullmatch(r"[0-9a-f]{64}", mapping[key])):
            raise ValueError(
                f"{damaged}: {key!r} is not a SHA-256 (64 hexadecimal digits). Pass the file written by redact"
                " --mapping, unchanged."
            )
    if not isinstance(mapping.get("redacted_file"), (str, type(None))):
        raise ValueError(f"{damaged}: 'redacted_file' is not a file name or null.")
    entries = mapping.get("replacements")
    if not isinstance(entries, list):
        raise ValueError(f"{damaged}: 'replacements' is not a list.")
    found, pos = [], 0
    for number, entry in enumerate(entries, start=1):
        where = f"{damaged}: replacement {number}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} is not an object.")
        start, end = entry.get("redacted_start"), entry.get("redacted_end")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)) or not 0 <= start <= end:
            raise ValueError(
                f"{where} needs integers 0 <= 'redacted_start' <= 'redacted_end'; it has {start!r} and {end!r}."
            )
        if not (isinstance(entry.get("redacted"), str) and isinstance(entry.get("original"), str)):
            raise ValueError(f"{where} needs the texts 'redacted' and 'original'.")
        if len(entry["redacted"]) != end - start or start < pos:
            raise ValueError(
                f"{where} does not fit: its offsets overlap the one before, or do not span its 'redacted' text."
            )
        found.append((start, end, entry["redacted"], entry["original"]))
        pos = end
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
