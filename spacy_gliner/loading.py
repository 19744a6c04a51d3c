"""Pipelines from what a user names as "the model", and back to an official checkpoint.

The command line and the zero-shot evaluation take one argument for the model: a saved
spaCy pipeline folder (used as it is, with its own tokenizer) or a GLiNER checkpoint (a
folder or Hub id, put into a blank English pipeline whose tokenizer cuts GLiNER's words,
so that its ``doc.ents`` carry the official library's character offsets). ``export`` writes a pipeline's component as a checkpoint folder.
"""
from pathlib import Path
from typing import Tuple, Union

import spacy
from spacy.language import Language

from .architectures import get_loaded
from .component import GLiNERComponent

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
