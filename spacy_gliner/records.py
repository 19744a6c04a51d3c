"""Records: each entity as ``spacy-gliner predict``, Ray and :class:`loading.Pipeline` write it,
and why an input record has no text to read.

An entity record is ``{"start", "end", "text", "label", "score"}``: GLiNER's own character
offsets into the text (those of the official ``predict_entities``, not widened to tokens),
the characters themselves, the label written on the span, and the score rounded to
:data:`SCORE_DIGITS` decimals (the span group's attrs keep the full float); an entity taken by
propagation also has ``"propagated"``: the found text it was taken from (Arrow columns leave it out). A record's
entities are under :data:`ENTITIES`, in JSON lines, DocBin metadata and Arrow columns
(:func:`arrow_type`) alike. The core's ``model.search.predict_entities`` keeps the official
library's unrounded floats: it is the official call for parity checks, not a record.
"""

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from spacy.tokens import Doc

from .alignment import ENDS, LABELS, PROPAGATED, STARTS, exact_entities
from .relations import relations_of

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

ENTITIES = "entities"  # the key (and column) of a record's entities
FIELDS = ("start", "end", "text", "label", "score")  # the keys of an entity record, in order
# an entity taken by propagation (the ``propagate`` setting) also has this key: the found text it was taken from
PROPAGATED_KEY = "propagated"
SCORE_DIGITS = 4
EntityRecord = Dict[str, Any]
RELATIONS = "relations"  # the key of a record's relations (relex models)
RelationRecord = Dict[str, Any]  # {"label", "score", "head": {"start", "end", "text", "label"}, "tail": {...}}
CATS = "cats"  # the key of a record's classes: {choice: score}, spaCy's doc.cats
ANNOTATIONS = (ENTITIES, RELATIONS, CATS)  # what an annotated record gains, in this order


def entity_records(doc: Doc, spans_key: str) -> List[EntityRecord]:
    """The gliner component's entities in ``doc.spans[spans_key]`` (none where there is no such
    group), as records. Linear in the document: ``doc.text`` is built once, not per entity.
    Raises ``ValueError`` where a later component invalidated the group (``merge_entities``)."""
    if spans_key not in doc.spans:
        return []
    group = doc.spans[spans_key]
    found = exact_entities(group)
    text = doc.text if found else ""
    records = [
        dict(zip(FIELDS, (e.start, e.end, text[e.start : e.end], e.label, round(e.score, SCORE_DIGITS)))) for e in found
    ]
    if PROPAGATED in group.attrs:
        sources = dict(zip(zip(group.attrs[STARTS], group.attrs[ENDS], group.attrs[LABELS]), group.attrs[PROPAGATED]))
        for record in records:
            source = sources.get((record["start"], record["end"], record["label"]))
            if source is not None:
                record[PROPAGATED_KEY] = source
    return records


def relation_records(doc: Doc) -> Optional[List[RelationRecord]]:
    """The relations in ``doc._.rel`` (``relations``) as records: ``{"label", "score", "head",
    "tail"}``, each end ``{"start", "end", "text", "label"}`` at GLiNER's characters, the score
    rounded as an entity's; an end's label is null where it is no entity found (GLiNER2, see
    ``relations``). None where nothing was written (no relex model, or no relation types)."""
    if getattr(doc._, "rel", None) is None:
        return None
    text = doc.text

    def end(e: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "start": e["start_char"],
            "end": e["end_char"],
            "text": text[e["start_char"] : e["end_char"]],
            "label": e["label"],
        }

    return [
        {
            "label": r["relation"],
            "score": round(r["score"], SCORE_DIGITS),
            "head": end(r["head"]),
            "tail": end(r["tail"]),
        }
        for r in relations_of(doc)
    ]


def cat_records(doc: Doc) -> Optional[Dict[str, float]]:
    """``doc.cats`` as a record's classes, {choice: score} with scores rounded as an entity's;
    None where no component wrote any."""
    if not doc.cats:
        return None
    return {choice: round(float(score), SCORE_DIGITS) for choice, score in doc.cats.items()}


def annotations(doc: Doc, spans_key: str) -> Dict[str, Any]:
    """What a record gains from its annotated doc: its entities (always), its relations and its
    classes where a component wrote them (:data:`ANNOTATIONS`)."""
    found: Dict[str, Any] = {ENTITIES: entity_records(doc, spans_key)}
    relations, cats = relation_records(doc), cat_records(doc)
    if relations is not None:
        found[RELATIONS] = relations
    if cats is not None:
        found[CATS] = cats
    return found


def arrow_type(key: str = ENTITIES) -> "pyarrow.DataType":
    """The Arrow type of a record's annotation ``key`` (:data:`ANNOTATIONS`). Entities: a list
    of structs of :data:`FIELDS`. Relations: a list of structs of label, score, head and tail
    (each a struct of start, end, text, label). Classes: a map of string to float64, not a
    struct: choices are data (any strings, a different set per pipeline), so every pipeline's
    classes have one type, which Parquet stores and reads back as (choice, score) pairs."""
    import pyarrow as pa

    if key == CATS:
        return pa.map_(pa.string(), pa.float64())
    end = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("text", pa.string()), ("label", pa.string())])
    if key == RELATIONS:
        return pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64()), ("head", end), ("tail", end)]))
    return pa.list_(pa.struct(list(zip(FIELDS, (pa.int64(), pa.int64(), pa.string(), pa.string(), pa.float64())))))


def missing_text(value: Any, key: str, unit: str) -> str:
    """Why a record or line (``unit``) has no text to read: ``value`` is what it holds under
    ``key`` (None: nothing, or null; Arrow gives None for a missing field too)."""
    found = "no" if value is None else f"a non-string ({type(value).__name__})"
    return f"{found} {key!r} value; each {unit} needs a text under {key!r} (see --text-key)"
