"""Pipelines from what a user names as "the model", and back to an official checkpoint.

The command line and the zero-shot evaluation take one argument for the model: a saved
spaCy pipeline folder (used as it is, with its own tokenizer) or a GLiNER checkpoint (a
folder or Hub id, put into a blank English pipeline whose tokenizer cuts GLiNER's words,
so that its ``doc.ents`` carry the official library's character offsets). ``export`` writes a pipeline's component as a checkpoint folder.
"""
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .architectures import get_loaded
from .component import GLiNERComponent
from .config import Labels, check_labels, check_threshold

PathLike = Union[str, Path]
# the config of a blank pipeline whose tokens are GLiNER's words (spacy_gliner.tokenizer)
GLINER_TOKENIZER = {"nlp": {"tokenizer": {"@tokenizers": "spacy_gliner.Tokenizer.v1"}}}


def load_gliner_pipeline(model: PathLike) -> Tuple[Language, str]:
    """The pipeline for ``model`` and the name of its (first) gliner component.

    Raises ``ValueError`` (``CheckpointError`` for checkpoints) saying what is wrong.
    """
    from .model.checkpoint import CONFIG_FILE

    path = Path(model).expanduser()
    if (path / "config.cfg").is_file():
        try:
            nlp = spacy.load(path)
        except Exception as err:  # spaCy raises many types for broken or foreign pipelines
            raise ValueError(f"Cannot load the spaCy pipeline in {path} ({type(err).__name__}: {err}).") from err
        names = [name for name in nlp.pipe_names if isinstance(nlp.get_pipe(name), GLiNERComponent)]
        if not names:
            raise ValueError(f"The pipeline in {path} has no gliner component (its components: {', '.join(nlp.pipe_names) or 'none'}).")
        return nlp, names[0]
    if path.is_dir() and not (path / CONFIG_FILE).is_file():
        raise ValueError(f"{path} is neither a GLiNER checkpoint (no {CONFIG_FILE}) nor a saved spaCy pipeline (no config.cfg).")
    nlp = spacy.blank("en", config=GLINER_TOKENIZER)  # tokens == GLiNER's words: exact offsets everywhere
    nlp.add_pipe("gliner", config={"model": str(model)})
    return nlp, "gliner"


@dataclass
class Pipeline:
    """A pipeline with a gliner component, and the labels and threshold of one run: what
    every command line path (one process, or Ray workers) annotates with."""

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
        """The component's entities at GLiNER's own characters (not widened to tokens): start,
        end, text, label and score, as the official ``predict_entities`` gives them. Linear in
        the document: ``doc.text`` is built once, not per entity."""
        from .alignment import exact_entities

        key = self.component.spans_key
        if key not in doc.spans:
            return []
        found = exact_entities(doc.spans[key])
        text = doc.text if found else ""
        return [{"start": e.start, "end": e.end, "text": text[e.start : e.end], "label": e.label, "score": round(e.score, 4)} for e in found]


def open_pipeline(
    model: PathLike,
    labels: Optional[Labels] = None,
    threshold: Optional[float] = None,
    nested: Optional[bool] = None,
    batch_size: Optional[int] = None,
) -> Pipeline:
    """The pipeline of ``model``, weights loaded, with this run's settings (None: the
    component's). Raises ``ValueError`` saying what is wrong."""
    if labels is not None:
        check_labels(labels)
    if threshold is not None:
        threshold = check_threshold(threshold)
    nlp, name = load_gliner_pipeline(model)
    pipeline = Pipeline(nlp, name, labels, threshold)
    component = pipeline.component
    get_loaded(component.model)
    if nested is not None:
        component.nested = nested
    if batch_size is not None:
        component.batch_size = batch_size
    nlp.max_length = sys.maxsize  # the component windows long documents
    return pipeline


def export(nlp_or_path: Union[Language, PathLike], component_name: str, out_dir: PathLike) -> Path:
    """Write a pipeline's GLiNER component as an official checkpoint folder.

    ``gliner.GLiNER.from_pretrained(out_dir)`` loads it and predicts as the component
    does; ``nlp_or_path`` is a loaded pipeline or the folder of a saved one.
    """
    from .model import checkpoint

    nlp = spacy.load(nlp_or_path) if isinstance(nlp_or_path, (str, Path)) else nlp_or_path
    if component_name not in nlp.component_names:
        raise ValueError(f"The pipeline has no component {component_name!r}; it has {nlp.component_names}.")
    component = nlp.get_pipe(component_name)
    if not isinstance(component, GLiNERComponent):
        raise ValueError(f"The component {component_name!r} is a {type(component).__name__}, not a gliner component.")
    return checkpoint.save(get_loaded(component.model), out_dir)
