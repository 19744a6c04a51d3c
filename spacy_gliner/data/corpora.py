"""Corpus readers and converters: Pile-NER, GLiNER JSON, benchmark JSON and BIO to spaCy.

Every source becomes spaCy ``Doc`` objects built from words, written as ``DocBin`` files.
Gold spans go to ``doc.ents`` when no two of them overlap in a doc; otherwise all of them go
to ``doc.spans[spans_key]`` and ``doc.ents`` stays empty (a non-overlapping subset would be
silently wrong gold). Explicit negative types go to ``doc.user_data[NEGATIVES_KEY]``.

Nothing is dropped silently: each converter returns a :class:`ConversionSummary` that counts
what was placed, merged, moved or could not be placed. This module imports spaCy only (no
torch, no transformers) so that data preparation stays cheap.
"""

import json
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import srsly
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import registry
from spacy.vocab import Vocab
from srsly.msgpack import Packer
from tqdm import tqdm

from ..config import GLiNERConfig
from ..model.words import split_words  # the one GLiNER word splitter, so spans agree with the model
from ..training import NEGATIVES_KEY

MAX_EXAMPLES = 5

PathLike = Union[str, Path]
# (start token, end token exclusive, label)
TokenSpan = Tuple[int, int, str]


@dataclass(frozen=True)
class GoldFormat:
    """How gold annotation is written to docs, one value shared by every reader and converter.

    ``lowercase_types`` folds type names (sources disagree on case); ``nested`` also writes
    ``doc.spans[spans_key]`` when no gold spans overlap, since nested training reads them there.
    """

    lowercase_types: bool = False
    nested: bool = False
    spans_key: str = GLiNERConfig.spans_key  # the component's, where nested training reads them

    def type_name(self, label: Any) -> str:
        """A source's type name as written to docs: stripped, lower-cased if asked for."""
        label = str(label).strip()
        return label.lower() if self.lowercase_types else label


DEFAULT_GOLD = GoldFormat()

_QUESTION_RE = re.compile(r"^What describes (.*) in the text\?$", re.DOTALL)
_TEXT_PREFIX = "Text: "
_BIO_PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")


@dataclass
class ConversionSummary:
    """What a conversion did, so that losses and repairs are visible rather than silent.

    ``placed + unplaced == mentions`` always holds. A placed mention gives one span
    (Pile-NER: one per occurrence in the passage); ``duplicates`` counts spans merged
    because the same (start, end, type) was already in the doc, so ``entities`` is the
    number of spans written.
    """

    docs: int = 0
    mentions: int = 0  # gold mentions read from the source
    placed: int = 0  # mentions that became at least one span
    entities: int = 0  # spans written to docs (after merging duplicates)
    types: int = 0  # distinct entity types among the written spans
    unplaced: int = 0  # mentions that could not be mapped to words
    realigned: int = 0  # benchmark: char span not on word boundaries, moved or expanded
    relocated: int = 0  # benchmark: overlapping mention moved to a free whole-word match
    duplicates: int = 0  # spans merged into an identical (start, end, type) span
    repaired: int = 0  # BIO: I- tag without a preceding B-/I- of the same type
    negatives: int = 0  # negative type entries written (over all docs)
    overlap_docs: int = 0  # docs whose gold spans overlap (written to doc.spans only)
    malformed: int = 0  # source items that could not be read (kept as examples)
    splits: Dict[str, int] = field(default_factory=dict)  # docs per output file
    examples: List[str] = field(default_factory=list)  # a few unplaced / malformed items
    extra: Dict[str, Any] = field(default_factory=dict)
    _type_set: set = field(default_factory=set, repr=False, compare=False)

    def note(self, example: str) -> None:
        """Keep a few examples of problems for the report."""
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def merge(self, other: "ConversionSummary") -> None:
        """Add the counts of another summary (e.g. a second split) to this one."""
        for name in (
            "docs",
            "mentions",
            "placed",
            "entities",
            "unplaced",
            "realigned",
            "relocated",
            "duplicates",
            "repaired",
            "negatives",
            "overlap_docs",
            "malformed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self._type_set |= other._type_set
        self.types = len(self._type_set)
        self.splits.update(other.splits)
        for example in other.examples:
            self.note(example)
        for key, value in other.extra.items():
            mine = self.extra.get(key)
            if isinstance(value, list) and isinstance(mine, list):
                self.extra[key] = sorted(set(mine) | set(value))
            elif isinstance(value, int) and isinstance(mine, int):
                self.extra[key] = mine + value
            else:
                self.extra.setdefault(key, value)

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict for JSON output (without the private type set)."""
        data = asdict(self)
        data.pop("_type_set")
        return data

    def rows(self) -> List[Tuple[str, Any]]:
        """(name, value) rows for a ``wasabi`` table."""
        return [(k, v) for k, v in self.to_dict().items() if v not in ({}, [])]


def _tokens_to_doc(
    vocab: Vocab,
    words: Sequence[str],
    spaces: Optional[Sequence[bool]],
    spans: Iterable[TokenSpan],
    negatives: Iterable[str],
    gold: GoldFormat,
    summary: ConversionSummary,
) -> Doc:
    """Build one Doc with its gold spans and negatives, and count what went in.

    ``spaces=None`` means the source words are joined by single spaces.
    """
    if spaces is None:
        spaces = [True] * (len(words) - 1) + [False] if words else []
    doc = Doc(vocab, words=list(words), spaces=list(spaces))
    unique: Dict[TokenSpan, None] = {}
    for span in spans:
        if span in unique:
            summary.duplicates += 1
        else:
            unique[span] = None
    ordered = sorted(unique, key=lambda s: (s[0], s[1], s[2]))
    span_objs = [doc[start:end] for start, end, _ in ordered]
    for obj, (_, _, label) in zip(span_objs, ordered):
        obj.label_ = label
    overlapping = any(a[1] > b[0] for a, b in zip(ordered, ordered[1:]))
    if overlapping:
        summary.overlap_docs += 1
    else:
        doc.ents = span_objs
    if overlapping or gold.nested:
        doc.spans[gold.spans_key] = span_objs
    positives = {label for _, _, label in ordered}
    kept = [t for t in dict.fromkeys(negatives) if t and t not in positives]
    if kept:
        doc.user_data[NEGATIVES_KEY] = kept
    summary.docs += 1
    summary.entities += len(ordered)
    summary.negatives += len(kept)
    summary._type_set |= positives
    summary.types = len(summary._type_set)
    return doc


def _progress(items: Iterable[Any], progress: bool, desc: str) -> Iterable[Any]:
    return tqdm(items, desc=desc, disable=not progress, leave=False)


def _json_docs(
    path: PathLike,
    progress: bool,
    desc: str,
    summary: Optional[ConversionSummary],
    build: Callable[[int, Dict[str, Any], ConversionSummary], Doc],
) -> Iterator[Doc]:
    """The one loop of the JSON readers: ``build(index, record, summary)`` for each record, in
    order, counting into ``summary`` (a new one if None)."""
    summary = summary if summary is not None else ConversionSummary()
    for i, record in enumerate(_progress(srsly.read_json(path), progress, desc)):
        yield build(i, record, summary)


def _write_docbin(docs: Iterable[Doc], out_path: PathLike) -> int:
    """Write docs to one ``DocBin(store_user_data=True)`` file; return how many.

    ``DocBin.add`` packs each doc's user_data with a fresh msgpack Packer, and each new
    Packer scans the installed entry points: that is most of the conversion time. One
    Packer gives the same bytes (``srsly.msgpack_dumps`` uses ``use_bin_type=True``).
    Empty user_data is stored as None, which ``DocBin.get_docs`` skips instead of
    unpacking, so reading the corpus back is fast too.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    db = DocBin(store_user_data=False)
    packer = Packer(use_bin_type=True)
    user_data = []
    for doc in docs:
        db.add(doc)
        user_data.append(packer.pack(doc.user_data) if doc.user_data else None)
    db.store_user_data = True
    db.user_data = user_data
    db.to_disk(out_path)
    return len(db)


def _convert_file(
    read: Callable[..., Iterator[Doc]], path: PathLike, out_path: PathLike, **options: Any
) -> ConversionSummary:
    """Convert one source file with the reader ``read`` to one DocBin, whose stem names the split."""
    summary = ConversionSummary()
    docs = read(path, Vocab(), summary=summary, **options)
    summary.splits[Path(out_path).stem] = _write_docbin(docs, out_path)
    return summary


# ---------------------------------------------------------------------------------------
# Pile-NER conversation format
# ---------------------------------------------------------------------------------------


def _find_all(haystack: Sequence[str], needle: Sequence[str]) -> List[int]:
    """Start positions of every occurrence of the token sequence needle."""
    n = len(needle)
    if n == 0:
        return []
    first = needle[0]
    return [
        i for i in range(len(haystack) - n + 1) if haystack[i] == first and list(haystack[i : i + n]) == list(needle)
    ]


def _parse_pilener_record(
    record: Dict[str, Any], gold: GoldFormat, summary: ConversionSummary
) -> Tuple[str, List[Tuple[str, List[str]]], List[str]]:
    """Return (passage, [(type, mentions)], negative types) from one conversation."""
    turns = record.get("conversations") or []
    rid = record.get("id", "?")
    text = turns[0]["value"] if turns else ""
    if text.startswith(_TEXT_PREFIX):
        text = text[len(_TEXT_PREFIX) :]
    else:
        summary.malformed += 1
        summary.note(f"{rid}: first turn lacks 'Text: ' prefix")
    positives: List[Tuple[str, List[str]]] = []
    negatives: List[str] = []
    # turns[1] is the assistant's "I've read this text."; then question/answer pairs.
    for i in range(2, len(turns) - 1, 2):
        question, answer = turns[i]["value"], turns[i + 1]["value"]
        match = _QUESTION_RE.match(question.strip())
        try:
            mentions = json.loads(answer)
        except (TypeError, ValueError):
            mentions = None
        if match is None or not isinstance(mentions, list):
            summary.malformed += 1
            summary.note(f"{rid}: unreadable turn pair {question[:60]!r} / {str(answer)[:60]!r}")
            continue
        label = gold.type_name(match.group(1))
        if mentions:
            positives.append((label, [str(m) for m in mentions]))
        else:
            negatives.append(label)
    if len(turns) > 2 and len(turns) % 2:
        summary.malformed += 1
        summary.note(f"{rid}: question without answer")
    return text, positives, negatives


def _pilener_doc(record: Dict[str, Any], vocab: Vocab, gold: GoldFormat, summary: ConversionSummary) -> Doc:
    text, positives, negatives = _parse_pilener_record(record, gold, summary)
    words = split_words(text)
    tokens = [w for w, _, _ in words]
    lowered = [w.lower() for w in tokens]
    spaces = [end < len(text) and text[end].isspace() for _, _, end in words]
    spans: List[TokenSpan] = []
    for label, mentions in positives:
        for mention in mentions:
            summary.mentions += 1
            needle = [w for w, _, _ in split_words(mention)]
            starts = _find_all(tokens, needle)
            if not starts:
                starts = _find_all(lowered, [w.lower() for w in needle])
                if starts:
                    summary.extra["case_insensitive"] = summary.extra.get("case_insensitive", 0) + 1
            if starts:
                summary.placed += 1
                spans.extend((s, s + len(needle), label) for s in starts)
            else:
                summary.unplaced += 1
                summary.note(f"{record.get('id', '?')}: {label}: {mention!r} not in passage")
    return _tokens_to_doc(vocab, tokens, spaces, spans, negatives, gold, summary)


def read_pilener(
    path: PathLike,
    vocab: Vocab,
    gold: GoldFormat = DEFAULT_GOLD,
    summary: Optional[ConversionSummary] = None,
    progress: bool = False,
) -> Iterator[Doc]:
    """Stream Docs from a Pile-NER-type ``train.json`` (conversation format).

    Mentions are strings, not offsets, so every occurrence of a mention's words in the
    passage is marked (exact match first, case-insensitive if there is none), as GLiNER's
    own preprocessing does. A type answered with ``[]`` becomes a negative.
    """
    return _json_docs(
        path, progress, "Pile-NER", summary, lambda _, record, counts: _pilener_doc(record, vocab, gold, counts)
    )


def convert_pilener(
    path: PathLike,
    out_dir: PathLike,
    dev_fraction: float = 0.1,
    seed: int = 0,
    gold: GoldFormat = DEFAULT_GOLD,
    progress: bool = True,
) -> ConversionSummary:
    """Convert Pile-NER conversations to ``out_dir/train.spacy`` and ``out_dir/dev.spacy``.

    The split is a seeded shuffle of record indices (``round(n * dev_fraction)`` go to
    dev), so it is the same on every run; each split keeps the source order.
    """
    if not 0.0 <= dev_fraction <= 1.0:
        raise ValueError(f"dev_fraction must be within [0, 1], not {dev_fraction}")
    summary = ConversionSummary()
    docs = list(read_pilener(path, Vocab(), gold, summary, progress))  # one doc per record
    dev_ids = set(pilener_dev_indices(len(docs), dev_fraction, seed))
    for name, in_dev in (("train", False), ("dev", True)):
        part = [doc for i, doc in enumerate(docs) if (i in dev_ids) == in_dev]
        summary.splits[name] = _write_docbin(part, Path(out_dir) / f"{name}.spacy")
    return summary


def pilener_dev_indices(n_records: int, dev_fraction: float, seed: int) -> List[int]:
    """Sorted indices of the records that :func:`convert_pilener` puts in dev."""
    order = list(range(n_records))
    random.Random(seed).shuffle(order)
    return sorted(order[: int(round(n_records * dev_fraction))])


# ---------------------------------------------------------------------------------------
# GLiNER processed training format
# ---------------------------------------------------------------------------------------


def _gliner_doc(record: Dict[str, Any], vocab: Vocab, gold: GoldFormat, summary: ConversionSummary, index: int) -> Doc:
    raw = [str(t) for t in record.get("tokenized_text", [])]
    # spaCy rejects empty words: drop them and map old token indices onto the kept ones.
    keep = [i for i, t in enumerate(raw) if t]
    new_index = {old: new for new, old in enumerate(keep)}
    if len(keep) < len(raw):
        summary.extra["empty_tokens_dropped"] = summary.extra.get("empty_tokens_dropped", 0) + len(raw) - len(keep)
    words = [raw[i] for i in keep]
    spans: List[TokenSpan] = []
    for item in record.get("ner", []):
        summary.mentions += 1
        try:
            start, end, label = int(item[0]), int(item[1]), gold.type_name(item[2])
        except (TypeError, ValueError, IndexError):
            start, end, label = -1, -2, ""
        inside = [new_index[i] for i in range(max(start, 0), end + 1) if i in new_index]
        if not label or start < 0 or end >= len(raw) or not inside:
            summary.unplaced += 1
            summary.note(f"record {index}: span {item!r} outside its {len(raw)} tokens")
            continue
        summary.placed += 1
        spans.append((inside[0], inside[-1] + 1, label))
    negatives = record.get("ner_negatives", record.get("negatives")) or []
    negatives = [gold.type_name(t) for t in negatives]
    return _tokens_to_doc(vocab, words, None, spans, negatives, gold, summary)


def read_gliner_json(
    path: PathLike,
    vocab: Vocab,
    gold: GoldFormat = DEFAULT_GOLD,
    summary: Optional[ConversionSummary] = None,
    progress: bool = False,
) -> Iterator[Doc]:
    """Stream Docs from GLiNER's training JSON (``tokenized_text`` + inclusive ``ner`` spans).

    Optional per-example ``ner_negatives`` (or ``negatives``) become the doc's negatives.
    """
    return _json_docs(
        path, progress, "GLiNER JSON", summary, lambda i, record, counts: _gliner_doc(record, vocab, gold, counts, i)
    )


def convert_gliner_json(
    path: PathLike, out_path: PathLike, gold: GoldFormat = DEFAULT_GOLD, progress: bool = True
) -> ConversionSummary:
    """Convert a GLiNER training JSON file to one DocBin."""
    return _convert_file(read_gliner_json, path, out_path, gold=gold, progress=progress)


# ---------------------------------------------------------------------------------------
# Benchmark JSON (GLiNER evaluation folders)
# ---------------------------------------------------------------------------------------


def _place_benchmark_entities(
    sentence: str,
    words: List[Tuple[str, int, int]],
    entities: List[Dict[str, Any]],
    relocate: bool,
    summary: ConversionSummary,
    where: str,
) -> List[Optional[Tuple[int, int]]]:
    """Map each entity's char ``pos`` to a token range [start, end), or None if impossible.

    The ``pos`` of these files was found by substring search, so a mention sometimes sits
    inside a longer word ("Iran" in "Iranian") or inside another mention ("Luis" in "Luis
    Milla" when the real one comes later). With ``relocate``, such a mention moves to the
    first whole-word occurrence of its ``name`` not covered by another mention; without a
    free occurrence, an unaligned one is expanded to the words it touches.
    """
    starts = {s: i for i, (_, s, _) in enumerate(words)}
    ends = {e: i + 1 for i, (_, _, e) in enumerate(words)}
    tokens = [w for w, _, _ in words]

    def aligned(ent: Dict[str, Any]) -> Optional[Tuple[int, int]]:
        s, e = ent["pos"]
        if s in starts and e in ends and starts[s] < ends[e]:
            return starts[s], ends[e]
        return None

    def overlaps(a: Tuple[int, int], b: Tuple[int, int]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    placed: List[Optional[Tuple[int, int]]] = [aligned(ent) for ent in entities]
    # A word covered by two aligned mentions marks both as overlapping.
    cover = [0] * len(words)
    for span in placed:
        for k in range(*span) if span is not None else ():
            cover[k] += 1
    problem = {
        i for i, span in enumerate(placed) if span is None or (relocate and any(cover[k] > 1 for k in range(*span)))
    }
    occupied = [span for i, span in enumerate(placed) if i not in problem and span is not None]
    # Longer names first: a short name found inside a long one is the usual misplacement.
    for i in sorted(problem, key=lambda k: (-len(entities[k]["name"]), k)):
        ent, span = entities[i], placed[i]
        if relocate:
            needle = str(ent["name"]).split()
            free = [
                (s, s + len(needle))
                for s in _find_all(tokens, needle)
                if not any(overlaps((s, s + len(needle)), o) for o in occupied)
            ]
            if span is not None and span in free:
                free = [span]
            if free and free[0] != span:
                placed[i] = free[0]
                if span is None:
                    summary.realigned += 1
                else:
                    summary.relocated += 1
                occupied.append(free[0])
                continue
        if span is None:
            s, e = ent["pos"]
            touched = [k for k, (_, ws, we) in enumerate(words) if ws < e and s < we]
            if touched:
                placed[i] = (touched[0], touched[-1] + 1)
                summary.realigned += 1
                summary.extra["expanded"] = summary.extra.get("expanded", 0) + 1
                summary.note(
                    f"{where}: {ent['name']!r} at {ent['pos']} expanded to "
                    f"{sentence[words[touched[0]][1] : words[touched[-1]][2]]!r}"
                )
            else:
                summary.note(f"{where}: {ent['name']!r} at {ent['pos']} outside the words")
        if placed[i] is not None:
            occupied.append(placed[i])
    return placed


def _benchmark_doc(
    record: Dict[str, Any],
    vocab: Vocab,
    relocate: bool,
    gold: GoldFormat,
    summary: ConversionSummary,
    where: str,
) -> Doc:
    sentence = record["sentence"]
    # The sentence is words joined by single spaces; \S+ equals split(" ") there and
    # matches the official evaluator's str.split() on any other whitespace.
    words = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", sentence)]
    entities = record.get("entities", [])
    placed = _place_benchmark_entities(sentence, words, entities, relocate, summary, where)
    spans: List[TokenSpan] = []
    for ent, span in zip(entities, placed):
        summary.mentions += 1
        if span is None:
            summary.unplaced += 1
        else:
            summary.placed += 1
            spans.append((span[0], span[1], gold.type_name(ent["type"])))
    return _tokens_to_doc(vocab, [w for w, _, _ in words], None, spans, [], gold, summary)


def read_benchmark(
    path: PathLike,
    vocab: Vocab,
    relocate: bool = True,
    gold: GoldFormat = DEFAULT_GOLD,
    summary: Optional[ConversionSummary] = None,
    progress: bool = False,
) -> Iterator[Doc]:
    """Stream Docs from one benchmark split file (e.g. ``CrossNER_AI/test.json``).

    Words are the sentence split on spaces, so they are the benchmark's own words and
    scores stay comparable. ``relocate=False`` keeps every aligned ``pos`` as given.
    """
    path = Path(path)
    return _json_docs(
        path,
        progress,
        path.parent.name + "/" + path.stem,
        summary,
        lambda i, record, counts: _benchmark_doc(record, vocab, relocate, gold, counts, f"{path.name}[{i}]"),
    )


BENCHMARK_SPLITS = ("train", "dev", "test")


def convert_benchmark(
    dataset_dir: PathLike,
    out_dir: PathLike,
    relocate: bool = True,
    gold: GoldFormat = DEFAULT_GOLD,
    progress: bool = True,
) -> ConversionSummary:
    """Convert one dataset folder: each of train/dev/test.json to ``<split>.spacy``.

    ``labels.json`` is copied alongside, since evaluation scores every sentence against
    the full label list; gold types missing from it are listed in
    ``extra["types_outside_labels"]`` (such mentions can never be predicted).
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    summary = ConversionSummary()
    for split in BENCHMARK_SPLITS:
        src = dataset_dir / f"{split}.json"
        if src.exists():
            out_path = out_dir / f"{split}.spacy"
            part = _convert_file(read_benchmark, src, out_path, relocate=relocate, gold=gold, progress=progress)
            summary.merge(part)
    if not summary.splits:
        raise FileNotFoundError(f"No train/dev/test.json in {dataset_dir}")
    labels_path = dataset_dir / "labels.json"
    if labels_path.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(labels_path, out_dir / "labels.json")
        labels = {gold.type_name(t) for t in srsly.read_json(labels_path)}
        summary.extra["labels"] = len(labels)
        outside = sorted(summary._type_set - labels)
        if outside:
            summary.extra["types_outside_labels"] = outside
    return summary


def convert_benchmarks(
    root: PathLike, out_dir: PathLike, relocate: bool = True, gold: GoldFormat = DEFAULT_GOLD, progress: bool = True
) -> Dict[str, ConversionSummary]:
    """Convert every dataset folder under ``root`` to ``out_dir/<dataset>/<split>.spacy``."""
    root = Path(root)
    folders = sorted(
        p for p in root.iterdir() if p.is_dir() and any((p / f"{s}.json").exists() for s in BENCHMARK_SPLITS)
    )
    if not folders:
        raise FileNotFoundError(f"No benchmark dataset folders under {root}")
    return {
        folder.name: convert_benchmark(folder, Path(out_dir) / folder.name, relocate, gold, progress)
        for folder in folders
    }


# ---------------------------------------------------------------------------------------
# BIO / CoNLL
# ---------------------------------------------------------------------------------------


def _split_bio_line(line: str, lineno: int) -> Tuple[str, str]:
    """(word, tag) from ``word<TAB>...<TAB>tag`` or whitespace columns (tag last).

    Pile-NER types contain spaces ("B-field of study"), so with whitespace columns the tag
    starts at the last column that looks like a tag and runs to the end of the line.
    """
    if "\t" in line:
        cols = line.split("\t")
        return cols[0].strip(), cols[-1].strip()
    cols = line.split()
    if len(cols) < 2:
        raise ValueError(f"line {lineno}: expected a word and a tag, got {line!r}")
    for k in range(len(cols) - 1, 0, -1):
        if cols[k] == "O" or cols[k].startswith(_BIO_PREFIXES):
            return cols[0], " ".join(cols[k:])
    raise ValueError(f"line {lineno}: no BIO tag in {line!r}")


def _bio_spans(tags: Sequence[str], summary: ConversionSummary, where: str) -> List[TokenSpan]:
    """Spans from B-/I- tags (IOB2, IOB1 and BIOES/BILOU tolerated).

    An I- tag that does not continue an entity of the same type starts a new one and is
    counted as ``repaired`` (IOB1 files count every such entity start).
    """
    spans: List[TokenSpan] = []
    start, label = -1, ""

    def close(end: int) -> None:
        nonlocal start, label
        if start >= 0:
            spans.append((start, end, label))
        start, label = -1, ""

    for i, tag in enumerate(tags):
        if tag == "O":
            close(i)
            continue
        prefix, typ = tag[:2], tag[2:].strip()
        if prefix not in _BIO_PREFIXES or not typ:
            raise ValueError(f"{where}: unknown tag {tag!r}")
        if prefix in ("B-", "S-", "U-") or typ != label:
            if prefix in ("I-", "E-", "L-"):
                summary.repaired += 1
            close(i)
            start, label = i, typ
        if prefix in ("E-", "L-", "S-", "U-"):
            close(i + 1)
    close(len(tags))
    return spans


def read_bio(
    path: PathLike,
    vocab: Vocab,
    gold: GoldFormat = DEFAULT_GOLD,
    summary: Optional[ConversionSummary] = None,
    progress: bool = False,
) -> Iterator[Doc]:
    """Stream one Doc per passage from a BIO/CoNLL file (blank line between passages).

    ``-DOCSTART-`` lines are skipped and also end a passage. Tag types are type names
    like any source's, so ``gold.lowercase_types`` applies to them too.
    """
    summary = summary if summary is not None else ConversionSummary()
    words: List[str] = []
    tags: List[str] = []
    first_line = 0

    def flush() -> Iterator[Doc]:
        if words:
            where = f"{Path(path).name}:{first_line}"
            spans = [(s, e, gold.type_name(label)) for s, e, label in _bio_spans(tags, summary, where)]
            summary.mentions += len(spans)
            summary.placed += len(spans)
            yield _tokens_to_doc(vocab, words, None, spans, [], gold, summary)
        words.clear()
        tags.clear()

    with open(path, encoding="utf-8") as fileh:
        for lineno, line in enumerate(_progress(fileh, progress, "BIO"), 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.split()[0] == "-DOCSTART-":
                yield from flush()
                continue
            word, tag = _split_bio_line(line, lineno)
            if not words:
                first_line = lineno
            words.append(word)
            tags.append(tag)
    yield from flush()


def convert_bio(
    path: PathLike, out_path: PathLike, gold: GoldFormat = DEFAULT_GOLD, progress: bool = True
) -> ConversionSummary:
    """Convert a BIO/CoNLL file to one DocBin."""
    return _convert_file(read_bio, path, out_path, gold=gold, progress=progress)


# ---------------------------------------------------------------------------------------
# spaCy reader for training configs
# ---------------------------------------------------------------------------------------

_READERS: Dict[str, Callable[..., Iterator[Doc]]] = {
    "gliner": read_gliner_json,
    "benchmark": read_benchmark,
    "pilener": read_pilener,
    "bio": read_bio,
}


@registry.readers("spacy_gliner.Corpus.v1")
def create_corpus_reader(path: Path, format: str = "gliner", limit: int = 0) -> Callable[[Any], Iterator[Example]]:
    """Read a source file straight into training Examples, skipping the DocBin step.

    ``format`` is one of "gliner", "benchmark", "pilener", "bio". The predicted side holds
    the same words without annotation; negatives stay on the reference doc.
    """
    if format not in _READERS:
        raise ValueError(f"format must be one of {sorted(_READERS)}, not {format!r}")

    def reader(nlp: Any) -> Iterator[Example]:
        for i, doc in enumerate(_READERS[format](path, nlp.vocab)):
            if limit and i >= limit:
                break
            words = [t.text for t in doc]
            spaces = [bool(t.whitespace_) for t in doc]
            yield Example(Doc(nlp.vocab, words=words, spaces=spaces), doc)

    return reader
