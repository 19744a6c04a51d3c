"""Annotating corpora larger than one machine, on Ray Data (``pip install "spacy-gliner[ray]"``).

Ray does the scheduling, the data movement and the fault tolerance: each worker is a Ray
actor that loads the pipeline once and annotates batches of records (``map_batches``);
a worker that dies is restarted and its batch run again. The records keep all their
columns; what ``spacy-gliner predict`` adds to a record is added as columns
(:func:`spacy_gliner.records.annotations`): ``entities`` (character offsets, text, label,
score), and ``relations`` and ``cats`` where the pipeline writes them (a relex model with
relation types; a component that sets ``doc.cats``), typed by :func:`records.arrow_type`
(null in a record that has none); and an :data:`ERROR` column saying why a record could
not be annotated (null otherwise).
Every column this module adds for its own use starts with :data:`PREFIX`, so it cannot
take the place of a user's field (a dataset that already has such a column is refused).
Records come out in input order, so a record's position is its position in the input.

JSON lines are read as text (:func:`read`): one row per line of each file, with the file
and line number, so that they can be parsed and written back by the one-process path's
rules (see ``spacy_gliner.cli.distributed``) instead of Ray's JSON reader, which infers
types (``1`` became ``1.0``) and accepts what strict JSON refuses.
"""

import importlib
import logging
import os
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Type, Union

from .config import Classes, Labels, Threshold
from .loading import RunOptions, load_pipeline
from .records import ANNOTATIONS, CATS, ENTITIES, arrow_type, missing_text

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow
    import ray.data

PREFIX = "_spacy_gliner_"
ERROR = PREFIX + "error"
# the columns of JSON lines read as text (see read)
LINE, FILE, NUMBER = PREFIX + "line", PREFIX + "file", PREFIX + "line_number"
INPUT_SUFFIXES = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
LINES_PER_BLOCK = 1024
CONNECT_SECONDS = 60.0


class ClusterError(ValueError):
    """A Ray cluster that cannot be started or joined, with what to do."""


def require_ray() -> Any:
    """The ``ray`` module, or an ImportError saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data comes with the "data" extra)
    except ImportError as err:
        raise ImportError(f'Ray Data is needed for --engine ray ({err}): pip install "spacy-gliner[ray]"') from err
    return ray


def check_columns(names: Sequence[str], where: str) -> None:
    """Refuse user columns named like this module's own (they would be overwritten or dropped)."""
    taken = [name for name in names if name.startswith(PREFIX)]
    if taken:
        raise ValueError(
            f"{where} has a column named {taken[0]!r}; names starting with {PREFIX!r} are spacy-gliner's own."
            " Rename it."
        )


@dataclass
class RunSettings:
    """What every worker needs to build the same pipeline as ``spacy-gliner predict``."""

    model: str
    options: RunOptions
    text_key: str = "text"
    use_gpu: bool = False
    threads: int = 1


class Annotator:
    """A Ray actor: loads the pipeline once, then annotates batches (Arrow tables) that hold
    their texts in the ``text_key`` column. Subclasses read other kinds of rows and use
    :meth:`annotate` for the texts."""

    def __init__(self, settings: RunSettings) -> None:
        import spacy
        import torch

        torch.set_num_threads(settings.threads)  # workers share the machine's cores
        if settings.use_gpu:
            spacy.require_gpu()
        self.settings = settings
        self.pipeline = load_pipeline(settings.model, settings.options)
        # the annotation columns this actor writes: entities, and each other one from the first
        # batch where the pipeline wrote it on (so that a batch with no text has it too)
        self.columns = [ENTITIES]

    def annotate(self, texts: Sequence[str]) -> List[Dict[str, Any]]:
        """What each text's record gains (:meth:`loading.Pipeline.annotations`), in order."""
        pipeline = self.pipeline
        docs = pipeline.pipe(((text, i) for i, text in enumerate(texts)), batch_size=pipeline.component.batch_size * 4)
        return [pipeline.annotations(doc) for doc, _ in docs]

    def __call__(self, batch: "pyarrow.Table") -> "pyarrow.Table":
        import pyarrow as pa

        check_columns(batch.column_names, "The dataset")
        key = self.settings.text_key
        texts = batch.column(key).to_pylist() if key in batch.column_names else [None] * batch.num_rows
        found: List[Dict[str, Any]] = [{} for _ in texts]
        errors = [None if isinstance(text, str) else missing_text(text, key, "record") for text in texts]
        good = [i for i, text in enumerate(texts) if isinstance(text, str)]
        for i, annotations in zip(good, self.annotate([texts[i] for i in good])):
            found[i] = annotations
        self.columns = [name for name in ANNOTATIONS if name in self.columns or any(name in f for f in found)]
        for name in self.columns:
            if name in batch.column_names:  # replaced, as the one-process path replaces it
                batch = batch.drop_columns([name])
            batch = batch.append_column(name, pa.array([f.get(name) for f in found], type=arrow_type(name)))
        return batch.append_column(ERROR, pa.array(errors, type=pa.string()))


def annotate(
    dataset: "ray.data.Dataset",
    model: Union[str, Path],
    *,
    labels: Optional[Labels] = None,
    threshold: Optional[Threshold] = None,
    nested: Optional[bool] = None,
    text_key: str = "text",
    batch_size: Optional[int] = None,
    propagate: Optional[str] = None,
    relations: Optional[Labels] = None,
    relation_threshold: Optional[float] = None,
    classes: Optional[Classes] = None,
    records_per_task: int = 64,
    workers: int = 1,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    annotator: Type[Annotator] = Annotator,
) -> "ray.data.Dataset":
    """``dataset`` with ``entities`` (and ``relations``, ``cats`` where the pipeline writes
    them) and :data:`ERROR` columns, annotated by ``workers`` actors.

    model: a saved spaCy pipeline folder or a GLiNER checkpoint (folder or Hub id), loaded
    once per worker. labels, threshold, nested, batch_size, propagate, relations,
    relation_threshold, classes: as for the component (None: the component's), checked here
    (:class:`loading.RunOptions`), before any worker starts. Each
    worker uses ``cpus_per_worker`` torch threads; with
    ``gpus_per_worker`` it runs on a GPU (``spacy.require_gpu`` inside the actor).
    Records keep their input order (the dataset's ``preserve_order`` is turned on).
    annotator: the actor class (a subclass of :class:`Annotator` for other kinds of rows).
    """
    options = RunOptions(  # checked here, before any worker starts
        labels=labels, threshold=threshold, nested=nested, batch_size=batch_size, propagate=propagate,
        relations=relations, relation_threshold=relation_threshold, classes=classes,
    )  # fmt: skip
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    ray = require_ray()
    settings = RunSettings(
        str(model), options, text_key, use_gpu=gpus_per_worker > 0, threads=max(1, int(cpus_per_worker))
    )
    dataset.context.execution_options.preserve_order = True  # copied into the mapped dataset
    return dataset.map_batches(
        annotator,
        fn_constructor_args=(settings,),
        batch_size=records_per_task,
        batch_format="pyarrow",
        # Ray Data's actors restart when their process dies, and the batch in flight runs
        # again (max_restarts = max_task_retries = -1 by default): nothing lost or doubled.
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker,
    )


def input_files(path: Path) -> Tuple[str, List[Path]]:
    """("json" or "parquet", the files to read): a file, or the files of a folder (sorted,
    sub-folders too) with one of those suffixes."""
    files = [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [path]
    formats = {INPUT_SUFFIXES.get(p.suffix.lower()) for p in files} - {None}
    if len(formats) != 1:
        raise ValueError(
            f"{path}: give a .jsonl or .parquet file, or a folder holding one of those kinds (found: "
            f"{', '.join(sorted({p.suffix or '(none)' for p in files})) or 'nothing'})."
        )
    kind = formats.pop()
    return kind, [p for p in files if INPUT_SUFFIXES.get(p.suffix.lower()) == kind]


def read(kind: str, files: Sequence[Path]) -> "ray.data.Dataset":
    """The records of Parquet files, or the lines of JSON lines files (columns :data:`LINE`:
    the line's bytes, :data:`FILE`: the file as given, :data:`NUMBER`: 1-based), in order."""
    ray = require_ray()
    paths = [os.path.abspath(p) for p in files]
    if kind == "parquet":
        _settle_http_filesystem()
        return ray.data.read_parquet(paths)
    from ray.data.datasource import FileBasedDatasource

    names = {path: str(file) for path, file in zip(paths, files)}

    class JsonLines(FileBasedDatasource):  # defined here: ray is imported only when used
        def _read_stream(self, f: "pyarrow.NativeFile", path: str) -> Iterator["pyarrow.Table"]:
            return line_blocks(f, names.get(path, path))

    return ray.data.read_datasource(JsonLines(paths))


def _settle_http_filesystem() -> None:
    """Ray Data lists Parquet files in several threads, each importing fsspec's HTTP filesystem
    to ask whether it is one. Without ``aiohttp`` that import fails, and a thread that meets
    another's half-done import gets an ImportError Ray does not catch (it catches
    ModuleNotFoundError): a folder of Parquet files failed at random. Tried once here; where it
    fails, it is marked missing (None in ``sys.modules``), so that every later import raises
    ModuleNotFoundError at once."""
    name = "fsspec.implementations.http"
    try:
        importlib.import_module(name)
    except ImportError:
        sys.modules[name] = None  # type: ignore[assignment]


def line_blocks(stream: Any, name: str) -> Iterator["pyarrow.Table"]:
    """The lines of a binary stream (split at ``\\n`` only, as Python reads a file's lines),
    as tables of :data:`LINES_PER_BLOCK` rows; memory holds one block and one line."""
    import pyarrow as pa

    def block(lines: List[bytes], first: int) -> "pyarrow.Table":
        numbers = pa.array(range(first, first + len(lines)), type=pa.int64())
        return pa.table(
            {
                LINE: pa.array(lines, type=pa.binary()),
                FILE: pa.array([name] * len(lines), type=pa.string()),
                NUMBER: numbers,
            }
        )

    lines: List[bytes] = []
    first = 1
    pieces: List[bytes] = []  # the line being read, in pieces (a line may be longer than a chunk)
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        *ends, rest = chunk.split(b"\n")
        for end in ends:
            lines.append(b"".join(pieces) + end + b"\n")
            pieces = []
        if rest:
            pieces.append(rest)
        if len(lines) >= LINES_PER_BLOCK:
            yield block(lines, first)
            first += len(lines)
            lines = []
    if pieces:
        lines.append(b"".join(pieces))
    if lines:
        yield block(lines, first)


def connect(
    address: Optional[str] = None, workers: int = 1, *, timeout: float = CONNECT_SECONDS, verbose: bool = False
) -> str:
    """Join the cluster at ``address`` ("auto": any cluster running on this machine;
    "HOST:PORT"; "ray://HOST:PORT"), or start a local one; says which (a line for the user).

    A cluster that does not answer within ``timeout`` seconds raises :class:`ClusterError`
    (Ray itself retries for many minutes). A local cluster gets a CPU slot per worker and
    one more (at least the machine's cores): Ray Data's read tasks need a slot of their
    own, and workers that hold every slot would wait for reads for ever. Unless
    ``verbose``, Ray's log messages stay out of the terminal (they are in Ray's log files).
    """
    ray = require_ray()
    if not verbose:
        _quiet_ray_data(ray)
    if ray.is_initialized():
        return _describe(ray, "Using the Ray cluster this process had joined")
    level = logging.INFO if verbose else logging.ERROR
    if not address:
        # (the dashboard process stays: without it Ray Data sees no resources and waits)
        ray.init(
            address="local", num_cpus=max(os.cpu_count() or 1, workers + 1), log_to_driver=verbose, logging_level=level
        )
        return _describe(ray, "Started a local Ray cluster for this run")
    _probe(address, timeout)
    outcome: Dict[str, BaseException] = {}

    def join() -> None:
        try:
            ray.init(address=address, log_to_driver=verbose, logging_level=level)
        except BaseException as err:  # handed to the caller's thread
            outcome["error"] = err

    thread = threading.Thread(target=join, name="ray.init", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ClusterError(
            f"The Ray cluster at {address} did not answer within {timeout:.0f} s. Check that it runs (ray status) and"
            " that this is its address."
        )
    if "error" in outcome:
        err = outcome["error"]
        if address == "auto" and isinstance(err, ConnectionError):
            raise ClusterError(
                "Address 'auto' found no Ray cluster running on this machine: start one (ray start --head), "
                "give a cluster's address, or none to start a local cluster for this run."
            ) from err
        raise ClusterError(
            f"Cannot join the Ray cluster at {address}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from err
    return _describe(ray, f"Joined the Ray cluster at {_address(ray, address)}")


def _probe(address: str, timeout: float) -> None:
    """Refuse a HOST:PORT nothing listens on, at once (Ray would retry for many minutes)."""
    host, colon, port = address.split("://", 1)[-1].rpartition(":")
    if not colon or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise ClusterError(
            f"Cannot reach a Ray cluster at {address} ({err.strerror or err}). Check the address (the head node's "
            "HOST:PORT, 6379 by default; ray://HOST:10001 for Ray Client), or give none to start a local cluster."
        ) from err


def _address(ray: Any, given: str) -> str:
    try:
        return ray.get_runtime_context().gcs_address or given
    except Exception:  # Ray Client has no GCS address of its own
        return given


def _describe(ray: Any, what: str) -> str:
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    gpus = int(resources.get("GPU", 0))
    size = f"{nodes} node{'s' if nodes != 1 else ''}, {int(resources.get('CPU', 0))} CPUs" + (
        f", {gpus} GPUs" if gpus else ""
    )
    return f"{what} ({size})."


def _quiet_ray_data(ray: Any) -> None:
    """Ray Data's console messages and progress bars off (its log file keeps them)."""
    ray.data.DataContext.get_current().enable_progress_bars = False
    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.ERROR)


def records(dataset: "ray.data.Dataset", batch_rows: int = 256) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(position, record) pairs, in the dataset's order, streamed to the driver; a record's
    classes (``cats``, an Arrow map) as the {choice: score} dict the one-process path writes."""
    position = 0
    for batch in dataset.iter_batches(batch_size=batch_rows, batch_format="pyarrow"):
        cats = CATS in batch.column_names and batch.schema.field(CATS).type == arrow_type(CATS)
        for record in batch.to_pylist():
            if cats and record[CATS] is not None:
                record[CATS] = dict(record[CATS])
            yield position, record
            position += 1
