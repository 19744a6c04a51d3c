"""``spacy-gliner predict --engine ray``: the same records as the single-process path,
annotated by Ray workers (see ``spacy_gliner.scale``), in input order.

:func:`corpus` finds and checks what to read before any cluster starts; :func:`annotated`
runs the workers and hands back each record (``spacy_gliner.cli.predict`` writes them).
JSON lines pass through as the one-process path passes them: each worker reads its lines
as text and parses them with the same strict rules (``inputs.parse_line``), and writes each
record back as its line with only its annotations added (``"entities"``, and ``"relations"``
and ``"cats"`` where the pipeline writes them: ``inputs.JsonRecord``), so both engines write
the same bytes. Parquet output needs one type per column: its schema is found from every
record before any work (a first pass over the input), or the run is refused there; the
``relations`` and ``cats`` columns join it at the first records written, where the pipeline
wrote them (``outputs.ParquetOutput``).
"""

import contextlib
import os
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .. import scale
from ..loading import RunOptions
from ..records import ENTITIES, arrow_type
from .inputs import LineError, Record, count_lines, dumps, parse_line

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

# the columns of annotated JSON lines: the line to write, why it cannot be, its entity count
OUTPUT, COUNT = scale.PREFIX + "output", scale.PREFIX + "entity_count"
ROWS_PER_CHECK = 1024
Say = Callable[[str, str], None]  # (kind: "info", "warn"..., message)
# (the JSON line or Parquet record to write, its entity count, or why it cannot be written)
Result = Tuple[Union[str, Dict[str, Any]], int, Optional[str]]


class DistributedError(ValueError):
    """A distributed run that cannot start or finish, with what to do."""


class LineAnnotator(scale.Annotator):
    """JSON lines (:func:`scale.read`'s rows) in; out, each record's line as the one-process
    path writes it (:data:`OUTPUT`), or why the line cannot be used (:data:`scale.ERROR`)."""

    def __call__(self, batch: "pyarrow.Table") -> "pyarrow.Table":
        import pyarrow as pa

        columns = [batch.column(name).to_pylist() for name in (scale.LINE, scale.NUMBER, scale.FILE)]
        items = [parse_line(raw, number, file, self.settings.text_key) for raw, number, file in zip(*columns)]
        items = [item for item in items if item is not None]  # blank lines
        records = [item for item in items if isinstance(item, Record)]
        for record, found in zip(records, self.annotate([record.text for record in records])):
            record.data.update(found)
        return pa.table(
            {
                OUTPUT: pa.array(
                    [dumps(item.data) if isinstance(item, Record) else None for item in items], type=pa.string()
                ),
                scale.ERROR: pa.array(
                    [str(item) if isinstance(item, LineError) else None for item in items], type=pa.string()
                ),
                COUNT: pa.array(
                    [len(item.data[ENTITIES]) if isinstance(item, Record) else 0 for item in items], type=pa.int64()
                ),
            }
        )


@dataclass
class Corpus:
    """What ``--engine ray`` reads, found and checked before any cluster starts."""

    source: Path
    kind: str  # "json" (JSON lines) or "parquet"
    files: List[Path]
    total: int  # lines or rows, for the progress bar
    schema: Optional["pyarrow.Schema"]  # of a Parquet output; None for JSONL


def corpus(source: Path, output: Path, text_key: str, to_parquet: bool) -> Corpus:
    """The files of ``source`` (JSONL or Parquet, a file or a folder) and, for a Parquet
    ``output``, the schema of every record: everything that can be refused is refused here
    (a missing source, mixed kinds, an output inside the input, records Parquet or JSON
    cannot hold), before any cluster starts."""
    if not source.exists():
        raise DistributedError(
            f"{source} not found: --engine ray reads a .jsonl or .parquet file, or a folder of them."
        )
    kind, files = scale.input_files(source)
    _refuse_output_in_input(output, source, files)
    if kind == "json":
        schema = lines_schema(files, text_key) if to_parquet else None
        total = sum(count_lines(file) for file in files)
    else:
        schema, total = parquet_schema(files, to_parquet)
    return Corpus(source, kind, files, total, schema)


@contextlib.contextmanager
def annotated(
    found: Corpus,
    model: str,
    options: RunOptions,
    *,
    text_key: str,
    address: Optional[str],
    workers: int,
    gpus_per_worker: float,
    verbose: bool,
    say: Say,
) -> Iterator[Iterator[Result]]:
    """The records of ``found`` annotated by ``workers`` Ray actors, in input order, as
    (the JSON line or Parquet record to write, its entity count, or why it cannot be: a bad
    line names its file and line, a Parquet record its position and id). Ray runs for the
    ``with`` block; ``say`` gets the messages for the user, Ray's own go to its log files
    unless ``verbose``."""
    with _cluster(address, workers, verbose, say):
        dataset = scale.annotate(
            scale.read(found.kind, found.files), model, **asdict(options), text_key=text_key,
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            annotator=LineAnnotator if found.kind == "json" else scale.Annotator,
        )  # fmt: skip
        yield _results(dataset, found.kind, found.source)


@contextlib.contextmanager
def _cluster(address: Optional[str], workers: int, verbose: bool, say: Say) -> Iterator[None]:
    """Ray for one run, its own messages out of the terminal unless ``verbose``; a cluster
    started (or joined) here is let go after the run."""
    with _ray_quiet(not verbose):
        ray = scale.require_ray()
        owned = not ray.is_initialized()
        try:
            say("info", scale.connect(address, workers, verbose=verbose))
            yield
        finally:
            if owned and ray.is_initialized():
                ray.shutdown()  # while Ray's own messages still go nowhere


def _results(dataset: Any, kind: str, source: Path) -> Iterator[Result]:
    for position, row in scale.records(dataset):
        error = row.pop(scale.ERROR)
        if kind == "json":
            yield row[OUTPUT], row[COUNT], error
        elif error is None:
            yield row, len(row[ENTITIES]), None
        else:
            where = f"{source}, record {position + 1}" + (f" (id {row['id']!r})" if "id" in row else "")
            yield row, 0, f"{where}: {error}"


def _refuse_output_in_input(output: Path, source: Path, files: Sequence[Path]) -> None:
    """An output inside the input folder (or on an input file, through links too) would be
    read back as input by the next run, or read while it is written."""
    target = output.resolve()
    inside = source.is_dir() and source.resolve() in (target, *target.parents)
    if inside or any(target == file.resolve() for file in files):
        raise DistributedError(
            f"The output {output} is {'inside the input folder' if inside else 'an input file of'} {source}:"
            f" {'the next run would read it back as input' if inside else 'writing it would destroy the input'}. Write"
            " it elsewhere."
        )


def _numbered_records(files: Sequence[Path], text_key: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(where, record) for every usable line of JSON lines files ("in.jsonl, line 3")."""
    for file in files:
        with file.open("rb") as stream:
            for number, raw in enumerate(stream, start=1):
                item = parse_line(raw, number, str(file), text_key)
                if isinstance(item, Record):
                    yield f"{file}, line {number}", item.data


def _chunks(items: Iterator[Any], size: int) -> Iterator[List[Any]]:
    chunk: List[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _convert_all(files: Sequence[Path], text_key: str, convert: Callable[[List[Dict[str, Any]]], Any]) -> None:
    """``convert`` the records of ``files`` (their "entities" null: the run writes its
    own), ROWS_PER_CHECK at a time; a chunk that fails is converted record by record to
    name the first record that cannot be converted."""
    import pyarrow as pa

    records = ((where, {**record, ENTITIES: None}) for where, record in _numbered_records(files, text_key))
    for chunk in _chunks(records, ROWS_PER_CHECK):
        try:
            convert([row for _, row in chunk])
        except (pa.ArrowException, OverflowError):
            for where, row in chunk:
                try:
                    convert([row])
                except (pa.ArrowException, OverflowError) as err:
                    raise DistributedError(
                        f"{where}: Parquet cannot store this record as the others ({str(err).splitlines()[0]}); a"
                        " Parquet column holds one type, and integers of at most 64 bits. Write JSONL (-o out.jsonl),"
                        " which keeps every record as written."
                    ) from None


def lines_schema(files: Sequence[Path], text_key: str) -> "pyarrow.Schema":
    """The Parquet schema of JSON lines written with their entities: found from every record
    (a field null or missing at first and set later, integers and fractions in one field:
    a float column), then checked against every record; a record it cannot hold is refused,
    named by file and line. Lines that cannot be used are left to the run."""
    import pyarrow as pa

    schema = pa.schema([])

    def widen(rows: List[Dict[str, Any]]) -> None:
        nonlocal schema
        schema = pa.unify_schemas([schema, pa.schema(pa.array(rows).type)], promote_options="permissive")

    _convert_all(files, text_key, widen)
    schema = _with_entities(schema)
    _convert_all(files, text_key, lambda rows: pa.Table.from_pylist(rows, schema=schema))
    return schema


def parquet_schema(files: Sequence[Path], to_parquet: bool) -> Tuple[Optional["pyarrow.Schema"], int]:
    """(the output schema of Parquet files, or None for JSONL output; their rows): one
    schema for all files (columns missing from some files are null there), refused when
    they cannot share one, or when JSONL cannot hold a column's type."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = []
    for file in files:
        schema = pq.read_schema(file)
        scale.check_columns(schema.names, str(file))
        if not to_parquet:
            for field in schema:
                if field.name != ENTITIES and not _json_type(field.type):
                    raise DistributedError(
                        f"{file}: the column {field.name!r} is {field.type}, which JSON cannot hold as it is. Write"
                        " Parquet (-o out.parquet)."
                    )
        schemas.append(schema)
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive")
    except pa.ArrowException as err:
        raise DistributedError(
            f"{files[0].parent}: its Parquet files cannot share one schema ({err}). Annotate them one at a time."
        ) from None
    total = sum(pq.ParquetFile(file).metadata.num_rows for file in files)
    return (_with_entities(unified) if to_parquet else None), total


def _json_type(kind: "pyarrow.DataType") -> bool:
    """Whether values of an Arrow type come out of ``to_pylist`` as JSON values."""
    import pyarrow.types as t

    if t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind):
        return _json_type(kind.value_type)
    if t.is_struct(kind):
        return all(_json_type(kind.field(i).type) for i in range(kind.num_fields))
    return any(
        check(kind) for check in (t.is_null, t.is_boolean, t.is_integer, t.is_floating, t.is_string, t.is_large_string)
    )


def _with_entities(schema: "pyarrow.Schema") -> "pyarrow.Schema":
    """``schema`` with the entities column, where the records had one, else at the end."""
    import pyarrow as pa

    field = pa.field(ENTITIES, arrow_type())
    index = schema.get_field_index(ENTITIES)
    return schema.set(index, field) if index >= 0 else schema.append(field)


@contextlib.contextmanager
def _ray_quiet(quiet: bool) -> Iterator[None]:
    """Ray's own messages out of the terminal: its Python warnings, and the log lines its
    C++ core writes straight to file descriptor 2 (``E ... core_worker.cc``), which is
    pointed at the null device for the run while Python's ``sys.stderr`` (messages, the
    progress bar) keeps the terminal."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    try:
        if python_stderr.fileno() == 2:
            sys.stderr = open(
                os.dup(saved), "w", encoding=python_stderr.encoding, errors=python_stderr.errors, buffering=1
            )
    except (AttributeError, OSError, ValueError):  # already not the process's stderr (a test runner's)
        pass
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"ray(\.|$)")
            yield
    finally:
        if sys.stderr is not python_stderr:
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
