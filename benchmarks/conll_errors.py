"""Where a trained pipeline goes wrong on a gold DocBin: error kinds, type confusions, all-caps text.

Each gold entity that is not predicted exactly is counted once: ``type`` (same span, other
label), ``boundary`` (an overlapping prediction with other edges) or ``missed`` (nothing
overlaps); each prediction that overlaps no gold entity is ``spurious``. Sentences written
all in capitals (CoNLL headlines) are scored apart, since an uncased encoder reads them
like any other text.

    python benchmarks/conll_errors.py /tmp/s3/conll/training/model-best /tmp/s3/conll/corpus/test.spacy
"""

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

Spans = Dict[Tuple[int, int], str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("gold", type=Path, help="a .spacy file with gold doc.ents")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--examples", type=int, default=10, help="examples printed per error kind")
    args = parser.parse_args()

    import spacy
    import torch
    from spacy.scorer import PRFScore
    from spacy.tokens import DocBin

    torch.set_num_threads(args.threads)
    nlp = spacy.load(args.model)
    gold_docs = list(DocBin().from_disk(args.gold).get_docs(nlp.vocab))
    predicted = nlp.pipe((d.text for d in gold_docs), component_cfg={"gliner": {"threshold": args.threshold}})
    kinds: Counter = Counter()
    confusions: Counter = Counter()
    examples: Dict[str, List[str]] = {}
    by_case = {"all caps": PRFScore(), "other": PRFScore()}
    for gold_doc, doc in zip(gold_docs, predicted):
        gold: Spans = {(e.start_char, e.end_char): e.label_ for e in gold_doc.ents}
        pred: Spans = {(e.start_char, e.end_char): e.label_ for e in doc.ents}
        text = gold_doc.text
        case = "all caps" if text.upper() == text and any(c.isalpha() for c in text) else "other"
        correct = sum(1 for span, label in pred.items() if gold.get(span) == label)
        by_case[case].tp += correct
        by_case[case].fp += len(pred) - correct
        by_case[case].fn += len(gold) - correct
        for span, label in gold.items():
            if pred.get(span) == label:
                continue
            if span in pred:
                kind, note = "type", f"{text[span[0] : span[1]]!r} {label} -> {pred[span]}"
                confusions[(label, pred[span])] += 1
            elif any(_overlap(span, other) for other in pred):
                found = [text[s:e] for s, e in pred if _overlap(span, (s, e))]
                kind, note = "boundary", f"{text[span[0] : span[1]]!r} {label} -> {found}"
            else:
                kind, note = "missed", f"{text[span[0] : span[1]]!r} {label}"
            kinds[kind] += 1
            examples.setdefault(kind, []).append(note)
        for span, label in pred.items():
            if not any(_overlap(span, other) for other in gold):
                kinds["spurious"] += 1
                examples.setdefault("spurious", []).append(f"{text[span[0] : span[1]]!r} {label}")
    report = {
        "errors": dict(kinds),
        "confusions (gold -> predicted)": {f"{g} -> {p}": n for (g, p), n in confusions.most_common(12)},
        "by case": {
            case: {"gold": s.tp + s.fn, **{k: round(v, 4) for k, v in s.to_dict().items()}}
            for case, s in by_case.items()
        },
        "examples": {kind: notes[: args.examples] for kind, notes in examples.items()},
    }
    print(json.dumps(report, indent=2))


def _overlap(a: Tuple[int, int], b: Tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


if __name__ == "__main__":
    main()
