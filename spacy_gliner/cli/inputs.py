"""Reading what the command line is given: labels, documents and JSONL streams.

Texts are decoded from bytes with no newline translation, so character offsets refer
to the file exactly as it is (``\\r\\n`` included) and a document can be written back
byte for byte. A UTF-8 byte order mark (BOM) at the start of a file is not text: it is
removed, and a document's offsets count from after it. JSONL is read one line at a time:
memory does not grow with the file, and each record's other keys are written back exactly
as they were (see :class:`JsonRecord`). Where output goes: :mod:`.outputs`.
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import srsly

from ..records import ANNOTATIONS, ENTITIES, missing_text

STDIN = "-"
JSONL_SUFFIX = ".jsonl"
TEXT_SUFFIX = ".txt"
# A source with one of these endings (and no spaces) is meant as a file, not as text.
_PATH_SUFFIXES = (
    ".txt",
    ".jsonl",
    ".json",
    ".md",
    ".markdown",
    ".html",
    ".htm",
    ".xml",
    ".csv",
    ".tsv",
    ".tex",
    ".spacy",
)
_LABEL_FILE_SUFFIXES = (".txt", ".json")
BOM = "\ufeff"


class InputError(ValueError):
    """Input that cannot be read, with what to do about it."""


class RecordError(InputError):
    """A record that cannot be used (a JSONL line, a file of a folder): skipped with ``--on-error skip``."""


class LineError(RecordError):
    """A JSONL line that cannot be used; ``line`` (and ``column``) are 1-based."""

    def __init__(self, path: str, line: int, reason: str, column: Optional[int] = None) -> None:
        super().__init__(f"{path}, line {line}{f', column {column}' if column else ''}: {reason}")
        self.line = line


@dataclass
class Record:
    """One document to annotate: its text and the record written out with its entities."""

    text: str
    data: Dict[str, Any]


def read_labels(values: List[str]) -> Union[List[str], Dict[str, str]]:
    """Labels from ``--labels`` values: comma-separated, or a .txt (one a line) or .json file.

    A .json file may hold a list, or an object {label: description} as the official library
    takes it: the label is written on each entity, the description is what the model reads.
    """
    labels: List[str] = []
    for value in values:
        if value.strip().lower().endswith(_LABEL_FILE_SUFFIXES) and "," not in value:
            path = Path(value.strip())
            if not path.is_file():
                raise InputError(
                    f"Labels file not found: {path}. Give labels as --labels person,organization or an existing"
                    " .txt/.json file."
                )
            if path.suffix.lower() == ".json":
                loaded = read_json(path)
                if isinstance(loaded, dict):
                    if values != [value]:
                        raise InputError(f"{path} maps labels to descriptions; it must be the only --labels value.")
                    if not loaded or not all(
                        isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in loaded.items()
                    ):
                        raise InputError(
                            f'{path} must map non-empty labels to non-empty descriptions, e.g. {{"PERSON": "person"}}.'
                        )
                    return loaded
                if not isinstance(loaded, list) or not all(isinstance(x, str) for x in loaded):
                    raise InputError(f"{path} must hold a list of labels or an object mapping labels to descriptions.")
                labels.extend(x.strip() for x in loaded)
            else:
                labels.extend(line.strip() for line in strip_bom(decode(path.read_bytes(), str(path)))[1].splitlines())
        else:
            labels.extend(part.strip() for part in value.split(","))
    return list(dict.fromkeys(label for label in labels if label))


def read_json(path: Path) -> Any:
    """A JSON file (strict: no NaN), or an InputError saying where it is not JSON."""
    try:
        return loads(strip_bom(decode(path.read_bytes(), str(path)))[1])
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}.") from err
    except ValueError as err:
        raise InputError(f"{path} is not valid JSON: {err}") from err
    except RecursionError as err:
        raise InputError(
            f"{path} nests its JSON values too deeply to be read; it is not a file this command writes."
        ) from err


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (JSON has no NaN or Infinity; write null or a number).")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def loads(text: str) -> Any:
    """Strict JSON (the standard library's: integers of any size, floats as written; no NaN)."""
    return _DECODER.decode(text)


def strip_bom(text: str) -> Tuple[str, str]:
    """(the byte order mark or "", the text after it)."""
    return (BOM, text[1:]) if text.startswith(BOM) else ("", text)


def decode(data: bytes, where: str) -> str:
    """UTF-8 bytes as text, unchanged (no newline translation; a BOM stays a character)."""
    try:
        return data.decode("utf8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{where} is not UTF-8 text (byte {err.start}: {err.reason}). Convert it first, e.g. `iconv -f latin1 -t"
            " utf-8`."
        ) from err


def looks_like_path(source: str) -> bool:
    """Whether a source that names no file must have been meant as one: a single word (a file
    name, or a one-word text, which needs ``--text``), or a line that ends like a file name
    or starts like a path."""
    if not any(c.isspace() for c in source):
        return True
    return "\n" not in source and (
        source.lower().rstrip().endswith(_PATH_SUFFIXES) or source.startswith(("/", "./", "../", "~"))
    )


def existing(source: str) -> Optional[Path]:
    """``source`` as a path, if it names an existing file or folder (a long text cannot)."""
    if source == STDIN:
        return None
    try:
        path = Path(source)
        return path if path.exists() else None
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL byte
        return None


def source_path(source: str, is_text: bool = False) -> Optional[Path]:
    """The file or folder a command's SOURCE names; None for standard input or a text.

    One rule for every command: a SOURCE that names nothing is the text itself only when
    ``--text`` says so (``is_text``) or when it is plainly text (several words, not shaped
    like a file name); otherwise it is refused, so a mistyped file name is never annotated,
    redacted or written out as if it were the document.
    """
    if is_text or source == STDIN:
        return None
    path = existing(source)
    if path is None and looks_like_path(source):
        raise InputError(
            f"File or folder not found: {source}. Check the path, or pass --text to use {source!r} as the text itself."
        )
    return path


def read_source(source: str, is_text: bool = False) -> bytes:
    """One document's bytes as they are: ``-`` for standard input, a file, or the text itself (UTF-8)."""
    if not is_text and source == STDIN:
        return sys.stdin.buffer.read()
    path = source_path(source, is_text)
    if path is None:
        return source.encode("utf8", "surrogateescape")  # undecodable arguments come back as their bytes
    if path.is_dir():
        raise InputError(
            f"{path} is a folder; this command takes one document (a file, a text, or - for standard input)."
        )
    return path.read_bytes()


def read_document(source: str, is_text: bool = False) -> str:
    """One document's text: ``-`` for standard input, a file, or the text itself."""
    data = read_source(source, is_text)
    if is_text or existing(source) is None:
        return decode(data, "standard input" if source == STDIN and not is_text else "the text")
    return decode(data, source)


def iter_records(
    source: str, text_key: str, on_error: str, is_text: bool = False
) -> Iterator[Union[Record, LineError]]:
    """Documents from a text, a file, a folder of .txt files, a .jsonl file or ``-`` (stdin).

    Unusable JSONL lines are yielded as :class:`LineError` when ``on_error`` is
    ``"skip"`` and raised when it is ``"fail"``.
    """
    path = source_path(source, is_text)
    if path is not None and path.is_dir():
        for file in text_files(path):
            try:
                text = strip_bom(decode(file.read_bytes(), str(file)))[1]
            except InputError as err:
                if on_error == "fail":
                    raise RecordError(str(err)) from err
                yield RecordError(str(err))
                continue
            yield Record(text, {"file": str(file.relative_to(path)), text_key: text})
    elif path is not None and path.suffix.lower() == JSONL_SUFFIX:
        for item in iter_jsonl(path, text_key):
            if isinstance(item, LineError) and on_error == "fail":
                raise item
            yield item
    else:
        text = strip_bom(read_document(source, is_text))[1]
        yield Record(text, {"file": path.name, text_key: text} if path is not None else {text_key: text})


def text_files(folder: Path) -> List[Path]:
    """The .txt files of a folder and its sub-folders, sorted; an InputError if it holds none."""
    files = sorted(p for p in folder.rglob(f"*{TEXT_SUFFIX}") if p.is_file())
    if not files:
        raise InputError(f"The folder {folder} holds no {TEXT_SUFFIX} files: predict reads a folder's .txt files.")
    return files


def iter_jsonl(path: Path, text_key: str) -> Iterator[Union[Record, LineError]]:
    """Records of a JSONL file, one line at a time; blank lines are passed over."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            item = parse_line(raw, number, str(path), text_key)
            if item is not None:
                yield item


def parse_line(raw: bytes, number: int, path: str, text_key: str) -> Union[Record, LineError, None]:
    """Line ``number`` (1-based) of the JSONL file ``path``, as bytes: its record, why it
    cannot be used, or None for a blank line. ``spacy-gliner predict --engine ray`` parses
    its lines here too, so both engines accept and refuse the same lines."""
    if not raw.strip():
        return None
    try:
        line = decode(raw, "the line").rstrip()
        if number == 1:
            line = strip_bom(line)[1]
        data = loads(line)
    except InputError as err:
        return LineError(path, number, str(err))
    except json.JSONDecodeError as err:
        return LineError(path, number, f"not valid JSON: {err.msg}", column=err.colno)
    except ValueError as err:
        return LineError(path, number, f"not valid JSON: {err}")
    if not isinstance(data, dict):
        return LineError(
            path, number, f'expected a JSON object like {{"{text_key}": "..."}}, got {type(data).__name__}'
        )
    if not isinstance(data.get(text_key), str):
        return LineError(path, number, missing_text(data.get(text_key), text_key, "line"))
    if any("\ud800" <= c <= "\udfff" for c in data[text_key]):
        return LineError(
            path,
            number,
            f"the {text_key!r} value holds a lone surrogate (a \\ud800-\\udfff escape without its pair), which is not"
            " text",
        )
    return Record(data[text_key], JsonRecord(data, line))


class JsonRecord(dict):
    """A JSONL record that remembers its line: written back with every key as it was written
    (numbers digit for digit, escapes, key order), and only its annotations new: its entities
    (:data:`ENTITIES`), and its relations and classes where a component wrote them."""

    def __init__(self, data: Dict[str, Any], line: str) -> None:
        super().__init__(data)
        self.line = line

    def dumps(self) -> str:
        line = _with_value(self.line, ENTITIES, self.get(ENTITIES, []))
        for key in ANNOTATIONS[1:]:
            if key in self:
                line = _with_value(line, key, self[key])
        return line


def _with_value(line: str, key: str, value: Any) -> str:
    """A JSON object's line with ``key``'s value replaced (each time it occurs), or added at the end."""
    text = srsly.json_dumps(value)
    spans = [(start, end) for found, start, end in _values(line) if found == key]
    if spans:
        for start, end in reversed(spans):
            line = line[:start] + text + line[end:]
        return line
    close = line.rindex("}")
    body = line[:close].rstrip()
    return body + ("" if body.endswith("{") else ", ") + json.dumps(key) + ": " + text + line[close:]


def _values(line: str) -> Iterator[Tuple[str, int, int]]:
    """(key, start, end) of each top-level value of a valid JSON object's text."""
    skip = json.decoder.WHITESPACE.match
    i = skip(line, skip(line, 0).end() + 1).end()  # past "{"
    while line[i] != "}":
        key, i = json.decoder.scanstring(line, i + 1)
        i = skip(line, skip(line, i).end() + 1).end()  # past ":"
        _, end = _DECODER.raw_decode(line, i)
        yield key, i, end
        i = skip(line, end).end()
        if line[i] == ",":
            i = skip(line, i + 1).end()


def dumps(record: Dict[str, Any]) -> str:
    """A record as one JSON line."""
    return record.dumps() if isinstance(record, JsonRecord) else srsly.json_dumps(record)


def count_records(source: str, is_text: bool = False) -> Optional[int]:
    """How many documents a source holds, when that is cheap to know (for the progress bar);
    an InputError for a folder that holds none."""
    path = None if is_text else existing(source)
    if path is None:
        return 1
    if path.is_dir():
        return len(text_files(path))
    if path.suffix.lower() != JSONL_SUFFIX:
        return 1
    return count_lines(path) or None


def count_lines(path: Path) -> int:
    """How many lines a file holds (its newlines), read in chunks."""
    with path.open("rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
