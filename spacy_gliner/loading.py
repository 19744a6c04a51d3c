"""Pipelines from what a user names as "the model", and back to an official checkpoint.

The command line, Ray workers and the zero-shot evaluation take one argument for the
model (:func:`load_pipeline`): a saved spaCy pipeline, a folder or an installed package as
``spacy.load`` takes them (used as it is, with its own tokenizer), or a GLiNER checkpoint
(a folder or Hub id, put into a blank English pipeline whose tokenizer cuts GLiNER's
words, or GLiNER2's for a GLiNER2 checkpoint, so that its ``doc.ents`` carry the official
library's character offsets).
:class:`RunOptions` are one run's labels, threshold and settings, checked when made.
``export`` writes a pipeline's component as a checkpoint folder.
"""

import importlib.util
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .architectures import get_loaded, is_gliner2_model, save_checkpoint
from .component import GLiNERComponent
from .config import (
    Classes,
    Labels,
    Threshold,
    check_classes,
    check_flag,
    check_labels,
    check_positive,
    check_propagate,
    check_relation_threshold,
    check_threshold,
    check_threshold_labels,
)
from .records import EntityRecord, annotations, entity_records

PathLike = Union[str, Path]


def gliner_tokenizer(words: str = "gliner") -> Dict[str, Any]:
    """The config of a blank pipeline whose tokens are GLiNER's (or GLiNER2's) words (``tokenizer``)."""
    return {"nlp": {"tokenizer": {"@tokenizers": "spacy_gliner.Tokenizer.v1", "words": words}}}


GLINER_TOKENIZER = gliner_tokenizer()


@dataclass(frozen=True)
class RunOptions:
    """One run's settings over the component's (None: the component's own), checked when
    made: the command line and ``scale.annotate`` make them once, before anything loads or
    any worker starts. Labels are kept as {label: description}."""

    labels: Optional[Labels] = None
    threshold: Optional[Threshold] = None
    nested: Optional[bool] = None
    batch_size: Optional[int] = None
    propagate: Optional[str] = None
    relations: Optional[Labels] = None  # relex and GLiNER2 models: relation types
    relation_threshold: Optional[float] = None
    classes: Optional[Classes] = None  # GLiNER2 models: {task: [choices]}

    def __post_init__(self) -> None:
        checks = {"labels": check_labels, "threshold": check_threshold, "nested": partial(check_flag, "nested")}
        checks["batch_size"] = partial(check_positive, "batch_size")
        checks["propagate"] = check_propagate
        checks["relations"] = check_labels
        checks["relation_threshold"] = check_relation_threshold
        checks["classes"] = check_classes
        for name, check in checks.items():
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check(getattr(self, name)))
        if self.labels is not None and self.threshold is not None:
            check_threshold_labels(self.threshold, list(self.labels), "--threshold")


def saved_pipeline(model: PathLike) -> Optional[Union[str, Path]]:
    """What ``spacy.load`` takes for ``model`` when it names a saved spaCy pipeline: a folder
    with a config.cfg, or the name of an installed pipeline package (found without importing
    it); None when it names a GLiNER checkpoint (a folder or a Hub id)."""
    path = Path(model).expanduser()
    if (path / "config.cfg").is_file():
        return path
    name = str(model)
    if name.isidentifier() and spacy.util.is_package(name):
        try:
            spec = importlib.util.find_spec(name)  # a top-level name: found, not run
        except (ImportError, ValueError):
            spec = None
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        if folders and (Path(folders[0]) / "meta.json").is_file():  # what `spacy package` writes
            return name
    return None


def _language(model: PathLike) -> Tuple[Language, str]:
    """The pipeline for ``model`` and the name of its (first) gliner component.

    Raises ``ValueError`` (``CheckpointError`` for checkpoints) saying what is wrong.
    """
    from .model.checkpoint import CONFIG_FILE, is_gliner2, resolve
    from .model.gliner2.settings import CONFIG_FILE as GLINER2_CONFIG

    saved = saved_pipeline(model)
    if saved is not None:
        try:
            nlp = spacy.load(saved)
        except Exception as err:  # spaCy raises many types for broken or foreign pipelines
            raise ValueError(f"Cannot load the spaCy pipeline {saved} ({type(err).__name__}: {err}).") from err
        names = [name for name in nlp.pipe_names if isinstance(nlp.get_pipe(name), GLiNERComponent)]
        if not names:
            raise ValueError(
                f"The pipeline {saved} has no gliner component (its components: {', '.join(nlp.pipe_names) or 'none'})."
            )
        return nlp, names[0]
    path = Path(model).expanduser()
    if path.is_dir() and not any((path / name).is_file() for name in (CONFIG_FILE, GLINER2_CONFIG)):
        raise ValueError(
            f"{path} is neither a GLiNER checkpoint (no {CONFIG_FILE}; GLiNER2: no {GLINER2_CONFIG}) nor a saved spaCy"
            " pipeline (no config.cfg)."
        )
    words = "gliner2" if is_gliner2(resolve(model, None)) else "gliner"  # a Hub id: downloaded (or cached) now
    nlp = spacy.blank("en", config=gliner_tokenizer(words))  # tokens == the model's words: exact offsets everywhere
    nlp.add_pipe("gliner", config={"model": str(model)})
    return nlp, "gliner"


@dataclass
class Pipeline:
    """A pipeline with a gliner component, and the options of one run: what every command
    line path (one process, or Ray workers) annotates with."""

    nlp: Language
    name: str
    options: RunOptions = RunOptions()

    @property
    def component(self) -> GLiNERComponent:
        return self.nlp.get_pipe(self.name)

    @property
    def cfg(self) -> Dict[str, Dict[str, Any]]:
        """Per-call settings of the gliner component (nlp.pipe's ``component_cfg``)."""
        kwargs = {
            name: getattr(self.options, name)
            for name in ("labels", "threshold", "relations", "relation_threshold", "classes")
        }
        return {self.name: {name: value for name, value in kwargs.items() if value is not None}}

    def __call__(self, text: str) -> Doc:
        return self.nlp(text, component_cfg=self.cfg)

    def pipe(self, items: Iterable[Tuple[str, Any]], batch_size: int) -> Iterator[Tuple[Doc, Any]]:
        return self.nlp.pipe(items, as_tuples=True, batch_size=batch_size, component_cfg=self.cfg)

    def entities(self, doc: Doc) -> List[EntityRecord]:
        """The component's entities as records (:func:`records.entity_records`)."""
        return entity_records(doc, self.component.spans_key)

    def annotations(self, doc: Doc) -> Dict[str, Any]:
        """The doc's entities, and its relations and classes where written, as a record's keys
        (:func:`records.annotations`)."""
        return annotations(doc, self.component.spans_key)


def load_pipeline(model: PathLike, options: RunOptions = RunOptions()) -> Pipeline:
    """The pipeline of ``model`` (a saved pipeline folder or package, or a GLiNER checkpoint
    folder or Hub id), weights loaded, with this run's ``options``. Raises ``ValueError``
    saying what is wrong."""
    nlp, name = _language(model)
    pipeline = Pipeline(nlp, name, options)
    component = pipeline.component
    loaded = component._loaded(classes=options.classes)  # --classes on a GLiNER model: refused here
    relations = is_gliner2_model(loaded) or loaded.settings.relex
    if (options.relations is not None or options.relation_threshold is not None) and not relations:
        raise ValueError(
            f"--relations and --relation-threshold need a relation-extraction (relex) GLiNER model or a GLiNER2"
            f" model; {model} is a {loaded.settings.family} model, which finds entities only."
        )
    if options.relation_threshold is not None and not (options.relations or component.relations):
        raise ValueError(
            "--relation-threshold is the threshold of relations, but no relation types are looked for: name them"
            " with --relations (or save the pipeline with its own relations)."
        )
    if options.labels is None and options.threshold is not None:  # the pipeline's own labels, known now
        check_threshold_labels(options.threshold, component.labels, "--threshold")
    if options.nested is not None:
        component.nested = options.nested
    if options.batch_size is not None:
        component.batch_size = options.batch_size
    if options.propagate is not None:
        component.propagate = options.propagate
    nlp.max_length = sys.maxsize  # the component windows long documents
    return pipeline


def export(nlp_or_path: Union[Language, PathLike], component_name: str, out_dir: PathLike) -> Path:
    """Write a pipeline's GLiNER component as an official checkpoint folder.

    ``gliner.GLiNER.from_pretrained(out_dir)`` loads it and predicts as the component
    does (a GLiNER2 component: a gliner2 checkpoint folder); ``nlp_or_path`` is a loaded
    pipeline or the folder of a saved one.
    """
    nlp = spacy.load(nlp_or_path) if isinstance(nlp_or_path, (str, Path)) else nlp_or_path
    if component_name not in nlp.component_names:
        raise ValueError(f"The pipeline has no component {component_name!r}; it has {nlp.component_names}.")
    component = nlp.get_pipe(component_name)
    if not isinstance(component, GLiNERComponent):
        raise ValueError(f"The component {component_name!r} is a {type(component).__name__}, not a gliner component.")
    return save_checkpoint(get_loaded(component.model), out_dir)
