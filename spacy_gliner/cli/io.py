"""Reading what the command line is given: labels, documents and JSONL streams.

Texts are decoded from bytes with no newline translation, so character offsets refer
to the file exactly as it is (``\\r\\n`` included) and a document can be written back
byte for byte. JSONL is read one line at a time: memory does not grow with the file.
"""
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

import srsly

STDIN = "-"
JSONL_SUFFIX = ".jsonl"
TEXT_SUFFIX = ".txt"
# A source with one of these endings (and no spaces) is meant as a file, not as text.
_PATH_SUFFIXES = (".txt", ".jsonl", ".json", ".md", ".markdown", ".html", ".htm", ".xml", ".csv", ".tsv", ".tex", ".spacy")
_LABEL_FILE_SUFFIXES = (".txt", ".json")


class InputError(ValueError):
    """Input that cannot be read, with what to do about it."""


class LineError(InputError):
    """A JSONL line that cannot be used; ``line`` is 1-based."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}, line {line}: {reason}")
        self.line = line


@dataclass
class Record:
    """One document to annotate: its text and the record written out with its entities."""

    text: str
    data: Dict[str, Any]


def read_labels(values: List[str]) -> Union[List[str], Dict[str, str]]:
    """Labels from ``--labels`` values: comma-separated texts, or a .txt (one a line) or .json file.

    A .json file may hold a list, or an object mapping label texts to spaCy labels.
    """
    labels: List[str] = []
    for value in values:
        if value.strip().lower().endswith(_LABEL_FILE_SUFFIXES) and "," not in value:
            path = Path(value.strip())
            if not path.is_file():
                raise InputError(f"Labels file not found: {path}. Give labels as --labels person,organization or an existing .txt/.json file.")
            if path.suffix.lower() == ".json":
                loaded = _read_json(path)
                if isinstance(loaded, dict):
                    if values != [value]:
                        raise InputError(f"{path} maps labels to spaCy labels; it must be the only --labels value.")
                    if not loaded or not all(isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in loaded.items()):
                        raise InputError(f"{path} must map non-empty label texts to non-empty spaCy labels, e.g. {{\"person\": \"PERSON\"}}.")
                    return loaded
                if not isinstance(loaded, list) or not all(isinstance(x, str) for x in loaded):
                    raise InputError(f"{path} must hold a list of label texts or an object mapping label texts to spaCy labels.")
                labels.extend(x.strip() for x in loaded)
            else:
                labels.extend(line.strip() for line in decode(path.read_bytes(), str(path)).splitlines())
        else:
            labels.extend(part.strip() for part in value.split(","))
    return list(dict.fromkeys(label for label in labels if label))


def _read_json(path: Path) -> Any:
    try:
        return srsly.json_loads(decode(path.read_bytes(), str(path)))
    except ValueError as err:
        raise InputError(f"{path} is not valid JSON ({err}).") from err


def decode(data: bytes, where: str) -> str:
    """UTF-8 bytes as text, unchanged (no newline translation; a BOM stays a character)."""
    try:
        return data.decode("utf8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{where} is not UTF-8 text (byte {err.start}: {err.reason}). Convert it first, e.g. `iconv -f latin1 -t utf-8`."
        ) from err


def looks_like_path(source: str) -> bool:
    """Whether a source that does not exist was meant as a file rather than as text."""
    if any(c.isspace() for c in source):
        return False
    return "/" in source or "\\" in source or source.lower().endswith(_PATH_SUFFIXES)


def existing(source: str) -> Optional[Path]:
    """``source`` as a path, if it names an existing file or folder (a long text cannot)."""
    if source == STDIN:
        return None
    try:
        path = Path(source)
        return path if path.exists() else None
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL byte
        return None


def read_document(source: str) -> str:
    """One document: ``-`` for standard input, a file, or else the text itself."""
    if source == STDIN:
        return decode(sys.stdin.buffer.read(), "standard input")
    path = existing(source)
    if path is None:
        if looks_like_path(source):
            raise InputError(f"File or folder not found: {source}. Check the path, or quote a text to annotate it directly.")
        return source
    if path.is_dir():
        raise InputError(f"{path} is a folder; this command takes one document (a file, a text, or - for standard input).")
    return decode(path.read_bytes(), str(path))


def iter_records(source: str, text_key: str, on_error: str) -> Iterator[Union[Record, LineError]]:
    """Documents from a text, a file, a folder of .txt files, a .jsonl file or ``-`` (stdin).

    Unusable JSONL lines are yielded as :class:`LineError` when ``on_error`` is
    ``"skip"`` and raised when it is ``"fail"``.
    """
    path = existing(source)
    if path is not None and path.is_dir():
        files = sorted(p for p in path.rglob(f"*{TEXT_SUFFIX}") if p.is_file())
        if not files:
            raise InputError(f"The folder {path} holds no {TEXT_SUFFIX} files.")
        for file in files:
            text = decode(file.read_bytes(), str(file))
            yield Record(text, {"file": str(file.relative_to(path)), text_key: text})
    elif path is not None and path.suffix.lower() == JSONL_SUFFIX:
        for item in iter_jsonl(path, text_key):
            if isinstance(item, LineError) and on_error == "fail":
                raise item
            yield item
    else:
        text = read_document(source)
        yield Record(text, {"file": path.name, text_key: text} if path is not None else {text_key: text})


def iter_jsonl(path: Path, text_key: str) -> Iterator[Union[Record, LineError]]:
    """Records of a JSONL file, one line at a time; blank lines are passed over."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if not raw.strip():
                continue
            try:
                data = srsly.json_loads(decode(raw, "the line"))
            except InputError as err:
                yield LineError(str(path), number, str(err))
                continue
            except ValueError as err:
                yield LineError(str(path), number, f"not valid JSON ({err})")
                continue
            if not isinstance(data, dict):
                yield LineError(str(path), number, f"expected a JSON object like {{\"{text_key}\": \"...\"}}, got {type(data).__name__}")
            elif not isinstance(data.get(text_key), str):
                found = "no" if text_key not in data else f"a non-string ({type(data[text_key]).__name__})"
                yield LineError(str(path), number, f"{found} {text_key!r} value; each line needs a text under {text_key!r} (see --text-key)")
            else:
                yield Record(data[text_key], data)


def count_records(source: str) -> Optional[int]:
    """How many documents a source holds, when that is cheap to know (for the progress bar)."""
    path = existing(source)
    if path is None:
        return 1
    if path.is_dir():
        return sum(1 for p in path.rglob(f"*{TEXT_SUFFIX}") if p.is_file())
    if path.suffix.lower() != JSONL_SUFFIX:
        return 1
    with path.open("rb") as file:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    return lines or None
