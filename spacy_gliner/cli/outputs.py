"""Where the command line writes: files whole or not at all, never over an input or over one
another, and ``predict``'s records in the format of the output's suffix.

Files are written under a temporary name and renamed at the end (:class:`AtomicOutput`);
pipes and devices are written straight through. Every output is checked before any work
(:func:`check_outputs`). ``predict`` writes through an :class:`Output`: one class per
format, and one table (:data:`FORMATS`) of suffixes and the engines that write them, so
a new format is one class and one row here.
"""

import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Type, Union

import srsly
from spacy.tokens import Doc, DocBin

from ..model.files import new_file_mode
from ..records import ANNOTATIONS, ENTITIES, arrow_type
from .inputs import TEXT_SUFFIX, InputError, dumps, existing, loads
from .options import Engine

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

ROWS_PER_GROUP = 1024  # Parquet: records written a row group at a time


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one existing file (through links, ``..`` or hard links too)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(
    outputs: Sequence[Optional[Path]], source: str, inputs: Sequence[Path] = (), is_text: bool = False
) -> None:
    """Refuse, before any work, outputs that would destroy something or cannot be written:
    an output on the input (``source``, or another file read: ``inputs``), two outputs on one
    file (through links and ``..`` too), a folder, or a place that is not a folder."""
    path = None if is_text else existing(source)
    read = ([path] if path is not None else []) + list(inputs)
    seen: Dict[Any, Path] = {}
    for output in (o for o in outputs if o is not None):
        check_output(output)
        for other in read:
            if same_file(output, other) or (
                other.is_dir() and _inside(output, other) and output.suffix.lower() == TEXT_SUFFIX
            ):
                raise InputError(
                    f"The output {output} is also the input ({other}): writing it would destroy the input. Write to"
                    " another file."
                )
        key = _file_key(output)
        if key is not None and key in seen:
            raise InputError(
                f"The outputs {seen[key]} and {output} are one file: the second would overwrite the first. Give each"
                " output its own file."
            )
        seen[key] = output


def check_output(path: Path) -> None:
    """An InputError unless ``path`` can take an output: a file (new or not), a pipe or a
    character device (``/dev/null``), in a folder that exists or can be made."""
    try:
        mode = path.stat().st_mode if path.exists() else None
    except OSError as err:
        raise InputError(f"Cannot write {path}: {err.strerror}.") from err
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        what = "a folder" if stat.S_ISDIR(mode) else "neither a file, a pipe nor a character device"
        raise InputError(f"The output {path} is {what}: name a file to write (e.g. {path / 'out.txt'}).")
    _check_parent(Path(os.path.realpath(path)) if path.is_symlink() else path)


def check_output_folder(path: Path) -> None:
    """An InputError unless ``path`` can take a folder of files: an existing folder, or a new
    one in a folder that exists or can be made."""
    if path.exists() and not path.is_dir():
        raise InputError(f"The output {path} is a file, not a folder: name a folder to write into.")
    _check_parent(path)


def _check_parent(path: Path) -> None:
    """An InputError unless the nearest existing folder above ``path`` is a folder."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"Cannot write {path}: {parent} is not a folder.")


def is_stream(path: Path) -> bool:
    """Whether ``path`` is (or links to) a pipe or device, written as data comes, never replaced."""
    try:
        mode = path.stat().st_mode
    except OSError:  # not there (yet)
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _file_key(path: Path) -> Any:
    """What makes two output paths one file: the inode of an existing file (the real path of
    a new one); None for a character device, which takes any number of outputs."""
    try:
        info = path.stat()
    except OSError:
        return os.path.realpath(path)
    return None if stat.S_ISCHR(info.st_mode) else (info.st_dev, info.st_ino)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def private_mode(*inputs: Path) -> int:
    """The mode of an output that holds the originals (a mapping, a preview, a restored
    document): owner-only (0600), stricter where the umask or an input file is."""
    mode = 0o600 & new_file_mode()
    for path in inputs:
        try:
            mode &= path.stat().st_mode if path.is_file() else 0o777
        except OSError:
            pass
    return mode


class AtomicOutput:
    """A file written under a temporary name in its folder and renamed to ``path`` by
    :meth:`commit`: a failure or Ctrl-C never leaves a half-written file under the final
    name, and a file already there stays as it was until the rename.

    A symbolic link is followed: its target is written, atomically beside it (the link
    stays). A pipe or character device (``/dev/null``, ``/dev/stdout``, a FIFO) is written
    straight through, as it comes: it is never replaced by a file. ``mode``: the new
    file's mode (default: the mode of the file it replaces, or the umask's).
    """

    def __init__(self, path: Path, mode: Optional[int] = None) -> None:
        check_output(path)
        self.path, self.existed, self.tmp = path, path.exists(), None
        if is_stream(path):
            self.file: IO[bytes] = open(path, "wb")
            return
        target = Path(os.path.realpath(path)) if path.is_symlink() else path
        if self.existed and not same_file(target, path):
            raise InputError(
                f"Cannot tell which file {path} names (it resolves to {target}, which is another file). Write to a"
                " plain file path."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        self.target, self.tmp = target, Path(tmp)
        if mode is None:
            mode = target.stat().st_mode & 0o777 if target.exists() else new_file_mode()
        os.chmod(tmp, mode)  # mkstemp's is 0600
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.file.close()
        if self.tmp is not None:
            os.replace(self.tmp, self.target)

    def discard(self) -> str:
        """Remove the temporary file; says what became of ``path``."""
        try:
            self.file.close()
        except OSError:  # a closed pipe, a full device: what was written is gone anyway
            pass
        if self.tmp is None:
            return f"what was written went straight to {self.path} (a pipe or device)"
        self.tmp.unlink(missing_ok=True)
        return no_partial_file(self.path, self.existed)


def no_partial_file(path: Path, existed: bool) -> str:
    """What a stopped run says of its output file, which it never wrote in part."""
    return f"no partial file was kept ({path} {'is unchanged' if existed else 'was not written'})"


def write_file(path: Path, data: bytes, mode: Optional[int] = None) -> None:
    """Write ``data`` to ``path`` whole, or not at all (see :class:`AtomicOutput`)."""
    out = AtomicOutput(path, mode)
    try:
        out.file.write(data)
    except BaseException:
        out.discard()
        raise
    out.commit()


# -- predict's records, by format -----------------------------------------------------------
class Output:
    """Where ``predict`` writes its records, one at a time: :meth:`add` each record (a dict,
    or a JSON line as written), :meth:`close` at the end. After a failure, :meth:`stop` leaves
    no partial file and says what had been written. ``path`` None: standard output."""

    def __init__(
        self, path: Optional[Path], *, text_key: str = "text", schema: Optional["pyarrow.Schema"] = None
    ) -> None:
        self.path, self.text_key, self.schema = path, text_key, schema

    def add(self, record: Union[str, Dict[str, Any]], doc: Optional[Doc] = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def discard(self) -> str:
        """Remove what is not whole; says what became of the output file."""
        raise NotImplementedError

    def stop(self, written: int) -> str:
        """After a failure: what was written, and what became of it ("" when nothing was)."""
        if self.path is None:
            return f"{written} records were written to standard output before the stop." if written else ""
        kept = self.discard()
        return (
            f"{written} records were annotated before the stop; {kept}."
            if written
            else f"Nothing was annotated; {kept}."
        )


class JsonlOutput(Output):
    """One JSON record a line, written as records come: to standard output, or to a file
    that appears only when the run succeeds (a pipe or device: straight through)."""

    def __init__(self, path: Optional[Path], **settings: Any) -> None:
        super().__init__(path, **settings)
        self.out = AtomicOutput(path) if path is not None else None

    def add(self, record: Union[str, Dict[str, Any]], doc: Optional[Doc] = None) -> None:
        line = (record if isinstance(record, str) else _json_line(record)) + "\n"
        if self.out is None:
            sys.stdout.write(line)
        else:
            self.out.file.write(line.encode("utf8", "surrogatepass"))

    def close(self) -> None:
        if self.out is None:
            sys.stdout.flush()
        else:
            self.out.commit()

    def discard(self) -> str:
        return self.out.discard() if self.out is not None else ""


def _json_line(record: Dict[str, Any]) -> str:
    try:
        return dumps(record)
    except (OverflowError, TypeError, ValueError) as err:  # NaN or infinity in a Parquet float column
        where = f" (id {record['id']!r})" if "id" in record else ""
        raise InputError(
            f"A record{where} cannot be written as JSON ({err}). Write Parquet (-o out.parquet)."
        ) from None


class DocBinOutput(Output):
    """Annotated docs in a DocBin (.spacy), written at the end; a record's other keys go to
    ``doc.user_data["meta"]``."""

    def __init__(self, path: Path, **settings: Any) -> None:
        super().__init__(path, **settings)
        self.docbin = DocBin(store_user_data=True)

    def add(self, record: Union[str, Dict[str, Any]], doc: Optional[Doc] = None) -> None:
        assert doc is not None and isinstance(record, dict), "a DocBin is written from docs (--engine local)"
        meta = {k: v for k, v in record.items() if k not in (self.text_key, ENTITIES)}
        try:
            srsly.msgpack_dumps(meta)  # found now, not when the DocBin is written at the end
        except (OverflowError, TypeError, ValueError) as err:
            raise InputError(
                f"The record of {doc.text[:40]!r}... has keys a DocBin cannot store ({err}; msgpack holds integers "
                "of 64 bits). Write JSONL instead (-o out.jsonl), which keeps every key as written."
            ) from err
        doc.user_data["meta"] = meta
        self.docbin.add(doc)

    def close(self) -> None:
        write_file(self.path, self.docbin.to_bytes())

    def discard(self) -> str:
        return no_partial_file(self.path, self.path.exists())


class ParquetOutput(Output):
    """Records into one Parquet file of one schema (found before the run, and completed by the
    annotation columns the first records gained: :func:`with_annotations`), a row group per
    :data:`ROWS_PER_GROUP` records; the file appears only when the run succeeded."""

    def __init__(self, path: Path, **settings: Any) -> None:
        super().__init__(path, **settings)
        assert self.schema is not None, "a Parquet output needs the schema of its records"
        self.out = AtomicOutput(path)
        self.rows: List[Dict[str, Any]] = []
        self.writer: Optional["pyarrow.parquet.ParquetWriter"] = None  # opened at the first row group

    def add(self, record: Union[str, Dict[str, Any]], doc: Optional[Doc] = None) -> None:
        self.rows.append(loads(record) if isinstance(record, str) else record)
        if len(self.rows) >= ROWS_PER_GROUP:
            self._flush()

    def _open(self) -> "pyarrow.parquet.ParquetWriter":
        import pyarrow.parquet as pq

        if self.writer is None:
            self.schema = with_annotations(self.schema, self.rows)
            self.writer = pq.ParquetWriter(self.out.file, self.schema)
        return self.writer

    def _flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            writer = self._open()
            late = sorted(
                {k for row in self.rows for k in ANNOTATIONS if row.get(k) is not None} - set(self.schema.names)
            )
            if late:  # from_pylist would leave them out
                raise InputError(
                    f"Records gained {', '.join(late)} after the first {ROWS_PER_GROUP}, which had none: a Parquet file"
                    " has the columns of its first records. Write JSONL (-o out.jsonl)."
                )
            try:
                table = pa.Table.from_pylist(self.rows, schema=self.schema)
            except (pa.ArrowException, OverflowError) as err:  # an input file changed since the first pass
                raise InputError(f"A record does not fit the Parquet schema found before the run ({err}).") from None
            writer.write_table(table)
            self.rows = []

    def close(self) -> None:
        self._flush()
        self._open().close()
        self.out.commit()

    def discard(self) -> str:
        if self.writer is not None:
            self.writer.close()
        return self.out.discard()


def with_annotations(schema: "pyarrow.Schema", rows: Sequence[Dict[str, Any]]) -> "pyarrow.Schema":
    """``schema`` with a column (:func:`records.arrow_type`) for each annotation beyond the
    entities that some of ``rows`` have and the input had no column for, in :data:`ANNOTATIONS`' order."""
    import pyarrow as pa

    for key in ANNOTATIONS[1:]:
        if schema.get_field_index(key) < 0 and any(row.get(key) is not None for row in rows):
            schema = schema.append(pa.field(key, arrow_type(key)))
    return schema


@dataclass(frozen=True)
class Format:
    """An output format of ``predict``: its writer, what it holds, the engines that write it."""

    writer: Type[Output]
    holds: str
    engines: Tuple[Engine, ...]


FORMATS = {
    ".jsonl": Format(JsonlOutput, "one record a line", (Engine.local, Engine.ray)),
    ".spacy": Format(DocBinOutput, "a DocBin", (Engine.local,)),
    ".parquet": Format(ParquetOutput, "a Parquet table", (Engine.ray,)),
}
STREAM_SUFFIX = ".jsonl"  # standard output, a pipe or a device takes JSONL whatever its name


def output_format(path: Optional[Path], engine: Engine) -> Format:
    """The format ``engine`` writes ``path`` in (None: standard output), by its suffix; an
    InputError naming the suffixes the engine writes."""
    if path is None or is_stream(path):
        return FORMATS[STREAM_SUFFIX]
    suffix = path.suffix.lower()
    found = FORMATS.get(suffix)
    if found is None or engine not in found.engines:
        choices = " or ".join(f"{name} ({f.holds})" for name, f in FORMATS.items() if engine in f.engines)
        with_engine = f"with --engine {engine.value}, " if engine is not Engine.local else ""
        raise InputError(f"--output {path}: {with_engine}write {choices}, not {suffix or 'a file without suffix'}.")
    return found
