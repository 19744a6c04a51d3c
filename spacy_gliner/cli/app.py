"""The ``spacy-gliner`` command line: predict, render, redact, restore, export, calibrate and info.

Every command checks what it is given before anything loads (:mod:`.options`,
:mod:`.inputs`, :mod:`.outputs`), then loads its pipeline with
:func:`loading.load_pipeline` (a GLiNER checkpoint is put into a blank English pipeline;
a saved spaCy pipeline is used as it is) and reads the entities as records
(:mod:`spacy_gliner.records`) at GLiNER's own character offsets (not widened to tokens),
so all commands see the same predictions, characters as the official library's. Data
(JSONL, HTML, redacted text, tables) goes to standard output or ``--output``; messages and
the progress bar go to standard error (:mod:`.messages`, which also says how a command ends).
"""

import sys
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import spacy
import srsly
import typer
from wasabi import table

from ..architectures import get_loaded, is_gliner2_model
from ..config import describe_threshold
from ..loading import Pipeline, RunOptions, export, load_pipeline, saved_pipeline
from ..markup import KINDS, kind_of
from ..redact import (
    DEFAULT_PLACEHOLDER,
    RedactionIncomplete,
    decode_document,
    describe_left,
    redact_document,
    restore_document,
)
from ..render import PREVIEW_COLOR, PROPAGATED_COLOR, PROPAGATED_MARK, check_color, marked_page, render_html
from . import predict
from .inputs import InputError, read_document, read_json, read_source, source_path, strip_bom
from .messages import fail, guarded, note
from .options import (
    BATCH_HELP,
    MODEL_HELP,
    NO_LABELS,
    Command,
    Engine,
    OnError,
    check_colors,
    check_labels_given,
    classes_option,
    gpu_option,
    labels_option,
    model_option,
    nested_option,
    output_option,
    parse_colors,
    propagate_option,
    relation_threshold_option,
    relations_option,
    run_options,
    source_argument,
    text_option,
    threshold_option,
)
from .outputs import check_output_folder, check_outputs, private_mode, same_file, write_file

app = typer.Typer(
    name="spacy-gliner",
    help="Zero-shot named entity recognition with GLiNER models in spaCy.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # help as written: Rich markup would take [ray] for a style
)


# -- before and at loading -------------------------------------------------------------------
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


def _options(
    model: str,
    labels: List[str],
    threshold: Optional[str],
    nested: Optional[bool],
    propagate: Optional[str] = None,
    relations: Optional[List[str]] = None,
    relation_threshold: Optional[float] = None,
    classes: Optional[List[str]] = None,
) -> RunOptions:
    """This run's options, checked, and labels for a checkpoint required: before anything loads."""
    try:
        options = run_options(labels, threshold, nested, None, propagate, relations, relation_threshold, classes)
        check_labels_given(model, options)
    except (InputError, ValueError) as err:
        fail(str(err))
    return options


def _load(model: str, options: RunOptions = RunOptions(), gpu_id: int = -1, need_labels: bool = True) -> Pipeline:
    """The pipeline of ``model`` with this run's options; every problem ends the command with a message."""
    use_gpu(gpu_id)
    try:
        pipeline = load_pipeline(model, options)
        pipeline.component.word_splitter()  # a splitter whose package is missing fails now, not at the first document
    except (ImportError, ValueError) as err:  # CheckpointError too
        fail(str(err))
    component = pipeline.component
    if need_labels and options.labels is None and not component.labels and not (options.classes or component.classes):
        fail(f"{NO_LABELS} The pipeline's gliner component has none of its own.")
    return pipeline


def _refused(check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, its InputError or ValueError ending the command with its message."""
    try:
        return check(*args)
    except (InputError, ValueError) as err:
        fail(str(err))


def _check_source(
    source: str, is_text: bool, *outputs: Optional[Path], inputs: Tuple[Path, ...] = ()
) -> Optional[Path]:
    """The file SOURCE names (None: standard input or a text), after refusing, before any
    work, a missing file and outputs that cannot be written or would destroy something."""
    path = _refused(source_path, source, is_text)
    _refused(check_outputs, outputs, source, inputs, is_text)
    return path


def _write_bytes(data: bytes, output: Optional[Path], mode: Optional[int] = None) -> None:
    """``data`` to ``output`` (whole or not at all, with ``mode`` if given), or to standard output."""
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_file(output, data, mode)


# -- commands --------------------------------------------------------------------
@app.command("predict", cls=Command)
@guarded
def predict_cli(
    source: str = source_argument(
        "What to annotate: a text (quoted), a file (.jsonl: one JSON record a line; any other: one document), "
        "a folder of .txt files, or - for standard input."
    ),
    labels: List[str] = labels_option(),
    model: str = model_option(),
    output: Optional[Path] = output_option(
        "File to write: .jsonl (each record with its entities, written as it comes) or .spacy (a DocBin, held in memory"
        " until the end); with --engine ray, .jsonl or .parquet. A pipe or device (/dev/stdout, a FIFO) gets JSONL."
        " Default: JSONL on standard output."
    ),
    text_key: str = typer.Option(
        "text", "--text-key", "-k", metavar="KEY", help="Key of the text in the JSONL records (in and out)."
    ),
    as_text: bool = text_option(),
    threshold: Optional[str] = threshold_option(),
    nested: Optional[bool] = nested_option(),
    propagate: Optional[str] = propagate_option(),
    relations: List[str] = relations_option(),
    relation_threshold: Optional[float] = relation_threshold_option(),
    classes: List[str] = classes_option(),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", min=1, metavar="N", help=BATCH_HELP),
    gpu_id: int = gpu_option(),
    on_error: OnError = typer.Option(
        OnError.fail,
        "--on-error",
        metavar="fail|skip",
        help=(
            "A JSONL line that cannot be used (bad JSON, no text): fail the run, or skip it. Skipped lines are "
            "listed on standard error with their line numbers and counted in the summary."
        ),
    ),
    show: bool = typer.Option(
        False,
        "--show",
        "-s",
        help=(
            "Print each document with its entities in colour, and a table of them (instead of JSONL on standard"
            " output)."
        ),
    ),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        "-e",
        metavar="local|ray",
        help=(
            'local: this process. ray: Ray Data workers (pip install "spacy-gliner[ray]"), for corpora in .jsonl or'
            " .parquet files or folders of them, written to --output (.jsonl or .parquet) in input order."
        ),
    ),
    ray_address: Optional[str] = typer.Option(
        None,
        "--ray-address",
        metavar="ADDRESS",
        help=(
            "With --engine ray: the cluster to join (HOST:PORT, ray://HOST:PORT, or auto: any Ray cluster "
            "running on this machine; the run says which it joined). Default: start a local one."
        ),
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        metavar="N",
        help="With --engine ray: worker processes, each loading the model once and using one core.",
    ),
    gpus_per_worker: float = typer.Option(
        0.0,
        "--gpus-per-worker",
        min=0.0,
        metavar="N",
        help="With --engine ray: GPUs for each worker (e.g. 1, or 0.5 to share one).",
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        help="With --engine ray: also show Ray's own log messages (otherwise only in Ray's log files).",
    ),
) -> None:
    """Find entities in texts, files, folders or JSONL corpora; write them as JSONL or a DocBin.

    Each record out is the record in (for texts and files: "text", and "file") plus
    "entities": a list of {"start", "end", "text", "label", "score"}, with GLiNER's own
    character offsets (those of the official predict_entities, not widened to tokens).
    Relex and GLiNER2 models with relation types (--relations, or the pipeline's) add "relations":
    {"label", "score", "head": {"start", "end", "text", "label"}, "tail": {...}}; GLiNER2 models
    with classification tasks (--classes, or the pipeline's) add "cats": {choice: score}.
    Records are read and written one at a time: memory stays flat on large corpora.
    With --engine ray the same records come from Ray workers (see the README's "Corpora
    bigger than one machine").
    """
    plan = predict.check(
        source,
        as_text,
        output,
        engine,
        model,
        labels,
        threshold,
        nested,
        batch_size,
        text_key,
        on_error,
        propagate,
        relations,
        relation_threshold,
        classes,
    )
    if engine is Engine.ray:
        counts = predict.run_with_ray(
            plan, model, address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker, verbose=verbose
        )
    else:
        counts = predict.run_locally(plan, _load(model, plan.options, gpu_id), show)
    predict.summary(counts, output)


@app.command("render", cls=Command)
@guarded
def render_cli(
    source: str = source_argument(),
    as_text: bool = text_option(),
    labels: List[str] = labels_option(),
    model: str = model_option(),
    output: Optional[Path] = output_option("HTML file to write. Default: standard output."),
    colors: List[str] = typer.Option(
        [],
        "--color",
        "-c",
        metavar="LABEL=COLOUR",
        help=(
            "Colour of a label as LABEL=COLOUR, a CSS colour name or hex code (person=red, date=#ffcc00); "
            "repeat or separate with commas. Other labels get a colour derived from their name, the same on every run."
        ),
    ),
    threshold: Optional[str] = threshold_option(),
    nested: Optional[bool] = nested_option(" Nested entities are drawn in displaCy's span style."),
    relations: List[str] = relations_option(),
    relation_threshold: Optional[float] = relation_threshold_option(),
    classes: List[str] = classes_option(),
    gpu_id: int = gpu_option(),
) -> None:
    """Show a document's entities on a self-contained HTML page (displaCy), one colour per label;
    below them its relations as arcs and its classes as a table (relex and GLiNER2 models)."""
    overrides = _refused(parse_colors, colors)
    _check_source(source, as_text, output)
    options = _options(model, labels, threshold, nested, None, relations, relation_threshold, classes)
    if options.labels is not None:  # else the pipeline's, known once it loads
        _refused(check_colors, overrides, options.labels)
    text = strip_bom(_refused(read_document, source, as_text))[1]
    pipeline = _load(model, options, gpu_id)
    if options.labels is None:
        _refused(check_colors, overrides, pipeline.component.labels)
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


@app.command("redact", cls=Command)
@guarded
def redact_cli(
    source: str = source_argument(),
    as_text: bool = text_option(),
    labels: List[str] = labels_option(" Every entity of these labels is replaced."),
    model: str = model_option(),
    output: Optional[Path] = output_option("File to write the redacted document to. Default: standard output."),
    placeholder: str = typer.Option(
        DEFAULT_PLACEHOLDER,
        "--placeholder",
        "-p",
        metavar="TEXT",
        help=(
            "What replaces each entity: this text; 'label' for its label in capitals ([PERSON]); or 'numbered' "
            "([PERSON_1], [PERSON_2]...: the same name always gets the same number within the document; numbers "
            "whose placeholder the document already holds are skipped)."
        ),
    ),
    mapping: Optional[Path] = typer.Option(
        None,
        "--mapping",
        metavar="FILE",
        help=(
            "Also write a JSON file of what replaced what (offsets, original text, placeholder), for `spacy-gliner"
            " restore`. It holds the originals: it is created readable by you only (0600, or the input's mode if"
            " stricter)."
        ),
    ),
    preview: Optional[Path] = typer.Option(
        None,
        "--preview",
        metavar="FILE",
        help=(
            "Also write an HTML page of the original document with the characters to be replaced marked, to check them "
            "(it holds the originals: created readable by you only, like --mapping)."
        ),
    ),
    preview_color: str = typer.Option(
        PREVIEW_COLOR,
        "--preview-color",
        metavar="COLOUR",
        help="Colour of the marks on the preview page: a CSS colour name or hex code.",
    ),
    kind: Kind = typer.Option(
        AUTO,
        "--format",
        "-f",
        metavar="|".join(Kind),
        help=(
            "What is markup in the document. auto: by the file's suffix (.html/.htm: html; .xml/.xhtml/.svg: xml; "
            ".md/.markdown: markdown; anything else, standard input and texts: text, which has no markup)."
        ),
    ),
    inside_tags: bool = typer.Option(
        False,
        "--inside-tags",
        help=(
            "Also replace entities in markup content: tag and attribute names, attribute values (alt=...), comments,"
            " <script>/<style> code. Without it such entities are left, and the command refuses to write the output"
            " unless --allow-skipped."
        ),
    ),
    allow_skipped: bool = typer.Option(
        False,
        "--allow-skipped",
        help=(
            "Write the output even though entities found inside markup are left in it (they are counted on standard"
            " error)."
        ),
    ),
    threshold: Optional[str] = threshold_option(),
    nested: Optional[bool] = nested_option(),
    propagate: Optional[str] = propagate_option(),
    gpu_id: int = gpu_option(),
) -> None:
    """Replace entities in a document by a placeholder, keeping every other byte as it is.

    Entities are replaced at GLiNER's own characters. Line ends (\\r\\n too), a byte order
    mark, Markdown, tables and HTML tags stay exact: an entity across lines or tags is
    replaced run by run, its line breaks and tags kept. An entity found that would stay in
    the output (inside markup) stops the command (exit 1) unless --inside-tags or
    --allow-skipped. Documents of any length are read whole.
    """
    path = _check_source(source, as_text, output, preview, mapping)
    preview_color = _refused(check_color, preview_color, "--preview-color: ")
    options = _options(model, labels, threshold, nested, propagate)
    kind_name = (
        kind_of(str(path) if path is not None and path.is_file() else None) if kind.value == AUTO else kind.value
    )
    data = _refused(read_source, source, as_text)
    pipeline = _load(model, options, gpu_id)
    try:
        redaction = redact_document(
            data, lambda text: pipeline.entities(pipeline(text)), placeholder, inside_tags, kind_name, allow_skipped
        )
    except RedactionIncomplete as err:
        fail(f"Nothing was written: {err} (The document was read as {kind_name}; see --format.)")
    except ValueError as err:
        fail(str(err))
    replaced = redaction.replacements
    private = private_mode(*([path] if path is not None else []))
    if preview is not None:
        text, _ = decode_document(redaction.original)
        ranges = [
            (a, b, f"{r.label} {PROPAGATED_MARK}" if r.propagated else r.label) for r in replaced for a, b in r.pieces
        ]
        colors = {
            label: PROPAGATED_COLOR if label.endswith(PROPAGATED_MARK) else preview_color for _, _, label in ranges
        }
        page = marked_page(text, ranges, colors)
        _write_bytes(page.encode("utf8"), preview, private)
        note(
            "info",
            f"Preview of the {len(replaced)} replaced entities -> {preview} (it holds the originals: readable by you"
            " only)",
        )
    if mapping is not None:
        entries = redaction.mapping(output.name if output is not None else None)
        _write_bytes((srsly.json_dumps(entries, indent=2) + "\n").encode("utf8"), mapping, private)
        note(
            "info",
            f"Mapping of the {len(replaced)} replacements -> {mapping} (it holds the originals: readable by you only;"
            " keep it safe)",
        )
    _write_bytes(redaction.data, output)
    if redaction.left:
        note(
            "warn",
            f"{len(redaction.left)} of the entities found are LEFT in the output, inside markup (--allow-skipped):"
            f" {describe_left(redaction)}.",
        )
    if not replaced:
        note("warn", "No entities replaced: the output is the input unchanged. Check --labels, or lower --threshold.")
    else:
        found = Counter(r.label for r in replaced)
        note(
            "warn" if redaction.left else "good",
            f"Replaced {len(replaced)} spans ({_counts(found)}){f' -> {output}' if output else ''}",
        )


@app.command("restore", cls=Command)
@guarded
def restore_cli(
    source: str = source_argument("The redacted document: a file, or - for standard input."),
    as_text: bool = text_option(),
    mapping: Path = typer.Option(
        ..., "--mapping", metavar="FILE", help="The JSON file written by `spacy-gliner redact --mapping`."
    ),
    output: Optional[Path] = output_option(
        "File to write the original document to (readable by you only, like the mapping). Default: standard output."
    ),
    renamed: bool = typer.Option(
        False,
        "--renamed",
        help=(
            "The redacted file was renamed after redaction: restore it although its name is not the one the mapping"
            " recorded."
        ),
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
    entries = _refused(read_json, mapping)  # not JSON: says where
    try:
        restored = restore_document(
            _refused(read_source, source, as_text), entries, path.name if path is not None and not renamed else None
        )
    except ValueError as err:
        fail(f"{mapping}: {err}")
    _write_bytes(restored, output, private_mode(mapping))
    note("good", f"Restored {len(entries['replacements'])} spans{f' -> {output}' if output else ''}")


@app.command("export", cls=Command)
@guarded
def export_cli(
    pipeline_dir: str = typer.Argument(
        ...,
        metavar="PIPELINE",
        help=(
            "Saved spaCy pipeline with a gliner component: a folder (e.g. a training run's model-best) or an installed"
            " package."
        ),
    ),
    output_dir: Path = typer.Argument(..., metavar="OUTPUT_DIR", help="Folder to write the GLiNER checkpoint to."),
    component: Optional[str] = typer.Option(
        None, "--component", "-c", metavar="NAME", help="Name of the gliner component. Default: the pipeline's first."
    ),
    force: bool = typer.Option(False, "--force", "-F", help="Write into OUTPUT_DIR even if it is not empty."),
) -> None:
    """Write a pipeline's gliner component as an official GLiNER checkpoint folder.

    The folder loads with gliner.GLiNER.from_pretrained and with --model here.
    """
    if saved_pipeline(pipeline_dir) is None:
        if not Path(pipeline_dir).exists():
            fail(
                f"Pipeline folder not found: {pipeline_dir} (nor an installed pipeline package of that name). Check the"
                " path: pass the folder written by nlp.to_disk or spacy train."
            )
        fail(
            f"{pipeline_dir} is not a saved spaCy pipeline (no config.cfg). Pass the folder written by nlp.to_disk or"
            " spacy train."
        )
    _refused(check_output_folder, output_dir)
    if same_file(output_dir, Path(pipeline_dir)):
        fail(f"{output_dir} is the pipeline folder itself. Choose a new folder for the checkpoint.")
    if output_dir.exists() and any(output_dir.iterdir()) and not force:
        fail(f"{output_dir} is not empty. Choose a new folder, or pass --force to write into it.")
    pipeline = _load(pipeline_dir, need_labels=False)
    name = component or pipeline.name
    try:
        export(pipeline.nlp, name, output_dir)
    except ValueError as err:
        fail(str(err))
    note("good", f"GLiNER checkpoint of component {name!r} -> {output_dir}")


@app.command("calibrate", cls=Command)
@guarded
def calibrate_cli(
    model: str = typer.Argument(..., metavar="MODEL", help=MODEL_HELP),
    gold: Path = typer.Argument(
        ...,
        metavar="GOLD",
        help=(
            'Gold data: a .spacy DocBin (its doc.ents) or a .jsonl file of records {"text", "entities": [{"start",'
            ' "end", "label"}]}.'
        ),
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        metavar="PIPELINE",
        help="Folder to save the pipeline to, with the calibrated thresholds (may be MODEL's own folder).",
    ),
    labels: List[str] = labels_option(" They must include every label of the gold data."),
    min_recall: Optional[float] = typer.Option(
        None,
        "--min-recall",
        metavar="R",
        help=(
            "Per label, the best precision among the thresholds whose recall reaches R (e.g. 0.95 for redaction), "
            "instead of the best F1."
        ),
    ),
    plot_file: Optional[Path] = typer.Option(
        None,
        "--plot",
        metavar="FILE.png",
        help="Also write precision and recall against the threshold, a panel per label (needs matplotlib).",
    ),
    floor: float = typer.Option(
        0.05, "--floor", metavar="P", help="The lowest threshold tried: the pipe runs once at it."
    ),
    gpu_id: int = gpu_option(),
) -> None:
    """Choose a threshold per label from gold data and save the pipeline with them.

    The pipe runs once over the gold texts at --floor; each threshold tried re-decodes the
    candidates kept. Per label: the best F1, or with --min-recall the best precision at that
    recall. Prints a table (threshold, P, R, F, support per label, and the best single
    threshold for comparison). See the README's "Calibrating thresholds".
    """
    from ..data.calibration import apply, calibrate, plot, read_gold

    if plot_file is not None and plot_file.suffix.lower() != ".png":
        fail(f"--plot {plot_file}: the plot is a PNG file; name it with .png.")
    _refused(check_output_folder, output)
    if output.is_dir() and any(output.iterdir()) and not (output / "config.cfg").is_file():
        fail(f"{output} is a folder that is not empty and not a saved pipeline: choose a new folder.")
    options = _options(model, labels, None, None)
    pipeline = _load(model, options, gpu_id)
    try:
        result = calibrate(pipeline, read_gold(gold, pipeline), min_recall=min_recall, floor=floor)
        if plot_file is not None:
            plot(result, plot_file)
    except (ImportError, ValueError) as err:
        fail(str(err))
    print(table(result.rows(), header=("label", "threshold", "P", "R", "F", "support"), divider=True))
    apply(pipeline, result)
    pipeline.nlp.to_disk(output)
    note(
        "good",
        f"Thresholds {describe_threshold(result.thresholds)} ->"
        f" {output}{f'; plot -> {plot_file}' if plot_file else ''}",
    )


@app.command("info", cls=Command)
@guarded
def info_cli(
    model: Optional[str] = typer.Argument(
        None, metavar="MODEL", help=MODEL_HELP + " Leave out to print the versions only."
    ),
    gpu_id: int = gpu_option(),
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

    rows: List[Tuple[str, Any]] = [
        (name, installed(name)) for name in ("spacy-gliner", "spacy", "torch", "transformers")
    ]
    rows.append(("CUDA available", f"yes ({torch.cuda.device_count()} GPUs)" if torch.cuda.is_available() else "no"))
    rows.append(
        ("this CPU", f"{precision.this_cpu().describe()}: {precision.advice(precision.this_cpu())} (mixed_precision)")
    )
    print(table(rows, header=("versions", ""), divider=True))
    if model is None:
        return
    pipeline = _load(model, gpu_id=gpu_id, need_labels=False)
    component = pipeline.component
    loaded = get_loaded(component.model)
    settings = loaded.settings
    labels = [k if k == v else f"{k} ({v})" for k, v in component.label_descriptions.items()]
    first = 10  # a long list (the hundreds of types of a zero-shot training corpus): the first few and a count
    if len(labels) > first:
        labels = [*labels[:first], f"... and {len(labels) - first} more ({len(labels)} labels)"]
    rows = [
        ("model", model),
        (
            "component",
            (
                f"{pipeline.name} ({'nested' if component.nested else 'flat'}, threshold"
                f" {describe_threshold(component.threshold)})"
            ),
        ),
        ("labels", ", ".join(labels) or "none (give --labels when predicting)"),
        *(
            [
                (
                    "relations",
                    ", ".join(k if k == v else f"{k} ({v})" for k, v in component.relations.items())
                    or "none (give --relations when predicting)",
                )
            ]
            if is_gliner2_model(loaded) or settings.relex
            else []
        ),
        *_family_rows(loaded, component),
        ("parameters", f"{sum(p.numel() for p in loaded.network.parameters()):,}"),
        ("device", str(next(loaded.network.parameters()).device)),
    ]
    print(table(rows, header=("checkpoint", ""), divider=True))


def _family_rows(loaded: Any, component: Any) -> List[Tuple[str, Any]]:
    """``info``'s rows of what the checkpoint is: GLiNER2 (span or boundary; its classes) or GLiNER."""
    settings = loaded.settings
    if is_gliner2_model(loaded):
        from ..model.gliner2.schema import Schema

        tasks = Schema.build(classes=component.classes).classes if component.classes else ()
        classes = "; ".join(f"{task.name}: {', '.join(task.choices)}" for task in tasks)
        rows: List[Tuple[str, Any]] = [
            ("family", settings.family),
            ("classes", classes or "none (give --classes when predicting)"),
            ("encoder", getattr(loaded.encoder_config, "model_type", "?")),
            ("hidden_size", getattr(loaded.encoder_config, "hidden_size", "?")),
        ]
        return rows + ([("max_width", settings.max_width)] if settings.architecture == "span" else [])
    encoder = (settings.encoder_config or {}).get("model_type", "?")
    return [
        ("encoder", f"{settings.model_name} ({encoder})"),
        ("span_mode", settings.span_mode),
        ("hidden_size", settings.hidden_size),
        ("max_width", settings.max_width),
        ("max_len", settings.max_len),
    ]


def _counts(found: Counter) -> str:
    return ", ".join(f"{label}: {n}" for label, n in found.most_common()) or "none"
