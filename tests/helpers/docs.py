"""The invariants of annotated docs, checked by the property and component tests."""

from typing import List, Optional, Sequence

import numpy as np
from spacy.tokens import Doc

from helpers.parity import fitting_ents


def assert_valid_output(
    doc: Doc, spans_key: str, threshold: float, nested: bool, allowed: Optional[Sequence[str]] = None
) -> None:
    """The invariants that every annotated doc (without entities of its own) satisfies."""
    from spacy_gliner.alignment import exact_entities

    group = doc.spans[spans_key]
    found = exact_entities(group)
    assert len(found) == len(group) == len(group.attrs["scores"])
    scores = np.asarray([e.score for e in found], dtype=np.float64)
    assert np.all(scores > threshold) and np.all(scores <= 1.0)
    for span, e in zip(group, found):
        assert 0 <= span.start < span.end <= len(doc)
        assert span.start_char == doc[span.start].idx and span.end_char == doc[span.end - 1].idx + len(
            doc[span.end - 1]
        )
        assert not doc[span.start].is_space and not doc[span.end - 1].is_space
        assert span.text.strip()
        # the span is the smallest run of tokens holding the entity's characters
        widened = doc.char_span(e.start, e.end, alignment_mode="expand")
        assert (span.start, span.end) == (widened.start, widened.end)
        if allowed is not None:
            assert span.label_ in allowed
    bounds = [(e.start, e.end) for e in found]  # entities decoded on words: the official rules, in characters
    for i, (s1, e1) in enumerate(bounds):
        for s2, e2 in bounds[i + 1 :]:
            overlap = s1 < e2 and s2 < e1
            if not nested:
                assert not overlap or (s1, e1) == (s2, e2), f"overlapping flat entities {(s1, e1)} and {(s2, e2)}"
            else:
                assert not overlap or (s1 <= s2 and e2 <= e1) or (s2 <= s1 and e1 <= e2), (
                    f"crossing entities {(s1, e1)}, {(s2, e2)}"
                )
    if not nested:
        entities = [{"start": e.start, "end": e.end, "label": e.label, "score": e.score} for e in found]
        assert [(e.start, e.end, e.label_) for e in doc.ents] == fitting_ents(doc, entities)


def spans_of(doc: Doc, key: str = "sc") -> List[tuple]:
    """A span group as (start token, end token, label)."""
    return [(s.start, s.end, s.label_) for s in doc.spans[key]]


def span_scores(doc: Doc, key: str = "sc") -> np.ndarray:
    """The scores of a span group, as float64."""
    return np.asarray(doc.spans[key].attrs["scores"], dtype=np.float64)


def spans_and_scores(doc: Doc, key: str = "sc") -> tuple:
    """A span group's (start, end, label) token spans and its scores: what a component wrote."""
    return spans_of(doc, key), doc.spans[key].attrs["scores"].tolist()


def assert_same_output(a: Doc, b: Doc, key: str = "sc", atol: float = 1e-5) -> None:
    """Identical spans; scores within ``atol`` (0: bit-identical)."""
    assert spans_of(a, key) == spans_of(b, key)
    np.testing.assert_allclose(span_scores(a, key), span_scores(b, key), rtol=0, atol=atol)
