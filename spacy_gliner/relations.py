"""Relations on the Doc: ``doc._.rel``, in spacy-llm's REL convention, with GLiNER's exact ends.

Each relation is a plain dict (so it survives ``DocBin(store_user_data=True)``,
``Doc.to_disk``/``from_disk`` and pickling to worker processes unchanged; DocBin and ``Doc.from_bytes`` give the list
back as a tuple, as msgpack reads arrays)::

    {"dep": 0, "dest": 2, "relation": "works for", "score": 0.93,
     "head": {"start_char": 0, "end_char": 10, "label": "person"},
     "tail": {"start_char": 20, "end_char": 26, "label": "organization"}}

``dep``/``dest`` index ``doc.ents`` as spacy-llm's REL task does; an end that is not in
``doc.ents`` (nested mode, or an entity that lost a conflict there) has index None. The
``head``/``tail`` character offsets are GLiNER's own, those of the official library: they
are authoritative (``doc.ents`` holds entities widened to whole tokens). The extension is
registered only if missing, so that a pipeline with spacy-llm's REL task shares it.
GLiNER2's relations use the same form, with one difference: gliner2's relation arguments are
spans of any type, so an end that is no entity found by the pipe has label None (JSONL
``"label": null``; ``render`` writes no label under it) and index None; an end that is one
has the label of the best entity found on its characters.
"""

from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from spacy.tokens import Doc

REL_ATTR = "rel"  # doc._.rel, spacy-llm's name
Relation = Dict[str, Any]


class RelationEnd(NamedTuple):
    """One end of a relation: GLiNER's characters and label (None: a GLiNER2 argument that is no
    entity found), and its tokens (the span that ``doc.ents`` holds when this entity is there)."""

    start_char: int
    end_char: int
    label: Optional[str]
    token_start: int
    token_end: int


class FoundRelation(NamedTuple):
    head: RelationEnd
    tail: RelationEnd
    relation: str
    score: float


def register_extension() -> None:
    """``doc._.rel`` (default None: nothing written; spacy-llm's REL task registers it alike),
    unless another package registered it already."""
    if not Doc.has_extension(REL_ATTR):
        Doc.set_extension(REL_ATTR, default=None)


def set_relations(doc: Doc, found: Sequence[FoundRelation]) -> None:
    """Write ``found`` in ``doc._.rel``, indexing each end into the doc's entities as they are now."""
    register_extension()
    ents = {}
    for i, ent in enumerate(doc.ents):
        ents.setdefault((ent.start, ent.end, ent.label_), i)
    setattr(doc._, REL_ATTR, [_item(r, ents) for r in found])


def relations_of(doc: Doc) -> List[Relation]:
    """The relations in ``doc._.rel`` (none where the extension is not registered)."""
    return list(getattr(doc._, REL_ATTR) or []) if Doc.has_extension(REL_ATTR) else []


def _item(r: FoundRelation, ents: Dict[tuple, int]) -> Relation:
    def index(end: RelationEnd) -> Any:
        return ents.get((end.token_start, end.token_end, end.label))

    def chars(end: RelationEnd) -> Dict[str, Any]:
        return {"start_char": end.start_char, "end_char": end.end_char, "label": end.label}

    return {
        "dep": index(r.head),
        "dest": index(r.tail),
        "relation": r.relation,
        "score": float(r.score),
        "head": chars(r.head),
        "tail": chars(r.tail),
    }
