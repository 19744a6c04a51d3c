"""A stand-in for a component that writes classes (``doc.cats``): spaCy's own ``textcat``,
untrained (random, seeded weights; its zero-initialised layers made random too, so that scores
differ from text to text), so that a saved pipeline holding it loads in any process (a Ray
worker too) without a test's registrations."""

from typing import Sequence

import numpy
import spacy
from spacy.language import Language

CHOICES = ("long", "short")


def add_textcat(nlp: Language, choices: Sequence[str] = CHOICES, seed: int = 0) -> Language:
    """``nlp`` with a ``textcat`` component last, initialised on ``choices``: every doc gets
    ``doc.cats`` = {choice: score}."""
    spacy.util.fix_random_seed(seed)
    source = spacy.blank(nlp.lang)
    textcat = source.add_pipe("textcat")
    for choice in choices:
        textcat.add_label(choice)
    source.initialize()
    state = numpy.random.default_rng(seed)
    for node in textcat.model.walk():
        for name in node.param_names:
            if node.has_param(name) and not node.get_param(name).any():
                value = node.get_param(name)
                node.set_param(name, state.normal(0, 0.05, value.shape).astype(value.dtype))
    nlp.add_pipe("textcat", source=source)
    return nlp
