"""The ``spacy-gliner`` command line: predict, render, redact, restore, export and info.

Every command loads its pipeline with :func:`load_pipeline` (a GLiNER checkpoint is put
into a blank English pipeline; a saved spaCy pipeline is used as it is) and reads the
entities from the component's span group at GLiNER's own character offsets (not widened
to tokens), so all commands see the same predictions, characters as the official library's.
Data (JSONL, HTML, redacted text, tables) goes to standard output or ``--output``;
messages and the progress bar go to standard error. A closed pipe on standard output
(``| head``) ends a command quietly with exit code 141, as Unix tools do; any other
failure to read or write ends it with a one-line message and exit code 1.
"""
import functools
import os
import sys
import time
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Tuple

import spacy
import srsly
import typer
from spacy.tokens import Doc, DocBin
from wasabi import Printer, table

from ..architectures import DEFAULT_SOURCE, get_loaded
from ..config import GLiNERConfig, check_labels, check_threshold
from ..loading import Pipeline, export, open_pipeline
from ..markup import KINDS, kind_of
from ..redact import DEFAULT_PLACEHOLDER, RedactionIncomplete, decode_document, describe_left, redact_document, restore_document
from ..render import PREVIEW_COLOR, check_color, highlight, marked_page, parse_colors, render_html
from .io import (
    AtomicOutput,
    InputError,
    RecordError,
    check_outputs,
    count_records,
    dumps,
    is_stream,
    iter_records,
    no_partial_file,
    private_mode,
    read_document,
    read_json,
    read_labels,
    read_source,
    same_file,
    source_path,
    strip_bom,
    write_file,
)

app = typer.Typer(
    name="spacy-gliner",
    help="Zero-shot named entity recognition with GLiNER models in spaCy.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
_printer = Printer(no_print=True)

# -- shared option help -------------------------------------------------------
MODEL_HELP = (
    "GLiNER checkpoint (a local folder, or a Hugging Face Hub id such as urchade/gliner_small-v2.1) "
    "or a saved spaCy pipeline folder with a gliner component."
)
LABELS_HELP = (
    "Entity types to find, in plain words: comma-separated (person,organization), repeated, or a file "
    "(.txt: one a line; .json: a list, or an object {label: description}: the label written on each entity, "
    "the text the model reads). "
    "Default for a saved pipeline: its component's labels."
)
THRESHOLD_HELP = f"Keep spans scoring above this probability (0 to 1). Default: the component's ({GLiNERConfig.threshold} for a checkpoint)."
NESTED_HELP = "--nested: overlapping entities (doc.spans); --flat: non-overlapping (doc.ents). Default: the component's (flat for a checkpoint)."
BATCH_HELP = "Texts (and windows of long texts) encoded together in one forward pass. Default: the component's (8)."
GPU_HELP = "GPU to run on (spacy.require_gpu; needs CuPy), or -1 for the CPU."
SOURCE_HELP = "The document: a file, a text (quoted; one word or a file-like name needs --text), or - to read standard input."
TEXT_HELP = "SOURCE is the text itself, never a file name (needed for a one-word text, or one shaped like a file name)."


# -- messages -------------------------------------------------------------------
def note(kind: str, text: str) -> None:
    """A wasabi message (good, info, warn, fail) on standard error."""
    print(getattr(_printer, kind)(text), file=sys.stderr)


def fail(text: str) -> NoReturn:
    note("fail", text)
    raise typer.Exit(1)


def os_error(err: OSError) -> str:
    """An OSError in one line: the reason, and the file when there is one."""
    return f"{err.strerror or err}: {err.filename}." if err.filename else f"{err.strerror or err} (standard input or output)."


def _release_stdout() -> None:
    """After a failed write: flush what standard output holds, or point it at /dev/null so
    that the interpreter's own last flush does not fail again with a traceback."""
    try:
        sys.stdout.flush()
    except OSError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # not a real file (a test runner's capture)
            pass


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """A command whose reading and writing errors end it in one line: a closed pipe quietly
    (exit 141, 128 + SIGPIPE, nothing more written), any other OSError with its reason."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
            sys.stdout.flush()
        except BrokenPipeError:
            _release_stdout()
            raise typer.Exit(141) from None
        except OSError as err:
            _release_stdout()
            fail(os_error(err))

    return run


# -- pipeline -------------------------------------------------------------------
def use_gpu(gpu_id: int) -> None:
    if gpu_id < 0:
        return
    try:
        spacy.require_gpu(gpu_id)
    except Exception as err:  # thinc raises ValueError without CuPy, CUDA errors otherwise
        fail(
            f"Cannot use GPU {gpu_id} ({err}). spaCy runs on GPUs through CuPy: install it "
            "(pip install 'spacy[cuda12x]', matching your CUDA version), or run on the CPU with --gpu-id -1."
        )


def load_pipeline(
    model: str,
    labels: List[str],
    threshold: Optional[float] = None,
    nested: Optional[bool] = None,
    batch_size: Optional[int] = None,
    gpu_id: int = -1,
    need_labels: bool = True,
) -> Pipeline:
    """The pipeline of ``model`` with this run's settings; every problem ends the command with a message."""
    try:
        chosen = read_labels(labels) if labels else None
        if chosen:
            check_labels(chosen)  # an invisible label fails here, before the model loads
        if threshold is not None:
            threshold = check_threshold(threshold)
    except (InputError, ValueError) as err:
        fail(str(err))
    if labels and not chosen:
        fail("--labels is empty. Name the entity types to find, e.g. --labels person,organization.")
    use_gpu(gpu_id)
    try:
        pipeline = open_pipeline(model, chosen, threshold, nested, batch_size)
        pipeline.component.word_splitter()  # a splitter whose package is missing fails now, not at the first document
    except (ImportError, ValueError) as err:  # CheckpointError too
        fail(str(err))
    if need_labels and chosen is None and not pipeline.component.labels:
        fail("No labels to look for: name the entity types with --labels, e.g. --labels person,organization.")
    return pipeline


def show_entities(text: str, entities: List[Dict[str, Any]]) -> None:
    print(highlight(text, entities))
    if entities:
        rows = [(e["text"], e["label"], f"{e['score']:.2f}", e["start"], e["end"]) for e in entities]
        print(table(rows, header=("text", "label", "score", "start", "end"), divider=True, aligns=("l", "l", "r", "r", "r")))
    else:
        print("(no entities)")
    print()


# -- outputs -------------------------------------------------------------------
class JsonlWriter:
    """One JSON record a line, written as documents come: to standard output, or to a
    temporary file that becomes ``path`` only when the run succeeds."""

    def __init__(self, path: Optional[Path]) -> None:
        self.out = AtomicOutput(path) if path else None

    def add(self, doc: Doc, record: Dict[str, Any]) -> None:
        line = dumps(record) + "\n"
        if self.out is None:
            sys.stdout.write(line)
        else:
            self.out.file.write(line.encode("utf8", "surrogatepass"))

    def close(self) -> None:
        if self.out is None:
            sys.stdout.flush()
        else:
            self.out.commit()

    def discard(self, written: int) -> str:
        """After a failure: what was written, and what became of it."""
        if self.out is None:
            return f"{written} records were written to standard output before the stop."
        return f"{written} records were written before the stop; {self.out.discard()}."


class DocBinWriter:
    """Annotated docs in a DocBin (.spacy), written at the end; a record's other keys go to
    ``doc.user_data["meta"]``."""

    def __init__(self, path: Path, text_key: str) -> None:
        self.path = path
        self.text_key = text_key
        self.docbin = DocBin(store_user_data=True)

    def add(self, doc: Doc, record: Dict[str, Any]) -> None:
        meta = {k: v for k, v in record.items() if k not in (self.text_key, "entities")}
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

    def discard(self, written: int) -> str:
        return f"{written} records were annotated before the stop; {no_partial_file(self.path, self.path.exists())}."


class OnError(str, Enum):
    skip = "skip"
    fail = "fail"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


def _predict_with_ray(source: str, output: Optional[Path], **options: Any) -> None:
    from tqdm import tqdm

    from .distributed import run

    if output is None:
        fail("--engine ray writes a file: give --output out.jsonl or out.parquet.")
    try:  # messages clear of the progress bar
        counts = run(Path(source), output, say=lambda kind, text: tqdm.write(getattr(_printer, kind)(text), file=sys.stderr), **options)
    except (ImportError, ValueError) as err:  # DistributedError, ClusterError, InputError, CheckpointError
        fail(str(err))
    except KeyboardInterrupt:
        note("fail", f"Interrupted. {no_partial_file(output, output.exists())}.")
        raise typer.Exit(130) from None
    rate = counts["records"] / max(counts["seconds"], 1e-9)
    note("good", f"{counts['records']} docs, {counts['entities']} entities in {counts['seconds']:.1f}s ({rate:.1f} docs/s) -> {output}")
    if counts["skipped"]:
        note("warn", f"{counts['skipped']} record(s) skipped: they could not be annotated (listed above).")


def _writer(output: Optional[Path], text_key: str, show: bool) -> Optional[Any]:
    if output is None:
        return None if show else JsonlWriter(None)
    suffix = output.suffix.lower()
    if suffix == ".spacy":
        return DocBinWriter(output, text_key)
    if suffix != ".jsonl" and not is_stream(output):  # a pipe or device (/dev/stdout) takes JSONL whatever its name
        fail(f"--output {output}: write .jsonl (one record a line) or .spacy (a DocBin), not {suffix or 'a file without suffix'}.")
    return JsonlWriter(output)


def _write_bytes(data: bytes, output: Optional[Path], mode: Optional[int] = None) -> None:
    """``data`` to ``output`` (whole or not at all, with ``mode`` if given), or to standard output."""
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_file(output, data, mode)


def _check_source(source: str, is_text: bool, *outputs: Optional[Path], inputs: Tuple[Path, ...] = ()) -> Optional[Path]:
    """The file SOURCE names (None: standard input or a text), after refusing, before any
    work, a missing file and outputs that cannot be written or would destroy something."""
    try:
        path = source_path(source, is_text)
        check_outputs(outputs, source, inputs, is_text)
    except InputError as err:
        fail(str(err))
    return path


def _read(read: Callable[[str, bool], Any], source: str, is_text: bool) -> Any:
    try:
        return read(source, is_text)
    except InputError as err:
        fail(str(err))


# -- commands --------------------------------------------------------------------
@app.command("predict")
@guarded
def predict_cli(
    source: str = typer.Argument(
        ...,
        help="What to annotate: a text (quoted), a file (.jsonl: one JSON record a line; any other: one document), "
        "a folder of .txt files, or - for standard input.",
    ),
    labels: List[str] = typer.Option([], "--labels", "-l", help=LABELS_HELP),
    model: str = typer.Option(DEFAULT_SOURCE, "--model", "-m", help=MODEL_HELP),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="File to write: .jsonl (each record with its entities, written as it comes) or .spacy (a DocBin, held in memory until the end); "
        "a pipe or device (/dev/stdout, a FIFO) gets JSONL. Default: JSONL on standard output."
    ),
    text_key: str = typer.Option("text", "--text-key", "-k", help="Key of the text in the JSONL records (in and out)."),
    as_text: bool = typer.Option(False, "--text", help=TEXT_HELP),
    threshold: Optional[float] = typer.Option(None, "--threshold", "-t", help=THRESHOLD_HELP),
    nested: Optional[bool] = typer.Option(None, "--nested/--flat", help=NESTED_HELP),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", min=1, help=BATCH_HELP),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help=GPU_HELP),
    on_error: OnError = typer.Option(
        OnError.fail,
        "--on-error",
        help="A JSONL line that cannot be used (bad JSON, no text): fail the run, or skip it. Skipped lines are "
        "listed on standard error with their line numbers and counted in the summary.",
    ),
    show: bool = typer.Option(
        False, "--show", "-s", help="Print each document with its entities in colour, and a table of them (instead of JSONL on standard output)."
    ),
    engine: Engine = typer.Option(
        Engine.local, "--engine", "-e", help="local: this process. ray: Ray Data workers (pip install \"spacy-gliner[ray]\"), "
        "for corpora in .jsonl or .parquet files or folders of them, written to --output (.jsonl or .parquet) in input order."
    ),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="With --engine ray: the cluster to join (HOST:PORT, ray://HOST:PORT, or auto: any Ray cluster running on this machine; the run says which it joined). Default: start a local one."
    ),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="With --engine ray: worker processes, each loading the model once and using one core."),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0, help="With --engine ray: GPUs for each worker (e.g. 1, or 0.5 to share one)."),
    verbose: bool = typer.Option(False, "--verbose", help="With --engine ray: also show Ray's own log messages (otherwise only in Ray's log files)."),
) -> None:
    """Find entities in texts, files, folders or JSONL corpora; write them as JSONL or a DocBin.

    Each record out is the record in (for texts and files: "text", and "file") plus
    "entities": a list of {"start", "end", "text", "label", "score"}, with GLiNER's own character
    offsets (those of the official predict_entities, not widened to tokens).
    Records are read and written one at a time: memory stays flat on large corpora.
    With --engine ray the same records come from Ray workers (see the README's "Corpora
    bigger than one machine").
    """
    from tqdm import tqdm

    _check_source(source, as_text, output)
    if engine is Engine.ray:
        if as_text:
            fail("--engine ray reads files and folders (.jsonl, .parquet), not a --text.")
        return _predict_with_ray(
            source, output, model=model, labels=labels, threshold=threshold, nested=nested, batch_size=batch_size,
            text_key=text_key, on_error=on_error.value, address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker,
            verbose=verbose,
        )  # fmt: skip
    pipeline = load_pipeline(model, labels, threshold, nested, batch_size, gpu_id)
    writer = _writer(output, text_key, show)
    skipped = 0

    def items() -> Iterator[Tuple[str, Dict[str, Any]]]:
        nonlocal skipped
        for item in iter_records(source, text_key, on_error.value, as_text):
            if isinstance(item, RecordError):
                skipped += 1
                tqdm.write(_printer.warn(f"Skipped {item}"), file=sys.stderr)  # clear of the progress bar
                continue
            yield item.text, item.data

    n_docs = n_ents = 0
    started = time.perf_counter()
    try:
        total = count_records(source, as_text)
        with tqdm(total=total, unit="doc", file=sys.stderr, delay=2.0, disable=show or total == 1, dynamic_ncols=True) as bar:
            for doc, record in pipeline.pipe(items(), batch_size=pipeline.component.batch_size * 4):
                ents = pipeline.entities(doc)
                record["entities"] = ents
                if writer is not None:
                    writer.add(doc, record)
                if show:
                    show_entities(doc.text, ents)
                n_docs += 1
                n_ents += len(ents)
                bar.update(1)
        if writer is not None:
            writer.close()
    except BaseException as err:  # Ctrl-C too: say what was written, keep no partial file
        stop = writer.discard(n_docs) if writer is not None else ""
        if isinstance(err, KeyboardInterrupt):
            note("fail", f"Interrupted. {stop}")
            raise typer.Exit(130) from None
        if isinstance(err, RecordError):
            fail(f"{err}. Fix it, or pass --on-error skip to skip such records. {stop}")
        if isinstance(err, ValueError):  # InputError, and labels the model cannot read
            fail(f"{err} {stop}")
        if isinstance(err, BrokenPipeError):  # standard output closed (| head): stop quietly
            raise
        if isinstance(err, OSError):
            fail(f"{os_error(err)} {stop}")
        if stop:
            note("fail", stop)
        raise
    seconds = time.perf_counter() - started
    where = f" -> {output}" if output else ""
    note("good", f"{n_docs} docs, {n_ents} entities in {seconds:.1f}s ({n_docs / max(seconds, 1e-9):.1f} docs/s){where}")
    if skipped:
        note("warn", f"{skipped} record(s) skipped: they could not be read (listed above).")


@app.command("render")
@guarded
def render_cli(
    source: str = typer.Argument(..., help=SOURCE_HELP),
    as_text: bool = typer.Option(False, "--text", help=TEXT_HELP),
    labels: List[str] = typer.Option([], "--labels", "-l", help=LABELS_HELP),
    model: str = typer.Option(DEFAULT_SOURCE, "--model", "-m", help=MODEL_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file to write. Default: standard output."),
    colors: List[str] = typer.Option(
        [],
        "--color",
        "-c",
        help="Colour of a label as LABEL=COLOUR, a CSS colour name or hex code (person=red, date=#ffcc00); "
        "repeat or separate with commas. Other labels get a colour derived from their name, the same on every run.",
    ),
    threshold: Optional[float] = typer.Option(None, "--threshold", "-t", help=THRESHOLD_HELP),
    nested: Optional[bool] = typer.Option(None, "--nested/--flat", help=NESTED_HELP + " Nested entities are drawn in displaCy's span style."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help=GPU_HELP),
) -> None:
    """Show a document's entities on a self-contained HTML page (displaCy), one colour per label."""
    try:
        overrides = parse_colors(colors)
    except ValueError as err:
        fail(str(err))
    _check_source(source, as_text, output)
    text = strip_bom(_read(read_document, source, as_text))[1]
    pipeline = load_pipeline(model, labels, threshold, nested, gpu_id=gpu_id)
    doc = pipeline(text)
    try:
        html = render_html(doc, pipeline.component.spans_key, pipeline.component.nested, overrides)
        found = Counter(e["label"] for e in pipeline.entities(doc))
    except ValueError as err:  # a span group that a later component invalidated (merge_entities)
        fail(str(err))
    _write_bytes(html.encode("utf8"), output)
    note("good", f"{sum(found.values())} entities ({_counts(found)}){f' -> {output}' if output else ''}")


AUTO = "auto"
Kind = Enum("Kind", {name: name for name in (AUTO, *KINDS)}, type=str)  # --format: markup.KINDS, or by the suffix


@app.command("redact")
@guarded
def redact_cli(
    source: str = typer.Argument(..., help=SOURCE_HELP),
    as_text: bool = typer.Option(False, "--text", help=TEXT_HELP),
    labels: List[str] = typer.Option([], "--labels", "-l", help=LABELS_HELP + " Every entity of these labels is replaced."),
    model: str = typer.Option(DEFAULT_SOURCE, "--model", "-m", help=MODEL_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write the redacted document to. Default: standard output."),
    placeholder: str = typer.Option(
        DEFAULT_PLACEHOLDER,
        "--placeholder",
        "-p",
        help="What replaces each entity: this text; 'label' for its label in capitals ([PERSON]); or 'numbered' "
        "([PERSON_1], [PERSON_2]...: the same name always gets the same number within the document; numbers "
        "whose placeholder the document already holds are skipped).",
    ),
    mapping: Optional[Path] = typer.Option(
        None, "--mapping", help="Also write a JSON file of what replaced what (offsets, original text, placeholder), for `spacy-gliner restore`. "
        "It holds the originals: it is created readable by you only (0600, or the input's mode if stricter).",
    ),
    preview: Optional[Path] = typer.Option(
        None, "--preview", help="Also write an HTML page of the original document with the characters to be replaced marked, to check them "
        "(it holds the originals: created readable by you only, like --mapping).",
    ),
    preview_color: str = typer.Option(PREVIEW_COLOR, "--preview-color", help="Colour of the marks on the preview page: a CSS colour name or hex code."),
    kind: Kind = typer.Option(
        AUTO, "--format", "-f", help="What is markup in the document. auto: by the file's suffix (.html/.htm: html; .xml/.xhtml/.svg: xml; "
        ".md/.markdown: markdown; anything else, standard input and texts: text, which has no markup).",
    ),
    inside_tags: bool = typer.Option(
        False, "--inside-tags", help="Also replace entities in markup content: tag and attribute names, attribute values (alt=...), comments, "
        "<script>/<style> code. Without it such entities are left, and the command refuses to write the output unless --allow-skipped.",
    ),
    allow_skipped: bool = typer.Option(
        False, "--allow-skipped", help="Write the output even though entities found inside markup are left in it (they are counted on standard error)."
    ),
    threshold: Optional[float] = typer.Option(None, "--threshold", "-t", help=THRESHOLD_HELP),
    nested: Optional[bool] = typer.Option(None, "--nested/--flat", help=NESTED_HELP),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help=GPU_HELP),
) -> None:
    """Replace entities in a document by a placeholder, keeping every other byte as it is.

    Entities are replaced at GLiNER's own characters. Line ends (\\r\\n too), a byte order
    mark, Markdown, tables and HTML tags stay exact: an entity across lines or tags is
    replaced run by run, its line breaks and tags kept. An entity found that would stay in
    the output (inside markup) stops the command (exit 1) unless --inside-tags or
    --allow-skipped. Documents of any length are read whole.
    """
    path = _check_source(source, as_text, output, preview, mapping)
    try:
        preview_color = check_color(preview_color, "--preview-color: ")
    except ValueError as err:
        fail(str(err))
    kind_name = kind_of(str(path) if path is not None and path.is_file() else None) if kind.value == AUTO else kind.value
    data = _read(read_source, source, as_text)
    pipeline = load_pipeline(model, labels, threshold, nested, gpu_id=gpu_id)
    try:
        redaction = redact_document(data, lambda text: pipeline.entities(pipeline(text)), placeholder, inside_tags, kind_name, allow_skipped)
    except RedactionIncomplete as err:
        fail(f"Nothing was written: {err} (The document was read as {kind_name}; see --format.)")
    except ValueError as err:
        fail(str(err))
    replaced = redaction.replacements
    private = private_mode(*([path] if path is not None else []))
    if preview is not None:
        text, _ = decode_document(redaction.original)
        ranges = [(a, b, r.label) for r in replaced for a, b in r.pieces]
        page = marked_page(text, ranges, {label: preview_color for _, _, label in ranges})
        _write_bytes(page.encode("utf8"), preview, private)
        note("info", f"Preview of the {len(replaced)} replaced entities -> {preview} (it holds the originals: readable by you only)")
    if mapping is not None:
        entries = redaction.mapping(output.name if output is not None else None)
        _write_bytes((srsly.json_dumps(entries, indent=2) + "\n").encode("utf8"), mapping, private)
        note("info", f"Mapping of the {len(replaced)} replacements -> {mapping} (it holds the originals: readable by you only; keep it safe)")
    _write_bytes(redaction.data, output)
    if redaction.left:
        note("warn", f"{len(redaction.left)} of the entities found are LEFT in the output, inside markup (--allow-skipped): {describe_left(redaction)}.")
    if not replaced:
        note("warn", "No entities replaced: the output is the input unchanged. Check --labels, or lower --threshold.")
    else:
        found = Counter(r.label for r in replaced)
        note("warn" if redaction.left else "good", f"Replaced {len(replaced)} spans ({_counts(found)}){f' -> {output}' if output else ''}")


@app.command("restore")
@guarded
def restore_cli(
    source: str = typer.Argument(..., help="The redacted document: a file, or - for standard input."),
    as_text: bool = typer.Option(False, "--text", help=TEXT_HELP),
    mapping: Path = typer.Option(..., "--mapping", help="The JSON file written by `spacy-gliner redact --mapping`."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="File to write the original document to (readable by you only, like the mapping). Default: standard output."
    ),
    renamed: bool = typer.Option(
        False, "--renamed", help="The redacted file was renamed after redaction: restore it although its name is not the one the mapping recorded."
    ),
) -> None:
    """Put the originals back into a redacted document, byte for byte, from its --mapping file.

    Refused: a damaged mapping, a document changed since redaction (SHA-256), and a mapping
    recorded for a file of another name (two documents that redact to the same bytes are
    told apart by their names only).
    """
    path = _check_source(source, as_text, output, inputs=(mapping,))
    if not mapping.is_file():
        fail(f"Mapping file not found: {mapping}. Pass the file written by `spacy-gliner redact --mapping`.")
    try:
        entries = read_json(mapping)
    except InputError as err:  # not JSON: says where
        fail(str(err))
    try:
        restored = restore_document(_read(read_source, source, as_text), entries, path.name if path is not None and not renamed else None)
    except ValueError as err:
        fail(f"{mapping}: {err}")
    _write_bytes(restored, output, private_mode(mapping))
    note("good", f"Restored {len(entries['replacements'])} spans{f' -> {output}' if output else ''}")


@app.command("export")
def export_cli(
    pipeline_dir: Path = typer.Argument(..., help="Saved spaCy pipeline folder with a gliner component (e.g. a training run's model-best)."),
    output_dir: Path = typer.Argument(..., help="Folder to write the GLiNER checkpoint to."),
    component: Optional[str] = typer.Option(None, "--component", "-c", help="Name of the gliner component. Default: the pipeline's first."),
    force: bool = typer.Option(False, "--force", "-F", help="Write into OUTPUT_DIR even if it is not empty."),
) -> None:
    """Write a pipeline's gliner component as an official GLiNER checkpoint folder.

    The folder loads with gliner.GLiNER.from_pretrained and with --model here.
    """
    if not (pipeline_dir / "config.cfg").is_file():
        fail(f"{pipeline_dir} is not a saved spaCy pipeline (no config.cfg). Pass the folder written by nlp.to_disk or spacy train.")
    if same_file(output_dir, pipeline_dir):
        fail(f"{output_dir} is the pipeline folder itself. Choose a new folder for the checkpoint.")
    if output_dir.exists() and any(output_dir.iterdir()) and not force:
        fail(f"{output_dir} is not empty. Choose a new folder, or pass --force to write into it.")
    pipeline = load_pipeline(str(pipeline_dir), [], need_labels=False)
    name = component or pipeline.name
    try:
        export(pipeline.nlp, name, output_dir)
    except ValueError as err:
        fail(str(err))
    note("good", f"GLiNER checkpoint of component {name!r} -> {output_dir}")


@app.command("info")
def info_cli(
    model: Optional[str] = typer.Argument(None, help=MODEL_HELP + " Leave out to print the versions only."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help=GPU_HELP),
) -> None:
    """Print the versions in use and a checkpoint's settings, labels and device."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from ..model import precision

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    rows: List[Tuple[str, Any]] = [(name, installed(name)) for name in ("spacy-gliner", "spacy", "torch", "transformers")]
    rows.append(("CUDA available", f"yes ({torch.cuda.device_count()} GPUs)" if torch.cuda.is_available() else "no"))
    rows.append(("this CPU", f"{precision.this_cpu().describe()}: {precision.advice(precision.this_cpu())} (mixed_precision)"))
    print(table(rows, header=("versions", ""), divider=True))
    if model is None:
        return
    pipeline = load_pipeline(model, [], gpu_id=gpu_id, need_labels=False)
    component = pipeline.component
    loaded = get_loaded(component.model)
    settings = loaded.settings
    encoder = (settings.encoder_config or {}).get("model_type", "?")
    labels = [k if k == v else f"{k} ({v})" for k, v in component.label_descriptions.items()]
    first = 10  # a long list (the hundreds of types of a zero-shot training corpus): the first few and a count
    if len(labels) > first:
        labels = [*labels[:first], f"... and {len(labels) - first} more ({len(labels)} labels)"]
    rows = [
        ("model", model),
        ("component", f"{pipeline.name} ({'nested' if component.nested else 'flat'}, threshold {component.threshold})"),
        ("labels", ", ".join(labels) or "none (give --labels when predicting)"),
        ("encoder", f"{settings.model_name} ({encoder})"),
        ("span_mode", settings.span_mode),
        ("hidden_size", settings.hidden_size),
        ("max_width", settings.max_width),
        ("max_len", settings.max_len),
        ("parameters", f"{sum(p.numel() for p in loaded.network.parameters()):,}"),
        ("device", str(next(loaded.network.parameters()).device)),
    ]
    print(table(rows, header=("checkpoint", ""), divider=True))


def _counts(found: Counter) -> str:
    return ", ".join(f"{label}: {n}" for label, n in found.most_common()) or "none"

