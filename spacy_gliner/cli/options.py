"""The command line's options: their help, written once for every command that takes them,
and their checks, made before anything loads (the model, Ray, any worker).

Help is plain text (click's, not Rich markup, which took ``[ray]`` for a style), each
value shown by its name (``--labels LABELS``, ``SOURCE``) rather than its Python type.
"""

from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import typer
from typer.core import TyperArgument, TyperCommand

from ..architectures import DEFAULT_SOURCE
from ..config import OTHER_LABELS, Classes, GLiNERConfig, Threshold
from ..loading import PathLike, RunOptions, saved_pipeline
from ..render import check_color
from .inputs import InputError, read_json, read_labels


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class OnError(str, Enum):
    skip = "skip"
    fail = "fail"


MODEL_HELP = (
    "GLiNER checkpoint (a local folder, or a Hugging Face Hub id such as urchade/gliner_small-v2.1) or a saved spaCy"
    " pipeline with a gliner component (a folder, or an installed pipeline package as spacy.load takes it)."
)
LABELS_HELP = (
    "Entity types to find, in plain words: comma-separated (person,organization), repeated, or a file "
    "(.txt: one a line; .json: a list, or an object {label: description}: the label written on each entity, "
    "the text the model reads). "
    "Default for a saved pipeline: its component's labels."
)
THRESHOLD_HELP = (
    "Keep spans scoring above this probability (0 to 1); or per label, comma-separated LABEL=P with a bare P for the "
    f"other labels (person=0.35,0.5). Default: the component's ({GLiNERConfig.threshold} for a checkpoint)."
)
BATCH_HELP = (
    "Texts (and windows of long texts) encoded together in one forward pass. Default: the component's"
    f" ({GLiNERConfig.batch_size})."
)
NESTED_HELP = (
    "--nested: overlapping entities (doc.spans); --flat: non-overlapping (doc.ents). Default: the component's (flat for"
    " a checkpoint)."
)
GPU_HELP = "GPU to run on (spacy.require_gpu; needs CuPy), or -1 for the CPU."
SOURCE_HELP = (
    "The document: a file, a text (quoted; one word or a file-like name needs --text), or - to read standard input."
)
TEXT_HELP = "SOURCE is the text itself, never a file name (needed for a one-word text, or one shaped like a file name)."
NO_LABELS = "No labels to look for: name the entity types with --labels, e.g. --labels person,organization."


def source_argument(help: str = SOURCE_HELP) -> Any:
    return typer.Argument(..., metavar="SOURCE", help=help)


def model_option() -> Any:
    return typer.Option(DEFAULT_SOURCE, "--model", "-m", metavar="MODEL", help=MODEL_HELP)


def labels_option(more: str = "") -> Any:
    return typer.Option([], "--labels", "-l", metavar="LABELS", help=LABELS_HELP + more)


def threshold_option() -> Any:
    return typer.Option(None, "--threshold", "-t", metavar="PROBABILITY", help=THRESHOLD_HELP)


PROPAGATE_HELP = (
    "After decoding, also take every other occurrence of a found entity's exact text (exact), and for labels that "
    "name people the parts of the names found (parts: Tomeh from Nadi Tomeh; capitalised, 3 letters or more); "
    "never inside a longer word. Default: the component's (off for a checkpoint)."
)


PROPAGATE_BARE = "exact"  # what --propagate alone means


def relations_option() -> Any:
    return typer.Option(
        [],
        "--relations",
        "-r",
        metavar="TYPES",
        help=(
            "Relex and GLiNER2 models: the relation types to find between the entities, as --labels"
            ' (comma-separated, or a .txt/.json file); each record gets "relations". Default: the pipeline\'s own'
            " (none for a checkpoint)."
        ),
    )


def classes_option() -> Any:
    return typer.Option(
        [],
        "--classes",
        metavar="TASK=CHOICES",
        help=(
            "GLiNER2 models: a classification task and its choices, TASK=CHOICE,CHOICE (repeat for more tasks), or a"
            ' .json file {task: [choices]} (or {task: {"labels": [...], "multi_label": true}}); each record gets'
            ' "cats": {choice: score} for every choice. Default: the pipeline\'s own (none for a checkpoint).'
        ),
    )


def relation_threshold_option() -> Any:
    return typer.Option(
        None,
        "--relation-threshold",
        metavar="PROBABILITY",
        help=(
            "Relex and GLiNER2 models: keep relations scoring above this. Default: the pipeline's "
            "relation_threshold, else the entity threshold."
        ),
    )


def propagate_option() -> Any:
    return typer.Option(
        None, "--propagate", metavar="[exact|parts|off]", help=PROPAGATE_HELP + f" --propagate alone: {PROPAGATE_BARE}."
    )


def nested_option(more: str = "") -> Any:
    return typer.Option(None, "--nested/--flat", help=NESTED_HELP + more)


def gpu_option() -> Any:
    return typer.Option(-1, "--gpu-id", "-g", metavar="ID", help=GPU_HELP)


def text_option() -> Any:
    return typer.Option(False, "--text", help=TEXT_HELP)


def output_option(help: str) -> Any:
    return typer.Option(None, "--output", "-o", metavar="FILE", help=help)


class Command(TyperCommand):
    """A command whose help names its arguments as click does (``SOURCE``, ``[MODEL]``), not
    as typer's ``{source}`` and ``<str>``, and whose ``--propagate`` may come without a value
    (then "exact": typer's parser has no optional option values)."""

    def parse_args(self, ctx: Any, args: List[str]) -> List[str]:
        args = list(args)
        for i, arg in enumerate(args):
            if arg == "--":
                break
            if arg == "--propagate" and (i + 1 == len(args) or args[i + 1].startswith("-")):
                args[i] = f"--propagate={PROPAGATE_BARE}"
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> List[str]:
        arguments = [p for p in self.get_params(ctx) if isinstance(p, TyperArgument)]
        return [self.options_metavar or "", *(_name(p) if p.required else f"[{_name(p)}]" for p in arguments)]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        rows: Dict[str, List[Any]] = {"argument": [], "option": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                rows[param.param_type_name].append(
                    (_name(param) if isinstance(param, TyperArgument) else record[0], record[1])
                )
        for title, kind in (("Arguments", "argument"), ("Options", "option")):
            if rows[kind]:
                with formatter.section(title):
                    formatter.write_dl(rows[kind])


def _name(argument: TyperArgument) -> str:
    return argument.metavar or str(argument.name).upper()


def run_options(
    labels: List[str],
    threshold: Optional[str],
    nested: Optional[bool] = None,
    batch_size: Optional[int] = None,
    propagate: Optional[str] = None,
    relations: Optional[List[str]] = None,
    relation_threshold: Optional[float] = None,
    classes: Optional[List[str]] = None,
) -> RunOptions:
    """``--labels`` (read: words, or a .txt/.json file), ``--threshold``, ``--nested/--flat``
    ``--batch-size``, ``--propagate``, ``--relations`` (read as labels), ``--relation-threshold``
    and ``--classes`` (``parse_classes``), checked (an InputError or ValueError saying what is wrong)."""
    chosen = read_labels(labels) if labels else None
    if labels and not chosen:
        raise InputError("--labels is empty. Name the entity types to find, e.g. --labels person,organization.")
    types = read_labels(relations) if relations else None
    if relations and not types:
        raise InputError(
            "--relations is empty. Name the relation types to find, e.g. --relations member_of,located_in."
        )
    return RunOptions(
        chosen,
        None if threshold is None else parse_threshold(threshold),
        nested,
        batch_size,
        propagate,
        types,
        relation_threshold,
        parse_classes(classes) if classes else None,
    )


def parse_classes(values: List[str]) -> Classes:
    """``--classes`` values: ``TASK=CHOICE,CHOICE`` each, or a .json file with an object of
    tasks; a task given twice is refused (the choices are checked by ``RunOptions``)."""
    found: Classes = {}
    for value in values:
        task, sep, choices = (x.strip() for x in value.partition("="))
        if not sep and value.strip().lower().endswith(".json"):
            path = Path(value.strip())
            if not path.is_file():
                raise InputError(
                    f"--classes file not found: {path}. Give TASK=CHOICE,CHOICE or an existing .json file."
                )
            tasks = read_json(path)
            if not isinstance(tasks, dict):
                raise InputError(
                    f'{path} must hold an object {{task: [choices]}}, e.g. {{"sentiment": ["positive", "negative"]}}.'
                )
        elif sep and task:
            tasks = {task: [c.strip() for c in choices.split(",") if c.strip()]}
        else:
            raise InputError(
                f"--classes {value!r} is not TASK=CHOICE,CHOICE or a .json file; write e.g. --classes"
                " sentiment=positive,negative."
            )
        for name, spec in tasks.items():
            if name in found:
                raise InputError(f"--classes gives the task {name!r} twice; give each task once.")
            found[name] = spec
    return found


def parse_threshold(value: str) -> Threshold:
    """``--threshold``: ``0.3`` (all labels), or ``person=0.35,org=0.6,0.5`` ({label: P}, the bare
    number for the other labels, as the dict's ``"*"``); values are checked by ``RunOptions``."""
    found: Dict[str, Any] = {}
    for item in (part.strip() for part in value.split(",")):
        label, sep, number = (x.strip() for x in item.rpartition("="))
        key = label if sep else OTHER_LABELS
        if (sep and not label) or key in found:
            raise InputError(
                f"--threshold {value!r}: {item!r} is not LABEL=P, or gives a label (or the others) a second threshold. "
                "Write a probability (0.3), or LABEL=P pairs with a bare P for the other labels: person=0.35,0.5."
            )
        try:
            found[key] = float(number)
        except ValueError:
            raise InputError(
                f"--threshold {value!r}: {number!r} is not a number; write e.g. --threshold 0.3 or person=0.35,0.5."
            ) from None
    return found[OTHER_LABELS] if list(found) == [OTHER_LABELS] else found


def check_labels_given(model: PathLike, options: RunOptions) -> None:
    """Refuse, before it loads, a checkpoint without --labels (or --classes, for GLiNER2): it has
    none of its own (a saved pipeline may have; it is checked once loaded)."""
    if options.labels is None and options.classes is None and saved_pipeline(model) is None:
        raise InputError(f"{NO_LABELS} A GLiNER checkpoint has no labels of its own.")


def parse_colors(values: List[str]) -> Dict[str, str]:
    """``--color`` values (``LABEL=COLOUR``, repeated or comma-separated) as {LABEL: colour}."""
    colors: Dict[str, str] = {}
    for item in (part.strip() for value in values for part in value.split(",")):
        if not item:
            continue
        label, sep, value = (x.strip() for x in item.rpartition("="))
        if not sep or not label:
            raise ValueError(
                f"--color {item!r} is not LABEL=COLOUR; write e.g. --color person=red or --color date=#ffcc00."
            )
        colors[label.upper()] = check_color(value, f"--color {item!r}: ")
    return colors


def check_colors(colors: Dict[str, str], labels: Iterable[str]) -> None:
    """Refuse a ``--color`` for a label the run does not look for (a typo would be ignored)."""
    labels = list(labels)
    known = {label.upper() for label in labels}
    unknown = [label for label in colors if label not in known]
    if unknown:
        raise InputError(
            f"--color {unknown[0]}: the run looks for no such label (its labels: {', '.join(labels)}). "
            "Give a colour to the labels --labels names."
        )
