"""``spacy-gliner predict --engine ray``: the same records as the single-process path,
annotated by Ray workers (see ``spacy_gliner.scale``), streamed to one output file in
input order."""
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .io import AtomicOutput, dumps, read_labels


class DistributedError(ValueError):
    """A distributed run that cannot start or finish, with what to do."""


def run(
    source: Path,
    output: Path,
    *,
    model: str,
    labels: List[str],
    threshold: Optional[float],
    nested: Optional[bool],
    batch_size: Optional[int],
    text_key: str,
    on_error: str,
    address: Optional[str],
    workers: int,
    gpus_per_worker: float,
) -> Dict[str, Any]:
    """Annotate ``source`` (JSONL or Parquet, file or folder) into ``output`` (.jsonl or
    .parquet); returns counts. A record that cannot be annotated stops the run
    (``on_error="fail"``) or is left out and reported with its position (``"skip"``)."""
    from .. import scale

    if output.suffix.lower() not in (".jsonl", ".parquet"):
        raise DistributedError(f"--output {output}: with --engine ray, write .jsonl or .parquet.")
    if not source.exists():
        raise DistributedError(f"{source} not found: --engine ray reads a .jsonl or .parquet file, or a folder of them.")
    scale.input_format(source)  # a clear error before any cluster starts
    chosen = read_labels(labels) if labels else None
    started = time.perf_counter()
    scale.connect(address, workers)
    dataset = scale.annotate(
        scale.read(source), model, labels=chosen, threshold=threshold, nested=nested, text_key=text_key,
        batch_size=batch_size, workers=workers, gpus_per_worker=gpus_per_worker,
    )  # fmt: skip
    counts = {"records": 0, "entities": 0, "skipped": 0}
    writer = _JsonlOut(output) if output.suffix.lower() == ".jsonl" else _ParquetOut(output)
    try:
        for position, record in scale.records(dataset):
            error = record.pop(scale.ERROR, None)
            if error is not None:
                where = f"record {position + 1}" + (f" (id {record['id']!r})" if "id" in record else "")
                if on_error == "fail":
                    raise DistributedError(f"{source}, {where}: {error}. Fix it, or pass --on-error skip to skip such records.")
                counts["skipped"] += 1
                print(f"Skipped {source}, {where}: {error}", file=sys.stderr)
                continue
            writer.add(record)
            counts["records"] += 1
            counts["entities"] += len(record[scale.ENTITIES])
    except BaseException:
        writer.abort()
        raise
    writer.close()
    counts["seconds"] = time.perf_counter() - started
    return counts


class _JsonlOut:
    """Records as JSON lines; the file appears only when the run succeeded."""

    def __init__(self, path: Path) -> None:
        self.out = AtomicOutput(path)

    def add(self, record: Dict[str, Any]) -> None:
        self.out.file.write((dumps(record) + "\n").encode("utf8", "surrogatepass"))  # as the one-process path writes

    def close(self) -> None:
        self.out.commit()

    def abort(self) -> None:
        self.out.discard()


class _ParquetOut:
    """Records into one Parquet file, a row group per 1,024 records; the file appears only
    when the run succeeded."""

    def __init__(self, path: Path) -> None:
        self.out = AtomicOutput(path)
        self.rows: List[Dict[str, Any]] = []
        self.writer: Any = None

    def add(self, record: Dict[str, Any]) -> None:
        self.rows.append(record)
        if len(self.rows) >= 1024:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows:
            return
        table = pa.Table.from_pylist(self.rows, schema=self.writer.schema if self.writer else None)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.out.file, table.schema)
        self.writer.write_table(table)
        self.rows = []

    def close(self) -> None:
        self._flush()
        if self.writer is None:  # no record: a Parquet file with no columns
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self.out.file)
        else:
            self.writer.close()
        self.out.commit()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.out.discard()
