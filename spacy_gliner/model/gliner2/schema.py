"""What to extract with a GLiNER2 model: entity types, classification tasks, relation types.

``Schema.build`` takes the forms gliner2's ``Schema`` builder takes (lists of names, or
``{name: description}``, or ``{name: {"description": ..., "threshold": ...}}``; classes as
``{task: [choices]}``, ``{task: {choice: description}}`` or ``{task: {"labels": ...,
"multi_label": ..., "cls_threshold": ...}}``) and checks them, with a message that says what
to change. ``Schema.prompts`` writes the tasks as gliner2's schema tokens, in its task
order (entities, then each relation type, then each classification task): the model reads
all of them with the text in one pass. Torch-free.
"""

import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

# gliner2's special tokens (its SchemaTransformer adds them to the tokenizer in this order)
SEP_STRUCT, SEP_TEXT, P_TOKEN, C_TOKEN, E_TOKEN, R_TOKEN, L_TOKEN = (
    "[SEP_STRUCT]",
    "[SEP_TEXT]",
    "[P]",
    "[C]",
    "[E]",
    "[R]",
    "[L]",
)
SPECIAL_TOKENS = (
    SEP_STRUCT,
    SEP_TEXT,
    P_TOKEN,
    C_TOKEN,
    E_TOKEN,
    R_TOKEN,
    L_TOKEN,
    "[EXAMPLE]",
    "[OUTPUT]",
    "[DESCRIPTION]",
)
DESCRIPTION = " [DESCRIPTION] "
ENTITIES = "entities"  # the name of gliner2's entity task
RELATION_FIELDS = ("head", "tail")


@dataclass(frozen=True)
class EntityType:
    name: str
    description: Optional[str] = None
    threshold: Optional[float] = None  # None: the threshold of the call


@dataclass(frozen=True)
class RelationType:
    name: str
    description: Optional[str] = None
    threshold: Optional[float] = None


@dataclass(frozen=True)
class ClassTask:
    name: str
    choices: Tuple[str, ...]
    descriptions: Tuple[Tuple[str, str], ...] = ()  # (choice, description), in the given order
    multi_label: bool = False
    threshold: float = 0.5  # multi-label: choices at or above it are chosen (else the best one)


@dataclass(frozen=True)
class Task:
    """One task of the prompt: its kind ("entities", "relation", "classification"), name,
    fields (entity types, head/tail, choices) and gliner2 schema tokens."""

    kind: str
    name: str
    fields: Tuple[str, ...]
    tokens: Tuple[str, ...]

    @property
    def is_span_task(self) -> bool:
        """Entities and relations are read from spans; classification from its markers."""
        return self.kind != "classification"


@dataclass(frozen=True)
class Schema:
    entities: Tuple[EntityType, ...] = ()
    classes: Tuple[ClassTask, ...] = ()
    relations: Tuple[RelationType, ...] = ()

    @classmethod
    def build(
        cls, entities: Any = None, classes: Any = None, relations: Any = None, structures: Any = None
    ) -> "Schema":
        """A checked schema from the forms gliner2's builder takes (see the module's doc)."""
        if structures:
            raise ValueError(
                "Structured records (gliner2's Schema.structure(...) fields) are not supported by spacy-gliner yet; "
                "ask for entities, classes and relations."
            )
        schema = cls(
            tuple(_typed("entity type", entities, EntityType)),
            tuple(_class_tasks(classes)),
            tuple(_typed("relation type", relations, RelationType)),
        )
        if not (schema.entities or schema.classes or schema.relations):
            raise ValueError("The schema asks for nothing: give entity types, classes or relation types.")
        names = [t.name for t in schema.classes]
        clash = sorted(
            {n for n in names if names.count(n) > 1}
            | ({ENTITIES} & set(names) | {ENTITIES} & {r.name for r in schema.relations})
        )
        if clash:
            raise ValueError(
                f"Task names must be unique and may not be {ENTITIES!r} (gliner2's entity task):"
                f" {', '.join(map(repr, clash))}."
            )
        return schema

    def tasks(self) -> List[Task]:
        """The prompt's tasks in gliner2's order, each with its schema tokens."""
        out = []
        if self.entities:
            descriptions = [(e.name, e.description) for e in self.entities if e.description is not None]
            fields = tuple(e.name for e in self.entities)
            out.append(Task(ENTITIES, ENTITIES, fields, _tokens(ENTITIES + _described(descriptions), E_TOKEN, fields)))
        for r in self.relations:
            prompt = f"{r.name}: {r.description}" if r.description else r.name
            out.append(Task("relation", r.name, RELATION_FIELDS, _tokens(prompt, R_TOKEN, RELATION_FIELDS)))
        for c in self.classes:
            out.append(
                Task(
                    "classification",
                    c.name,
                    c.choices,
                    _tokens(c.name + _described(c.descriptions), L_TOKEN, c.choices),
                )
            )
        return out

    def entity_thresholds(self, default: float) -> Dict[str, float]:
        return {e.name: default if e.threshold is None else e.threshold for e in self.entities}

    def relation_thresholds(self, default: float) -> Dict[str, float]:
        return {r.name: default if r.threshold is None else r.threshold for r in self.relations}


def _tokens(prompt: str, marker: str, fields: Sequence[str]) -> Tuple[str, ...]:
    """gliner2's schema tokens: ( [P] prompt ( marker field marker field ... ) )."""
    tokens = ["(", P_TOKEN, prompt, "("]
    for name in fields:
        tokens += [marker, name]
    return tuple(tokens + [")", ")"])


def _described(descriptions: Sequence[Tuple[str, Optional[str]]]) -> str:
    return "".join(f"{DESCRIPTION}{name}: {text}" for name, text in descriptions)


def _name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"Each {kind} must be a non-empty string, not {name!r}.")
    return name


def check_threshold(value: Any, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise ValueError(f"The threshold of {what} must be a number from 0 to 1, not {value!r}.")
    return float(value)


def _typed(kind: str, given: Any, make: Any) -> List[Any]:
    """Entity or relation types from a name, a list of names or a mapping of name to options.

    Repeated names keep their first place, as gliner2's builder does."""
    if given is None:
        return []
    if isinstance(given, str):
        given = [given]
    if isinstance(given, Mapping):
        items = list(given.items())
    elif isinstance(given, Sequence):
        items = [(name, None) for name in given]
    else:
        raise TypeError(
            f"The {kind}s must be a list of names or a mapping of name to description, not {type(given).__name__}."
        )
    out: Dict[str, Any] = {}
    for name, options in items:
        name = _name(kind, name)
        if options is None or isinstance(options, str):
            options = {} if options is None else {"description": options}
        if not isinstance(options, Mapping) or set(options) - {"description", "threshold"}:
            raise ValueError(
                f"The {kind} {name!r} takes a description (a string) or a mapping with 'description' and "
                f"'threshold', not {options!r}."
            )
        description = options.get("description")
        if description is not None and not isinstance(description, str):
            raise ValueError(f"The description of the {kind} {name!r} must be a string, not {description!r}.")
        threshold = options.get("threshold")
        if threshold is not None:
            threshold = check_threshold(threshold, f"the {kind} {name!r}")
        out.setdefault(name, make(name, description, threshold))
    return list(out.values())


def _class_tasks(given: Any) -> List[ClassTask]:
    if given is None:
        return []
    if not isinstance(given, Mapping):
        raise TypeError(f"Classes must be a mapping of task name to choices, not {type(given).__name__}.")
    out = []
    for task, spec in given.items():
        task = _name("classification task", task)
        options: Mapping[str, Any] = {}
        if isinstance(spec, Mapping) and "labels" in spec:
            options, spec = spec, spec["labels"]
            unknown = set(options) - {"labels", "multi_label", "cls_threshold"}
            if unknown:
                raise ValueError(f"The classification task {task!r} has unknown options: {', '.join(sorted(unknown))}.")
        if isinstance(spec, Mapping):
            choices = [_name("choice", c) for c in spec]
            descriptions = tuple((c, _description(task, c, d)) for c, d in spec.items())
        elif isinstance(spec, Sequence) and not isinstance(spec, str):
            choices, descriptions = [_name("choice", c) for c in spec], ()
        else:
            raise ValueError(
                f"The choices of the classification task {task!r} must be a list or a mapping, not {spec!r}."
            )
        if not choices or len(set(choices)) != len(choices):
            raise ValueError(
                f"The classification task {task!r} needs at least one choice and no repeated ones: {choices!r}."
            )
        multi = options.get("multi_label", False)
        if not isinstance(multi, bool):
            raise ValueError(f"multi_label of the classification task {task!r} must be true or false, not {multi!r}.")
        if len(choices) == 1 and not multi:  # a softmax over one choice: always 1.0, whatever the text
            raise ValueError(
                f"The classification task {task!r} has one choice, {choices[0]!r}: a single-label task scores it 1.0"
                " whatever the text. Give two choices or more, or make it multi-label"
                f" ({json.dumps({task: {'labels': choices, 'multi_label': True}})}: a yes/no score)."
            )
        threshold = check_threshold(options.get("cls_threshold", 0.5), f"the classification task {task!r}")
        out.append(ClassTask(task, tuple(choices), descriptions, multi, threshold))
    return out


def _description(task: str, choice: str, text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError(f"The description of the choice {choice!r} of {task!r} must be a string, not {text!r}.")
    return text
