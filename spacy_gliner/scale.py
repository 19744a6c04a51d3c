"""Annotating corpora larger than one machine, on Ray Data (``pip install "spacy-gliner[ray]"``).

Ray does the scheduling, the data movement and the fault tolerance: each worker is a Ray
actor that loads the pipeline once and annotates batches of records (``map_batches``);
a worker that dies is restarted and its batch run again. The records keep all their
columns; an ``entities`` column is added, holding what ``spacy-gliner predict`` writes
(character offsets, text, label, score) because both use :class:`loading.Pipeline`, and
an ``error`` column saying why a record could not be annotated (null otherwise).
Records come out in input order, so a record's position is its position in the input.
"""
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple, Union

from .component import Labels

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow
    import ray.data

ENTITIES = "entities"
ERROR = "error"
INPUT_SUFFIXES = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def require_ray() -> Any:
    """The ``ray`` module, or an ImportError saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data comes with the "data" extra)
    except ImportError as err:
        raise ImportError(f'Ray Data is needed for --engine ray ({err}): pip install "spacy-gliner[ray]"') from err
    return ray


def entity_type() -> "pyarrow.DataType":
    """The Arrow type of the ``entities`` column: a list of (start, end, text, label, score)."""
    import pyarrow as pa

    fields = [("start", pa.int64()), ("end", pa.int64()), ("text", pa.string()), ("label", pa.string()), ("score", pa.float64())]
    return pa.list_(pa.struct(fields))


@dataclass
class RunSettings:
    """What every worker needs to build the same pipeline as ``spacy-gliner predict``."""

    model: str
    labels: Optional[Labels] = None
    threshold: Optional[float] = None
    nested: Optional[bool] = None
    batch_size: Optional[int] = None
    text_key: str = "text"
    use_gpu: bool = False
    threads: int = 1


class Annotator:
    """A Ray actor: loads the pipeline once, then annotates batches (Arrow tables)."""

    def __init__(self, settings: RunSettings) -> None:
        import spacy
        import torch

        from .loading import open_pipeline

        torch.set_num_threads(settings.threads)  # workers share the machine's cores
        if settings.use_gpu:
            spacy.require_gpu()
        self.settings = settings
        self.pipeline = open_pipeline(settings.model, settings.labels, settings.threshold, settings.nested, settings.batch_size)

    def __call__(self, batch: "pyarrow.Table") -> "pyarrow.Table":
        import pyarrow as pa

        from .cli.io import missing_text

        key = self.settings.text_key
        texts = batch.column(key).to_pylist() if key in batch.column_names else [None] * batch.num_rows
        entities: List[Optional[list]] = [None] * len(texts)
        errors: List[Optional[str]] = [None] * len(texts)
        good = [i for i, text in enumerate(texts) if isinstance(text, str)]
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                errors[i] = missing_text(text, key, "record")
        pipeline = self.pipeline
        docs = pipeline.pipe(((texts[i], i) for i in good), batch_size=pipeline.component.batch_size * 4)
        for doc, i in docs:
            entities[i] = pipeline.entities(doc)
        for name in (ENTITIES, ERROR):
            if name in batch.column_names:
                batch = batch.drop_columns([name])
        batch = batch.append_column(ENTITIES, pa.array(entities, type=entity_type()))
        return batch.append_column(ERROR, pa.array(errors, type=pa.string()))


def annotate(
    dataset: "ray.data.Dataset",
    model: Union[str, Path],
    *,
    labels: Optional[Labels] = None,
    threshold: Optional[float] = None,
    nested: Optional[bool] = None,
    text_key: str = "text",
    batch_size: Optional[int] = None,
    records_per_task: int = 64,
    workers: int = 1,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
) -> "ray.data.Dataset":
    """``dataset`` with ``entities`` and ``error`` columns, annotated by ``workers`` actors.

    model: a saved spaCy pipeline folder or a GLiNER checkpoint (folder or Hub id), loaded
    once per worker. labels, threshold, nested, batch_size: as for the component (None:
    the component's). Each worker uses ``cpus_per_worker`` torch threads; with
    ``gpus_per_worker`` it runs on a GPU (``spacy.require_gpu`` inside the actor).
    Records keep their input order (the dataset's ``preserve_order`` is turned on).
    """
    ray = require_ray()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    settings = RunSettings(
        str(model), labels, threshold, nested, batch_size, text_key, use_gpu=gpus_per_worker > 0, threads=max(1, int(cpus_per_worker))
    )
    dataset.context.execution_options.preserve_order = True  # copied into the mapped dataset
    return dataset.map_batches(
        Annotator,
        fn_constructor_args=(settings,),
        batch_size=records_per_task,
        batch_format="pyarrow",
        # Ray Data's actors restart when their process dies, and the batch in flight runs
        # again (max_restarts = max_task_retries = -1 by default): nothing lost or doubled.
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker,
    )


def input_format(path: Path) -> str:
    """"json" or "parquet", from a file's suffix or the files of a folder."""
    files = [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [path]
    formats = {INPUT_SUFFIXES.get(p.suffix.lower()) for p in files} - {None}
    if len(formats) != 1:
        raise ValueError(
            f"{path}: give a .jsonl or .parquet file, or a folder holding one of those kinds (found: "
            f"{', '.join(sorted({p.suffix or '(none)' for p in files})) or 'nothing'})."
        )
    return formats.pop()


def read(path: Path) -> "ray.data.Dataset":
    """Records of a JSONL or Parquet file, or of a folder of them, with Ray's readers."""
    ray = require_ray()
    if input_format(path) == "parquet":
        return ray.data.read_parquet(str(path))
    return ray.data.read_json(str(path), lines=True)


def connect(address: Optional[str], workers: int = 1) -> None:
    """Join the cluster at ``address`` ("auto", "ray://host:port"), or start a local one.

    A local cluster gets a CPU slot per worker and one more (at least the machine's
    cores): Ray Data's read tasks need a slot of their own, and workers that hold every
    slot would wait for reads for ever."""
    ray = require_ray()
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # (the dashboard process stays: without it Ray Data sees no resources and waits)
        ray.init(num_cpus=max(os.cpu_count() or 1, workers + 1), log_to_driver=False)


def records(dataset: "ray.data.Dataset", batch_rows: int = 256) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(position, record) pairs, in the dataset's order, streamed to the driver."""
    position = 0
    for batch in dataset.iter_batches(batch_size=batch_rows, batch_format="pyarrow"):
        for record in batch.to_pylist():
            yield position, record
            position += 1
