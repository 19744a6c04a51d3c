"""Entity records of one large document: ``Pipeline.entities`` against the old way, same run.

``predict``, ``redact`` and the Ray workers turn each annotated document into records
(start, end, text, label, score) with ``loading.Pipeline.entities``. The old code read
``doc.text`` once per entity, and spaCy builds ``doc.text`` from every token on each read:
quadratic in the document (a 2.1 MB one-line document did not finish ``redact`` in 15
minutes). Now the text is built once.

The document: CoNLL-2003 test sentences joined on one line up to ``--megabytes``, tokenized
by ``spacy.blank("en")``; its entities are the sentences' gold entities, placed by the
component itself (``set_annotations`` with word candidates at those entities, so the span
group is what a prediction writes) without running the network. The old way is timed on
its first ``--old-entities`` records and extrapolated to all of them (each of its records
costs one ``doc.text``), since running it to the end takes hours.

    python benchmarks/bench_entity_records.py --megabytes 0.5 2
"""

import argparse
import json
import time
from typing import Any, Dict, List, Tuple

import numpy as np
import spacy
from _paths import DATA, REF  # noqa: E402
from spacy.tokens import Doc

from spacy_gliner.alignment import doc_words, exact_offsets
from spacy_gliner.component import DocPrediction
from spacy_gliner.loading import Pipeline
from spacy_gliner.model.decoding import Candidates

LABELS = ["location", "organization", "person", "else"]


def document(megabytes: float) -> Tuple[str, List[Tuple[int, int, str]]]:
    """One line of CoNLL test sentences, and their gold entities (start, end, type) in it."""
    items = json.loads((DATA / "benchmarks" / "conll2003" / "test.json").read_text(encoding="utf8"))
    parts, entities, offset, i = [], [], 0, 0
    while offset < megabytes * 1_000_000:
        item = items[i % len(items)]
        parts.append(item["sentence"])
        entities += [(offset + a, offset + b, e["type"]) for e in item["entities"] for a, b in [e["pos"]]]
        offset += len(item["sentence"]) + 1
        i += 1
    return " ".join(parts), entities


def annotate(pipeline: Pipeline, doc: Doc, entities: List[Tuple[int, int, str]]) -> None:
    """Write the entities into ``doc`` as the component does, from word candidates at them."""
    words = doc_words(doc)
    first = np.searchsorted(words.char_starts, [a for a, _, _ in entities])
    last = np.searchsorted(words.char_ends, [b for _, b, _ in entities])
    kept = (words.char_starts[first] == [a for a, _, _ in entities]) & (
        words.char_ends[last] == [b for _, b, _ in entities]
    )
    labels = np.asarray([LABELS.index(t) for _, _, t in entities])
    scores = np.random.default_rng(0).uniform(0.5, 1.0, len(entities))
    cands = Candidates(first[kept], last[kept], labels[kept], scores[kept]).canonical()
    pipeline.component.set_annotations([doc], [DocPrediction(cands, list(LABELS), words)])


def old_records(pipeline: Pipeline, doc: Doc, limit: int) -> List[Dict[str, Any]]:
    """The old ``Pipeline.entities``: ``doc.text`` read for every record (first ``limit`` only)."""
    group = doc.spans[pipeline.component.spans_key]
    scores = group.attrs["scores"]
    out = []
    for s, (a, b), p in zip(group, exact_offsets(group), scores):
        if len(out) == limit:
            break
        out.append({"start": a, "end": b, "text": doc.text[a:b], "label": s.label_, "score": round(float(p), 4)})
    return out


def run(megabytes: float, old_entities: int) -> None:
    text, entities = document(megabytes)
    nlp = spacy.blank("en")
    nlp.max_length = len(text) + 1
    nlp.add_pipe("gliner", config={"model": str(REF), "labels": LABELS})
    pipeline = Pipeline(nlp, "gliner")
    started = time.perf_counter()
    doc = nlp.make_doc(text)
    tokenized = time.perf_counter() - started
    started = time.perf_counter()
    annotate(pipeline, doc, entities)
    placed = time.perf_counter() - started
    started = time.perf_counter()
    records = pipeline.entities(doc)
    new = time.perf_counter() - started
    started = time.perf_counter()
    old = old_records(pipeline, doc, old_entities)
    old_part = time.perf_counter() - started
    assert old == records[: len(old)]
    old_all = old_part / len(old) * len(records)
    print(f"{megabytes:g} MB: {len(text):,} characters on one line, {len(doc):,} tokens, {len(records):,} entities")
    print(f"  tokenize {tokenized:.2f} s; decode and place (set_annotations) {placed:.2f} s")
    print(f"  records, now:     {new:.3f} s")
    print(
        f"  records, old way: {old_part:.2f} s for {len(old)} records -> {old_all:,.0f} s for all {len(records):,}"
        f" (extrapolated), {old_all / new:,.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--megabytes", type=float, nargs="+", default=[0.5, 2.0], help="sizes of the one-line documents"
    )
    parser.add_argument(
        "--old-entities", type=int, default=100, help="records of the old way to time (then extrapolated)"
    )
    args = parser.parse_args()
    for megabytes in args.megabytes:
        run(megabytes, args.old_entities)


if __name__ == "__main__":
    main()
