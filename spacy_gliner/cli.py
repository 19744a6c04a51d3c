"""The ``spacy-gliner`` command line: predict, render, redact, export and info.

Every command loads its pipeline with :func:`load_pipeline` (a GLiNER checkpoint is put
into a blank English pipeline; a saved spaCy pipeline is used as it is) and reads the
entities from the component's span group, so all commands see the same predictions.
Data (JSONL, HTML, redacted text, tables) goes to standard output or ``--output``;
messages and the progress bar go to standard error.
"""
import colorsys
import hashlib
import re
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, NoReturn, Optional, Tuple

import spacy
import srsly
import typer
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from wasabi import Printer, color, table

from . import export
from .architectures import DEFAULT_SOURCE, get_loaded
from .component import GLiNERComponent, Labels, check_threshold
from .io import InputError, LineError, count_records, iter_records, read_document, read_labels
from .settings import CheckpointError

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
    "(.txt: one a line; .json: a list, or an object mapping label texts to spaCy labels). "
    "Default for a saved pipeline: its component's labels."
)
THRESHOLD_HELP = "Keep spans scoring above this probability (0 to 1). Default: the component's (0.5 for a checkpoint)."
NESTED_HELP = "--nested: overlapping entities (doc.spans); --flat: non-overlapping (doc.ents). Default: the component's (flat for a checkpoint)."
BATCH_HELP = "Texts (and windows of long texts) encoded together in one forward pass. Default: the component's (8)."
GPU_HELP = "GPU to run on (spacy.require_gpu; needs CuPy), or -1 for the CPU."
SOURCE_HELP = "The document: a file, a text (quoted), or - to read standard input."


# -- messages -------------------------------------------------------------------
def note(kind: str, text: str) -> None:
    """A wasabi message (good, info, warn, fail) on standard error."""
    print(getattr(_printer, kind)(text), file=sys.stderr)


def fail(text: str) -> NoReturn:
    note("fail", text)
    raise typer.Exit(1)


# -- pipeline -------------------------------------------------------------------
@dataclass
class Pipeline:
    """A pipeline with a gliner component, and the labels and threshold of this run."""

    nlp: Language
    name: str
    labels: Optional[Labels] = None
    threshold: Optional[float] = None

    @property
    def component(self) -> GLiNERComponent:
        return self.nlp.get_pipe(self.name)

    @property
    def cfg(self) -> Dict[str, Dict[str, Any]]:
        """Per-call settings of the gliner component (nlp.pipe's ``component_cfg``)."""
        kwargs: Dict[str, Any] = {}
        if self.labels is not None:
            kwargs["labels"] = self.labels
        if self.threshold is not None:
            kwargs["threshold"] = self.threshold
        return {self.name: kwargs}

    def __call__(self, text: str) -> Doc:
        return self.nlp(text, component_cfg=self.cfg)

    def pipe(self, items: Iterable[Tuple[str, Any]], batch_size: int) -> Iterator[Tuple[Doc, Any]]:
        return self.nlp.pipe(items, as_tuples=True, batch_size=batch_size, component_cfg=self.cfg)

    def entities(self, doc: Doc) -> List[Dict[str, Any]]:
        """The component's entities: character offsets, text, label and score."""
        group = doc.spans.get(self.component.spans_key, [])
        scores = group.attrs.get("scores", []) if len(group) else []
        return [
            {"start": s.start_char, "end": s.end_char, "text": s.text, "label": s.label_, "score": round(float(p), 4)}
            for s, p in zip(group, scores)
        ]


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
        if threshold is not None:
            threshold = check_threshold(threshold)
    except (InputError, ValueError) as err:
        fail(str(err))
    if labels and not chosen:
        fail("--labels is empty. Name the entity types to find, e.g. --labels person,organization.")
    use_gpu(gpu_id)
    path = Path(model).expanduser()
    if (path / "config.cfg").is_file():
        try:
            nlp = spacy.load(path)
        except Exception as err:  # spaCy raises many types for broken or foreign pipelines
            fail(f"Cannot load the spaCy pipeline in {path} ({type(err).__name__}: {err}).")
        names = [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == "gliner"]
        if not names:
            fail(f"The pipeline in {path} has no gliner component (its components: {', '.join(nlp.pipe_names) or 'none'}).")
        name = names[0]
    else:
        if path.is_dir() and not (path / "gliner_config.json").is_file():
            fail(f"{path} is neither a GLiNER checkpoint (no gliner_config.json) nor a saved spaCy pipeline (no config.cfg).")
        nlp = spacy.blank("en")
        name = "gliner"
        nlp.add_pipe(name, config={"model": model})
    pipeline = Pipeline(nlp, name, chosen, threshold)
    component = pipeline.component
    try:
        get_loaded(component.model)
    except CheckpointError as err:
        fail(str(err))
    if need_labels and chosen is None and not component.labels:
        fail("No labels to look for: name the entity types with --labels, e.g. --labels person,organization.")
    if nested is not None:
        component.nested = nested
    if batch_size is not None:
        component.batch_size = batch_size
    nlp.max_length = sys.maxsize  # the component windows long documents
    return pipeline


# -- colours and display ----------------------------------------------------------
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
CSS_COLOR_NAMES = frozenset(
    """aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet brown
    burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan
    darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred
    darksalmon darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue
    dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray
    green greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush lawngreen
    lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen lightgrey lightpink
    lightsalmon lightseagreen lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen
    linen magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue
    mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite navy
    oldlace olive olivedrab orange orangered orchid palegoldenrod palegreen paleturquoise palevioletred papayawhip
    peachpuff peru pink plum powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown
    seagreen seashell sienna silver skyblue slateblue slategray slategrey snow springgreen steelblue tan teal
    thistle tomato turquoise violet wheat white whitesmoke yellow yellowgreen""".split()
)
PREVIEW_COLOR = "#ff7a7a"
_LINE = re.compile(r"[^\r\n]+")  # a run of text between line breaks


def label_color(label: str) -> str:
    """A light colour for ``label``, the same on every run: its hue comes from a hash of the name."""
    digest = hashlib.sha1(label.upper().encode("utf8")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    red, green, blue = colorsys.hls_to_rgb(hue, 0.78, 0.8)
    return "#{:02x}{:02x}{:02x}".format(round(red * 255), round(green * 255), round(blue * 255))


def xterm_color(hex_color: str) -> int:
    """The nearest of the 6x6x6 colour cube of 256-colour terminals."""
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 16 + 36 * round(red / 51) + 6 * round(green / 51) + round(blue / 51)


def parse_colors(values: List[str]) -> Dict[str, str]:
    """``--color`` values (``LABEL=COLOUR``, repeated or comma-separated) as {LABEL: colour}."""
    colors: Dict[str, str] = {}
    for item in (part.strip() for value in values for part in value.split(",")):
        if not item:
            continue
        label, sep, value = (x.strip() for x in item.rpartition("="))
        if not sep or not label:
            fail(f"--color {item!r} is not LABEL=COLOUR; write e.g. --color person=red or --color date=#ffcc00.")
        if not (_HEX.fullmatch(value) or value.lower() in CSS_COLOR_NAMES):
            fail(f"--color {item!r}: {value!r} is not a colour; use a CSS colour name (red, gold, lightblue...) or a hex code like #ff8800.")
        colors[label.upper()] = value
    return colors


def merge_spans(entities: Iterable[Dict[str, Any]]) -> List[Tuple[int, int, str]]:
    """Character ranges covered by entities, overlaps joined; each keeps the label of its first entity."""
    merged: List[Tuple[int, int, str]] = []
    for ent in sorted(entities, key=lambda e: (e["start"], -e["end"])):
        if merged and ent["start"] < merged[-1][1]:
            start, end, label = merged[-1]
            merged[-1] = (start, max(end, ent["end"]), label)
        else:
            merged.append((ent["start"], ent["end"], ent["label"]))
    return merged


def highlight(text: str, entities: List[Dict[str, Any]]) -> str:
    """``text`` for a terminal, each entity on its label's colour with the label after it."""
    pieces, pos = [], 0
    for start, end, label in merge_spans(entities):
        code = xterm_color(label_color(label))
        pieces.append(text[pos:start])
        pieces.append(color(f"{text[start:end]} ", fg=16, bg=code) + color(label, fg=16, bg=code, bold=True))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def show_entities(text: str, entities: List[Dict[str, Any]]) -> None:
    print(highlight(text, entities))
    if entities:
        rows = [(e["text"], e["label"], f"{e['score']:.2f}", e["start"], e["end"]) for e in entities]
        print(table(rows, header=("text", "label", "score", "start", "end"), divider=True, aligns=("l", "l", "r", "r", "r")))
    else:
        print("(no entities)")
    print()


def _displacy(docs: Any, style: str, colors: Dict[str, str], manual: bool = False, **options: Any) -> str:
    from spacy import displacy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # displaCy warns about documents without entities
        return displacy.render(docs, style=style, page=True, manual=manual, options={"colors": colors, **options})


def render_html(doc: Doc, pipeline: Pipeline, overrides: Dict[str, str]) -> str:
    """A self-contained HTML page of ``doc``: entity style (flat) or span style (nested)."""
    key = pipeline.component.spans_key
    nested = pipeline.component.nested
    spans = doc.spans.get(key, []) if nested else doc.ents
    colors = {s.label_: overrides.get(s.label_.upper(), label_color(s.label_)) for s in spans}
    if nested:
        return _displacy(doc, "span", colors, spans_key=key)
    return _displacy(doc, "ent", colors)


def redact_text(text: str, ranges: List[Tuple[int, int, str]], placeholder: str) -> str:
    """``text`` with each range replaced; ``placeholder`` "label" writes the label as [LABEL].

    A range across lines is replaced line by line: its line breaks stay, so lists,
    tables and paragraphs keep their shape.
    """
    pieces, pos = [], 0
    for start, end, label in ranges:
        fill = f"[{label.upper().replace(' ', '_')}]" if placeholder == "label" else placeholder
        pieces.append(text[pos:start])
        pieces.append(_LINE.sub(lambda _: fill, text[start:end]))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


# -- outputs -------------------------------------------------------------------
class JsonlWriter:
    """One JSON record a line, written as documents come (to a file or standard output)."""

    def __init__(self, path: Optional[Path]) -> None:
        self.file = path.open("w", encoding="utf8") if path else sys.stdout

    def add(self, doc: Doc, record: Dict[str, Any]) -> None:
        self.file.write(srsly.json_dumps(record) + "\n")

    def close(self) -> None:
        if self.file is not sys.stdout:
            self.file.close()


class DocBinWriter:
    """Annotated docs in a DocBin (.spacy); a record's other keys go to ``doc.user_data["meta"]``."""

    def __init__(self, path: Path, text_key: str) -> None:
        self.path = path
        self.text_key = text_key
        self.docbin = DocBin(store_user_data=True)

    def add(self, doc: Doc, record: Dict[str, Any]) -> None:
        doc.user_data["meta"] = {k: v for k, v in record.items() if k not in (self.text_key, "entities")}
        self.docbin.add(doc)

    def close(self) -> None:
        self.docbin.to_disk(self.path)


class OnError(str, Enum):
    skip = "skip"
    fail = "fail"


def _writer(output: Optional[Path], text_key: str, show: bool) -> Optional[Any]:
    if output is None:
        return None if show else JsonlWriter(None)
    suffix = output.suffix.lower()
    if suffix not in (".jsonl", ".spacy"):
        fail(f"--output {output}: write .jsonl (one record a line) or .spacy (a DocBin), not {suffix or 'a file without suffix'}.")
    output.parent.mkdir(parents=True, exist_ok=True)
    return JsonlWriter(output) if suffix == ".jsonl" else DocBinWriter(output, text_key)


def _write_bytes(data: bytes, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(data)


def _read_one(source: str) -> str:
    try:
        return read_document(source)
    except InputError as err:
        fail(str(err))


# -- commands --------------------------------------------------------------------
@app.command("predict")
def predict_cli(
    source: str = typer.Argument(
        ...,
        help="What to annotate: a text (quoted), a file (.jsonl: one JSON record a line; any other: one document), "
        "a folder of .txt files, or - for standard input.",
    ),
    labels: List[str] = typer.Option([], "--labels", "-l", help=LABELS_HELP),
    model: str = typer.Option(DEFAULT_SOURCE, "--model", "-m", help=MODEL_HELP),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="File to write: .jsonl (each record with its entities, written as it comes) or .spacy (a DocBin, held in memory until the end). Default: JSONL on standard output."
    ),
    text_key: str = typer.Option("text", "--text-key", "-k", help="Key of the text in the JSONL records (in and out)."),
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
) -> None:
    """Find entities in texts, files, folders or JSONL corpora; write them as JSONL or a DocBin.

    Each record out is the record in (for texts and files: "text", and "file") plus
    "entities": a list of {"start", "end", "text", "label", "score"}, with character offsets.
    Records are read and written one at a time: memory stays flat on large corpora.
    """
    from tqdm import tqdm

    pipeline = load_pipeline(model, labels, threshold, nested, batch_size, gpu_id)
    writer = _writer(output, text_key, show)
    skipped = 0

    def items() -> Iterator[Tuple[str, Dict[str, Any]]]:
        nonlocal skipped
        for item in iter_records(source, text_key, on_error.value):
            if isinstance(item, LineError):
                skipped += 1
                tqdm.write(_printer.warn(f"Skipped {item}"), file=sys.stderr)  # clear of the progress bar
                continue
            yield item.text, item.data

    n_docs = n_ents = 0
    started = time.perf_counter()
    try:
        total = count_records(source)
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
    except LineError as err:
        fail(f"{err}. Fix the line, or pass --on-error skip to skip such lines.")
    except InputError as err:
        fail(str(err))
    finally:
        if writer is not None:
            writer.close()
    seconds = time.perf_counter() - started
    where = f" -> {output}" if output else ""
    note("good", f"{n_docs} docs, {n_ents} entities in {seconds:.1f}s ({n_docs / max(seconds, 1e-9):.1f} docs/s){where}")
    if skipped:
        note("warn", f"{skipped} JSONL line(s) skipped: they could not be read (listed above).")


@app.command("render")
def render_cli(
    source: str = typer.Argument(..., help=SOURCE_HELP),
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
    overrides = parse_colors(colors)
    text = _read_one(source)
    pipeline = load_pipeline(model, labels, threshold, nested, gpu_id=gpu_id)
    doc = pipeline(text)
    html = render_html(doc, pipeline, overrides)
    _write_bytes(html.encode("utf8"), output)
    found = Counter(e["label"] for e in pipeline.entities(doc))
    note("good", f"{sum(found.values())} entities ({_counts(found)}){f' -> {output}' if output else ''}")


@app.command("redact")
def redact_cli(
    source: str = typer.Argument(..., help=SOURCE_HELP),
    labels: List[str] = typer.Option([], "--labels", "-l", help=LABELS_HELP + " Every entity of these labels is replaced."),
    model: str = typer.Option(DEFAULT_SOURCE, "--model", "-m", help=MODEL_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write the redacted document to. Default: standard output."),
    placeholder: str = typer.Option(
        "[redacted]", "--placeholder", "-p", help="What replaces each entity: this text, or 'label' for its label in capitals ([PERSON])."
    ),
    preview: Optional[Path] = typer.Option(
        None, "--preview", help="Also write an HTML page with the entities to be replaced marked in red, to check them."
    ),
    threshold: Optional[float] = typer.Option(None, "--threshold", "-t", help=THRESHOLD_HELP),
    nested: Optional[bool] = typer.Option(None, "--nested/--flat", help=NESTED_HELP),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help=GPU_HELP),
) -> None:
    """Replace entities in a document by a placeholder, keeping every other byte as it is.

    Line breaks (\\r\\n too), Markdown, HTML and tables around the entities stay exact;
    an entity across lines is replaced line by line, its line breaks kept.
    Documents of any length are read whole.
    """
    text = _read_one(source)
    pipeline = load_pipeline(model, labels, threshold, nested, gpu_id=gpu_id)
    entities = pipeline.entities(pipeline(text))
    ranges = merge_spans(entities)
    if preview is not None:
        manual = {"text": text, "ents": [{"start": s, "end": e, "label": label} for s, e, label in ranges], "title": None}
        preview.parent.mkdir(parents=True, exist_ok=True)
        preview.write_bytes(_displacy([manual], "ent", {label: PREVIEW_COLOR for _, _, label in ranges}, manual=True).encode("utf8"))
        note("info", f"Preview of the {len(ranges)} replaced spans -> {preview}")
    _write_bytes(redact_text(text, ranges, placeholder).encode("utf8"), output)
    if not ranges:
        note("warn", "No entities found: the output is the input unchanged. Check --labels, or lower --threshold.")
    else:
        found = Counter(label for _, _, label in ranges)
        note("good", f"Replaced {len(ranges)} spans ({_counts(found)}){f' -> {output}' if output else ''}")


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

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    rows: List[Tuple[str, Any]] = [(name, installed(name)) for name in ("spacy-gliner", "spacy", "torch", "transformers")]
    rows.append(("CUDA available", f"yes ({torch.cuda.device_count()} GPUs)" if torch.cuda.is_available() else "no"))
    print(table(rows, header=("versions", ""), divider=True))
    if model is None:
        return
    pipeline = load_pipeline(model, [], gpu_id=gpu_id, need_labels=False)
    component = pipeline.component
    loaded = get_loaded(component.model)
    settings = loaded.settings
    encoder = (settings.encoder_config or {}).get("model_type", "?")
    rows = [
        ("model", model),
        ("component", f"{pipeline.name} ({'nested' if component.nested else 'flat'}, threshold {component.threshold})"),
        ("labels", ", ".join(component.labels) or "none (give --labels when predicting)"),
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

