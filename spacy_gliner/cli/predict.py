"""``spacy-gliner predict``, in the order it runs: :func:`check` refuses what it can before
anything loads; :func:`run_locally` or :func:`run_with_ray` annotate the records and write
them through one :class:`outputs.Output`, with a progress bar; :func:`stopping` ends a run
that fails midway with its exit code and what became of the output; :func:`summary` says
what was done.
"""

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import typer
from wasabi import table

from ..loading import Pipeline, RunOptions
from ..records import CATS, ENTITIES, RELATIONS
from ..render import highlight
from .inputs import InputError, RecordError, count_records, iter_records, source_path
from .messages import PRINTER, fail, note, os_error
from .options import Engine, OnError, check_labels_given, run_options
from .outputs import Format, Output, check_outputs, output_format


@dataclass
class Plan:
    """A predict run with everything checked that can be before anything loads."""

    source: str
    as_text: bool
    output: Optional[Path]
    format: Format
    options: RunOptions
    text_key: str
    on_error: OnError
    total: Optional[int]  # records, for the progress bar
    corpus: Any = None  # --engine ray: the distributed.Corpus to read


@dataclass
class Counts:
    records: int = 0
    entities: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.perf_counter)


def check(
    source: str,
    as_text: bool,
    output: Optional[Path],
    engine: Engine,
    model: str,
    labels: List[str],
    threshold: Optional[str],
    nested: Optional[bool],
    batch_size: Optional[int],
    text_key: str,
    on_error: OnError,
    propagate: Optional[str] = None,
    relations: Optional[List[str]] = None,
    relation_threshold: Optional[float] = None,
    classes: Optional[List[str]] = None,
) -> Plan:
    """Every check that needs no model, the input's first: the source, the output and its
    format, the options; for ``--engine ray``, Ray itself and the corpus (its files, and the
    Parquet schema of every record). A problem ends the command with its message."""
    try:
        path = source_path(source, as_text)
        check_outputs([output], source, is_text=as_text)
        chosen = output_format(output, engine)
        options = run_options(labels, threshold, nested, batch_size, propagate, relations, relation_threshold, classes)
        check_labels_given(model, options)
        if engine is Engine.local:
            return Plan(source, as_text, output, chosen, options, text_key, on_error, count_records(source, as_text))
        if as_text or path is None:
            raise InputError("--engine ray reads files and folders (.jsonl, .parquet), not a text or standard input.")
        if output is None:
            raise InputError("--engine ray writes a file: give --output out.jsonl or out.parquet.")
        from .. import scale
        from . import distributed

        scale.require_ray()
        found = distributed.corpus(path, output, text_key, to_parquet=output.suffix.lower() == ".parquet")
    except (ImportError, ValueError) as err:  # InputError, DistributedError
        fail(str(err))
    return Plan(source, as_text, output, chosen, options, text_key, on_error, found.total, found)


def run_locally(plan: Plan, pipeline: Pipeline, show: bool) -> Counts:
    """Annotate in this process: records read one at a time, written as they come."""
    counts = Counts()
    writer = _open(plan) if plan.output is not None or not show else None

    def items() -> Iterator[Tuple[str, Dict[str, Any]]]:
        for item in iter_records(plan.source, plan.text_key, plan.on_error.value, plan.as_text):
            if isinstance(item, RecordError):
                _skip(counts, str(item))
                continue
            yield item.text, item.data

    with stopping(writer, counts), _progress(plan.total, disable=show or plan.total == 1) as bar:
        for doc, record in pipeline.pipe(items(), batch_size=pipeline.component.batch_size * 4):
            record.update(pipeline.annotations(doc))
            entities = record[ENTITIES]
            if writer is not None:
                writer.add(record, doc)
            if show:
                show_record(doc.text, record)
            _done(counts, len(entities), bar)
        if writer is not None:
            writer.close()
    return counts


def run_with_ray(
    plan: Plan, model: str, *, address: Optional[str], workers: int, gpus_per_worker: float, verbose: bool
) -> Counts:
    """Annotate with Ray workers (:mod:`.distributed`), records written in input order."""
    from . import distributed

    counts = Counts()
    writer = _open(plan)

    def say(kind: str, text: str) -> None:
        _above_bar(getattr(PRINTER, kind)(text))

    with stopping(writer, counts), distributed.annotated(
        plan.corpus, model, plan.options, text_key=plan.text_key, address=address, workers=workers,
        gpus_per_worker=gpus_per_worker, verbose=verbose, say=say,
    ) as results:  # fmt: skip
        with _progress(plan.total) as bar:  # made here: Ray's quiet mode has its own standard error
            for record, found, error in results:
                if error is not None:
                    if plan.on_error is OnError.fail:
                        raise RecordError(error)
                    _skip(counts, error)
                    bar.update(1)
                    continue
                writer.add(record)
                _done(counts, found, bar)
        writer.close()
    return counts


def _open(plan: Plan) -> Output:
    schema = plan.corpus.schema if plan.corpus is not None else None
    return plan.format.writer(plan.output, text_key=plan.text_key, schema=schema)


@contextlib.contextmanager
def stopping(writer: Optional[Output], counts: Counts) -> Iterator[None]:
    """A failure midway ends the command in one line with its exit code (1; 130 for Ctrl-C;
    a closed standard output is left to ``messages.guarded``), saying what had been written
    and keeping no partial file."""
    try:
        yield
    except BaseException as err:
        stop = writer.stop(counts.records) if writer is not None else ""
        if isinstance(err, KeyboardInterrupt):
            note("fail", f"Interrupted. {stop}")
            raise typer.Exit(130) from None
        if isinstance(err, RecordError):
            fail(f"{err}. Fix it, or pass --on-error skip to skip such records. {stop}")
        if isinstance(err, ValueError):  # InputError, DistributedError, ClusterError, labels the model cannot read
            fail(f"{err} {stop}")
        if isinstance(err, BrokenPipeError):  # standard output closed (| head): stop quietly
            raise
        if isinstance(err, OSError):
            fail(f"{os_error(err)} {stop}")
        if stop:
            note("fail", stop)
        raise


def summary(counts: Counts, output: Optional[Path]) -> None:
    seconds = time.perf_counter() - counts.started
    where = f" -> {output}" if output else ""
    note(
        "good",
        f"{counts.records} docs, {counts.entities} entities in {seconds:.1f}s"
        f" ({counts.records / max(seconds, 1e-9):.1f} docs/s){where}",
    )
    if counts.skipped:
        note("warn", f"{counts.skipped} record(s) skipped: they could not be used (listed above).")


def show_record(text: str, record: Dict[str, Any]) -> None:
    """A document on the terminal, each entity in its label's colour, and a table of them; then
    tables of its relations and classes where the record has them (relex and GLiNER2 models)."""
    entities = record[ENTITIES]
    print(highlight(text, entities))
    if entities:
        rows = [(e["text"], e["label"], f"{e['score']:.2f}", e["start"], e["end"]) for e in entities]
        print(
            table(
                rows, header=("text", "label", "score", "start", "end"), divider=True, aligns=("l", "l", "r", "r", "r")
            )
        )
    else:
        print("(no entities)")
    if record.get(RELATIONS):
        rows = [(r["head"]["text"], r["label"], r["tail"]["text"], f"{r['score']:.2f}") for r in record[RELATIONS]]
        print(table(rows, header=("head", "relation", "tail", "score"), divider=True, aligns=("l", "l", "l", "r")))
    if record.get(CATS):
        rows = [(choice, f"{score:.2f}") for choice, score in record[CATS].items()]
        print(table(rows, header=("class", "score"), divider=True, aligns=("l", "r")))
    print()


def _progress(total: Optional[int], disable: bool = False) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="doc", file=sys.stderr, delay=2.0, disable=disable, dynamic_ncols=True)


def _above_bar(line: str) -> None:
    """A message on standard error, clear of the progress bar."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _skip(counts: Counts, why: str) -> None:
    counts.skipped += 1
    _above_bar(PRINTER.warn(f"Skipped {why}"))


def _done(counts: Counts, entities: int, bar: Any) -> None:
    counts.records += 1
    counts.entities += entities
    bar.update(1)
