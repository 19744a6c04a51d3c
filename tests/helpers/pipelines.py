"""Building blank pipelines with a gliner component, and the sentences most tests read."""

from pathlib import Path
from typing import Any, Dict, Sequence, Union

import spacy
from spacy.language import Language

LABELS = ["person", "organization", "location"]
THRESHOLD = 0.3  # for the reference checkpoint: a weak model, its scores sit below 0.5
SENTENCE = "Barack Obama visited Microsoft in Seattle."
SENTENCES = [
    SENTENCE,
    "Angela Merkel met Emmanuel Macron in Paris on Monday.",
    "Apple and Google opened offices in London and Berlin.",
    "The United Nations held a meeting in Geneva with Kofi Annan.",
    "Tim Cook flew from San Francisco to Tokyo for Sony.",
]


def gliner_pipeline(
    model: Path, labels: Union[Sequence[str], Dict[str, str]] = tuple(LABELS), lang: str = "en", **config: Any
) -> Language:
    """A blank ``lang`` pipeline with one gliner component on the checkpoint folder ``model``."""
    nlp = spacy.blank(lang)
    nlp.add_pipe(
        "gliner", config={"model": str(model), "labels": labels if isinstance(labels, dict) else list(labels), **config}
    )
    return nlp
