"""Tests of the corpus converters against the shared real data.

Expected numbers are computed here from the source files with simple, separate code
(string search, tag counting), never copied from the converters' own output.
"""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import spacy
from helpers.data import DATA  # noqa: E402  (../shared/data or SPACY_GLINER_DATA)
from spacy.tokens import Doc, DocBin
from spacy.util import registry
from typer.testing import CliRunner

from spacy_gliner.data.corpora import (
    NEGATIVES_KEY,
    ConversionSummary,
    GoldFormat,
    convert_benchmarks,
    convert_bio,
    convert_gliner_json,
    convert_pilener,
    pilener_dev_indices,
    read_benchmark,
    read_bio,
    read_gliner_json,
    read_pilener,
    split_words,
)

REPO = Path(__file__).parents[1]
PILENER = DATA / "pilener"
BENCH = DATA / "benchmarks"
DATASETS = [
    "CrossNER_AI",
    "CrossNER_literature",
    "CrossNER_music",
    "CrossNER_politics",
    "CrossNER_science",
    "conll2003",
    "mit-movie",
    "mit-restaurant",
]


@pytest.fixture(scope="module")
def blank():
    """A blank English pipeline: its vocab for the readers."""
    return spacy.blank("en")


def gold_spans(doc: Doc):
    """(start, end, label) of the gold spans, wherever the converter put them."""
    spans = doc.spans["sc"] if "sc" in doc.spans else doc.ents
    return {(s.start, s.end, s.label_) for s in spans}


def overlapping(spans) -> bool:
    spans = sorted(spans)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def read_docbin(path: Path, nlp):
    return list(DocBin().from_disk(path).get_docs(nlp.vocab))


# ---------------------------------------------------------------------------------------
# split_words and imports


def test_split_words_matches_gliner_regex():
    text = "GLiNER's end-of-life care_plan,  3.5%"
    assert split_words(text) == [
        ("GLiNER", 0, 6),
        ("'", 6, 7),
        ("s", 7, 8),
        ("end-of-life", 9, 20),
        ("care_plan", 21, 30),
        (",", 30, 31),
        ("3", 33, 34),
        (".", 34, 35),
        ("5", 35, 36),
        ("%", 36, 37),
    ]
    assert split_words("   ") == []


def test_corpora_does_not_need_torch_or_transformers():
    # thinc imports torch when it is installed, so block both: corpora must still import.
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "import spacy_gliner.data.corpora as c; print(c.NEGATIVES_KEY)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "gliner_negatives"


# ---------------------------------------------------------------------------------------
# Pile-NER conversation format


def _pilener_expectations(records):
    """Per record: (passage tokens, expected span set, negatives, mentions, unplaced).

    Independent of the converter: tokens are searched as a NUL-joined string.
    """
    word = re.compile(r"\w+(?:[-_]\w+)*|\S")
    out = []
    for rec in records:
        turns = rec["conversations"]
        text = turns[0]["value"][len("Text: ") :]
        tokens = word.findall(text)
        spans, negatives, mentions, unplaced = set(), [], 0, 0
        for q, a in zip(turns[2::2], turns[3::2]):
            label = q["value"][len("What describes ") : -len(" in the text?")].strip()
            answer = json.loads(a["value"])
            if not answer:
                negatives.append(label)
            for mention in answer:
                mentions += 1
                needle = word.findall(mention)
                found = []
                for hay, ndl in ((tokens, needle), ([t.lower() for t in tokens], [t.lower() for t in needle])):
                    joined, pattern = "\0" + "\0".join(hay) + "\0", "\0" + "\0".join(ndl) + "\0"
                    pos = joined.find(pattern)
                    while ndl and pos != -1:
                        found.append(joined.count("\0", 0, pos))
                        pos = joined.find(pattern, pos + 1)
                    if found:
                        break
                if not found:
                    unplaced += 1
                spans |= {(s, s + len(needle), label) for s in found}
        out.append((tokens, spans, negatives, mentions, unplaced))
    return out


@pytest.fixture(scope="module")
def pilener_records():
    return json.loads((PILENER / "sample_conversation_format.json").read_text(encoding="utf8"))


def test_read_pilener_matches_source(pilener_records, blank):
    expected = _pilener_expectations(pilener_records)
    summary = ConversionSummary()
    docs = list(read_pilener(PILENER / "sample_conversation_format.json", blank.vocab, summary=summary))
    assert len(docs) == len(pilener_records) == summary.docs == 300
    n_mentions = sum(e[3] for e in expected)
    assert n_mentions == 5922
    assert summary.mentions == n_mentions
    assert summary.placed + summary.unplaced == n_mentions
    assert summary.unplaced == sum(e[4] for e in expected)
    assert summary.entities == sum(len(e[1]) for e in expected)
    assert summary.negatives == sum(len(e[2]) for e in expected) == 600
    n_overlap = 0
    for doc, (tokens, spans, negatives, _, _) in zip(docs, expected):
        assert [t.text for t in doc] == tokens
        assert gold_spans(doc) == spans
        if overlapping({(s, e) for s, e, _ in spans}) or len({(s, e) for s, e, _ in spans}) < len(spans):
            n_overlap += 1
            assert len(doc.ents) == 0 and len(doc.spans["sc"]) == len(spans)
        else:
            assert "sc" not in doc.spans
        assert doc.user_data.get(NEGATIVES_KEY, []) == negatives
    assert summary.overlap_docs == n_overlap
    assert summary.types == len({label for e in expected for _, _, label in e[1]})


def test_pilener_text_keeps_original_spacing(pilener_records, blank):
    docs = read_pilener(PILENER / "sample_conversation_format.json", blank.vocab)
    for doc, rec in zip(docs, pilener_records):
        text = rec["conversations"][0]["value"][len("Text: ") :]
        assert doc.text == re.sub(r"\s+", " ", text).strip()


def test_convert_pilener_split_is_deterministic(pilener_records, tmp_path, blank):
    src = PILENER / "sample_conversation_format.json"
    s0 = convert_pilener(src, tmp_path / "a", dev_fraction=0.1, seed=0, progress=False)
    convert_pilener(src, tmp_path / "b", dev_fraction=0.1, seed=0, progress=False)
    s1 = convert_pilener(src, tmp_path / "c", dev_fraction=0.1, seed=1, progress=False)
    assert s0.splits == s1.splits == {"train": 270, "dev": 30}
    dev_a = [d.text for d in read_docbin(tmp_path / "a" / "dev.spacy", blank)]
    dev_b = [d.text for d in read_docbin(tmp_path / "b" / "dev.spacy", blank)]
    dev_c = [d.text for d in read_docbin(tmp_path / "c" / "dev.spacy", blank)]
    train_a = [d.text for d in read_docbin(tmp_path / "a" / "train.spacy", blank)]
    assert dev_a == dev_b != dev_c
    all_texts = [d.text for d in read_pilener(src, blank.vocab)]
    assert sorted(dev_a + train_a) == sorted(all_texts)
    assert dev_a == [all_texts[i] for i in pilener_dev_indices(300, 0.1, 0)]
    s_none = convert_pilener(src, tmp_path / "d", dev_fraction=0.0, progress=False)
    assert s_none.splits == {"train": 300, "dev": 0}
    with pytest.raises(ValueError, match=r"dev_fraction must be within \[0, 1\], not 1.5"):
        convert_pilener(src, tmp_path / "e", dev_fraction=1.5)


def test_pilener_negatives_survive_docbin(pilener_records, tmp_path, blank):
    expected = {" ".join(e[0]): e[2] for e in _pilener_expectations(pilener_records)}
    convert_pilener(PILENER / "sample_conversation_format.json", tmp_path, progress=False)
    docs = read_docbin(tmp_path / "train.spacy", blank) + read_docbin(tmp_path / "dev.spacy", blank)
    seen = 0
    for doc in docs:
        negatives = list(doc.user_data.get(NEGATIVES_KEY, ()))
        assert negatives == expected[" ".join(t.text for t in doc)]
        assert not set(negatives) & {s.label_ for s in (doc.spans["sc"] if "sc" in doc.spans else doc.ents)}
        seen += len(negatives)
    assert seen == 600
    # and through to_bytes / from_bytes in memory
    docs = list(read_pilener(PILENER / "sample_conversation_format.json", blank.vocab))
    db = DocBin(store_user_data=True, docs=docs)
    back = list(DocBin().from_bytes(db.to_bytes()).get_docs(blank.vocab))
    assert [list(d.user_data.get(NEGATIVES_KEY, ())) for d in back] == [
        d.user_data.get(NEGATIVES_KEY, []) for d in docs
    ]


def test_pilener_edge_cases(tmp_path, blank):
    record = {
        "id": "x",
        "conversations": [
            {"from": "human", "value": "Text: The Hotel  Hilton, the hotel hilton and EOLC-S."},
            {"from": "gpt", "value": "I've read this text."},
            {"from": "human", "value": "What describes  Facility  in the text?"},
            {"from": "gpt", "value": '["Hotel Hilton", "Hotel Hilton", "EOLC-S", "Ritz"]'},
            {"from": "human", "value": "What describes person in the text?"},
            {"from": "gpt", "value": "[]"},
            {"from": "human", "value": "What describes facility in the text?"},
            {"from": "gpt", "value": "[]"},
            {"from": "human", "value": "What describes Person in the text?"},
            {"from": "gpt", "value": "[]"},
        ],
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps([record]))
    summary = ConversionSummary()
    (doc,) = read_pilener(path, blank.vocab, summary=summary)
    # words keep "whitespace follows" but runs of whitespace become one space
    assert doc.text == "The Hotel Hilton, the hotel hilton and EOLC-S."
    assert [t.text for t in doc.ents] == ["Hotel Hilton", "EOLC-S"]
    assert {e.label_ for e in doc.ents} == {"Facility"}
    assert doc.user_data[NEGATIVES_KEY] == ["person", "facility", "Person"]
    assert (summary.mentions, summary.placed, summary.unplaced, summary.duplicates) == (4, 3, 1, 1)
    assert summary.examples and "Ritz" in summary.examples[0]
    # lower-cased types: duplicates merge, and the positive type leaves the negatives
    summary = ConversionSummary()
    (doc,) = read_pilener(path, blank.vocab, GoldFormat(lowercase_types=True), summary=summary)
    assert {e.label_ for e in doc.ents} == {"facility"}
    assert doc.user_data[NEGATIVES_KEY] == ["person"]
    # case-insensitive fallback only when there is no exact match
    record["conversations"][3]["value"] = '["hotel HILTON"]'
    path.write_text(json.dumps([record]))
    summary = ConversionSummary()
    (doc,) = read_pilener(path, blank.vocab, summary=summary)
    assert [t.text for t in doc.ents] == ["Hotel Hilton", "hotel hilton"]
    assert summary.extra["case_insensitive"] == 1


def test_pilener_malformed_turns_are_counted(tmp_path, blank):
    record = {
        "id": "m",
        "conversations": [
            {"from": "human", "value": "Text: A B"},
            {"from": "gpt", "value": "ok"},
            {"from": "human", "value": "Who is it?"},
            {"from": "gpt", "value": '["A"]'},
            {"from": "human", "value": "What describes x in the text?"},
            {"from": "gpt", "value": "not json"},
        ],
    }
    path = tmp_path / "m.json"
    path.write_text(json.dumps([record]))
    summary = ConversionSummary()
    (doc,) = read_pilener(path, blank.vocab, summary=summary)
    assert summary.malformed == 2 and len(summary.examples) == 2 and len(doc.ents) == 0


# ---------------------------------------------------------------------------------------
# GLiNER processed format


def test_gliner_json_matches_source(tmp_path, blank):
    src = PILENER / "sample_gliner_format.json"
    records = json.loads(src.read_text(encoding="utf8"))
    summary = convert_gliner_json(src, tmp_path / "g.spacy", progress=False)
    docs = read_docbin(tmp_path / "g.spacy", blank)
    assert len(docs) == len(records) == summary.docs == 64
    n_mentions = sum(len(r["ner"]) for r in records)
    assert summary.mentions == n_mentions == 236
    assert summary.placed + summary.unplaced == n_mentions
    n_overlap = 0
    for doc, rec in zip(docs, records):
        assert [t.text for t in doc] == rec["tokenized_text"]
        spans = {(s, e + 1, t) for s, e, t in rec["ner"]}
        assert gold_spans(doc) == spans
        for span in doc.ents:
            assert span.text == " ".join(rec["tokenized_text"][span.start : span.end])
        n_overlap += overlapping({(s, e) for s, e, _ in spans}) or len({(s, e) for s, e, _ in spans}) < len(spans)
    assert summary.overlap_docs == n_overlap == 4
    assert summary.entities == sum(len({tuple(x) for x in r["ner"]}) for r in records)


def test_gliner_json_negatives_and_bad_spans(tmp_path, blank):
    records = [
        {
            "tokenized_text": ["Ann", "met", "Bob", "."],
            "ner": [[0, 0, "person"], [2, 2, "person"], [3, 9, "x"]],
            "ner_negatives": ["city", "person", "city", "date"],
        },
        {"tokenized_text": ["Paris", "", "is", "big"], "ner": [[0, 1, "city"], [1, 1, "x"]], "negatives": ["person"]},
    ]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(records))
    summary = ConversionSummary()
    docs = list(read_gliner_json(path, blank.vocab, GoldFormat(nested=True, spans_key="gold"), summary=summary))
    assert docs[0].user_data[NEGATIVES_KEY] == ["city", "date"]
    assert docs[1].user_data[NEGATIVES_KEY] == ["person"]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Ann", "person"), ("Bob", "person")]
    assert [(s.text, s.label_) for s in docs[0].spans["gold"]] == [("Ann", "person"), ("Bob", "person")]
    assert [t.text for t in docs[1]] == ["Paris", "is", "big"]
    assert [(e.text, e.label_) for e in docs[1].ents] == [("Paris", "city")]
    assert (summary.mentions, summary.placed, summary.unplaced, summary.negatives) == (5, 3, 2, 3)
    assert summary.extra["empty_tokens_dropped"] == 1
    db = DocBin(store_user_data=True, docs=docs)
    back = list(DocBin().from_bytes(db.to_bytes()).get_docs(blank.vocab))
    assert list(back[0].user_data[NEGATIVES_KEY]) == ["city", "date"]


# ---------------------------------------------------------------------------------------
# Benchmark JSON


def _word_bounds(sentence):
    starts, ends, pos = set(), set(), 0
    for word in sentence.split(" "):
        starts.add(pos)
        ends.add(pos + len(word))
        pos += len(word) + 1
    return starts, ends


def _benchmark_files():
    return [(d, s) for d in DATASETS for s in ("train", "dev", "test") if (BENCH / d / f"{s}.json").exists()]


@pytest.fixture(scope="module")
def converted_benchmarks(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmarks")
    return out, convert_benchmarks(BENCH, out, progress=False)


def test_benchmark_folders_all_converted(converted_benchmarks):
    out, summaries = converted_benchmarks
    assert sorted(summaries) == sorted(DATASETS)
    assert summaries["conll2003"].splits == {"train": 14041, "dev": 3250, "test": 3453}
    for name in DATASETS:
        labels = json.loads((BENCH / name / "labels.json").read_text())
        assert json.loads((out / name / "labels.json").read_text()) == labels
        types = {
            e["type"]
            for s in ("train", "dev", "test")
            if (BENCH / name / f"{s}.json").exists()
            for r in json.loads((BENCH / name / f"{s}.json").read_text())
            for e in r["entities"]
        }
        assert summaries[name].extra.get("types_outside_labels", []) == sorted(types - set(labels))
        assert summaries[name].types == len(types)
    # a surprise of the shared data: music's gold uses two types its label list lacks
    assert summaries["CrossNER_music"].extra["types_outside_labels"] == ["misc", "organisation"]


@pytest.mark.parametrize("dataset,split", _benchmark_files())
def test_benchmark_docbin_matches_source(converted_benchmarks, blank, dataset, split):
    """Relocating mode (default): every mention is placed on words spelling its name."""
    out, summaries = converted_benchmarks
    records = json.loads((BENCH / dataset / f"{split}.json").read_text(encoding="utf8"))
    docs = read_docbin(out / dataset / f"{split}.spacy", blank)
    assert len(docs) == len(records) == summaries[dataset].splits[split]
    kept_in_place = 0
    for doc, rec in zip(docs, records):
        assert doc.text == rec["sentence"]
        assert "sc" not in doc.spans  # no overlaps remain once misplaced mentions move
        got = {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        assert Counter((e.text, e.label_) for e in doc.ents) == Counter((x["name"], x["type"]) for x in rec["entities"])
        kept_in_place += sum((x["pos"][0], x["pos"][1], x["type"]) in got for x in rec["entities"])
    n_mentions = sum(len(r["entities"]) for r in records)
    s = summaries[dataset]
    if set(s.splits) == {split}:
        assert (s.mentions, s.placed, s.entities, s.unplaced) == (n_mentions, n_mentions, n_mentions, 0)
        assert kept_in_place == n_mentions - s.realigned - s.relocated


@pytest.mark.parametrize("dataset,split", _benchmark_files())
def test_benchmark_as_given_matches_source(blank, dataset, split):
    """relocate=False: aligned positions are kept exactly; unaligned ones are expanded."""
    path = BENCH / dataset / f"{split}.json"
    records = json.loads(path.read_text(encoding="utf8"))
    summary = ConversionSummary()
    docs = list(read_benchmark(path, blank.vocab, relocate=False, summary=summary))
    assert len(docs) == len(records) == summary.docs
    n_mentions = unaligned = 0
    for doc, rec in zip(docs, records):
        starts, ends = _word_bounds(rec["sentence"])
        spans = doc.spans["sc"] if "sc" in doc.spans else doc.ents
        got = {(s.start_char, s.end_char, s.label_): s.text for s in spans}
        for ent in rec["entities"]:
            n_mentions += 1
            s, e = ent["pos"]
            if s in starts and e in ends:
                assert got[(s, e, ent["type"])] == ent["name"]
            else:
                unaligned += 1
    assert summary.mentions == n_mentions
    assert summary.placed + summary.unplaced == n_mentions
    assert summary.realigned == unaligned
    assert summary.unplaced == 0


def test_benchmark_misplacement_counts(converted_benchmarks):
    """Unaligned positions per dataset, counted from the sources with plain string checks."""
    _, summaries = converted_benchmarks
    for name in DATASETS:
        unaligned = 0
        for split in ("train", "dev", "test"):
            path = BENCH / name / f"{split}.json"
            if path.exists():
                for rec in json.loads(path.read_text(encoding="utf8")):
                    starts, ends = _word_bounds(rec["sentence"])
                    unaligned += sum(x["pos"][0] not in starts or x["pos"][1] not in ends for x in rec["entities"])
        assert summaries[name].realigned == unaligned
    assert summaries["mit-movie"].realigned == 95
    assert summaries["conll2003"].realigned == 109


def test_benchmark_relocation_inline(tmp_path, blank):
    records = [
        # "Iran" was placed inside "Iranian"; "Luis" inside "Luis Milla" (the real one is last)
        {
            "sentence": "An Iranian group met Iran 's envoy",
            "entities": [
                {"name": "Iranian", "type": "misc", "pos": [3, 10]},
                {"name": "Iran", "type": "loc", "pos": [3, 7]},
            ],
        },
        {
            "sentence": "20-1 Luis Milla 25-1 Luis",
            "entities": [
                {"name": "Luis", "type": "per", "pos": [5, 9]},
                {"name": "Luis Milla", "type": "per", "pos": [5, 15]},
            ],
        },
        {"sentence": "rated r", "entities": [{"name": "q", "type": "x", "pos": [1, 3]}]},
        {"sentence": "a b", "entities": [{"name": "z", "type": "x", "pos": [10, 12]}]},
    ]
    path = tmp_path / "test.json"
    path.write_text(json.dumps(records))
    summary = ConversionSummary()
    docs = list(read_benchmark(path, blank.vocab, summary=summary))
    assert [(e.text, e.start_char) for e in docs[0].ents] == [("Iranian", 3), ("Iran", 21)]
    assert [(e.text, e.start_char) for e in docs[1].ents] == [("Luis Milla", 5), ("Luis", 21)]
    assert [e.text for e in docs[2].ents] == ["rated"]  # no whole-word "q": expanded
    assert len(docs[3].ents) == 0
    assert (summary.realigned, summary.relocated, summary.unplaced, summary.extra["expanded"]) == (2, 1, 1, 1)
    summary = ConversionSummary()
    docs = list(read_benchmark(path, blank.vocab, relocate=False, summary=summary))
    assert docs[1].ents == () and len(docs[1].spans["sc"]) == 2
    assert (summary.realigned, summary.relocated, summary.overlap_docs, summary.unplaced) == (2, 0, 2, 1)


# ---------------------------------------------------------------------------------------
# BIO / CoNLL


def test_bio_subset_matches_source(tmp_path, blank):
    src = PILENER / "subset_bio.txt"
    passages = [
        [line.split("\t") for line in block.splitlines()]
        for block in src.read_text(encoding="utf8").split("\n\n")
        if block.strip()
    ]
    n_b = sum(tag.startswith("B-") for p in passages for _, tag in p)
    orphans = sum(
        tag.startswith("I-") and (i == 0 or p[i - 1][1][2:] != tag[2:] or p[i - 1][1] == "O")
        for p in passages
        for i, (_, tag) in enumerate(p)
    )
    types = {tag[2:] for p in passages for _, tag in p if tag != "O"}
    summary = convert_bio(src, tmp_path / "bio.spacy", progress=False)
    docs = read_docbin(tmp_path / "bio.spacy", blank)
    assert len(docs) == len(passages) == summary.docs == 2217
    assert summary.entities == summary.mentions == n_b + orphans
    assert summary.repaired == orphans == 156
    assert summary.types == len(types) == 368
    assert sum(len(d.ents) for d in docs) == n_b + orphans
    assert all([t.text for t in d] == [w for w, _ in p] for d, p in zip(docs, passages))


def test_bio_repair_and_formats(tmp_path, blank):
    text = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\n"
        "refractory\tB-characteristic\nsymptoms\tI-symptom\nof\tO\nfield\tB-field of study\n"
        "study\tI-field of study\n\n"
        "Ann I-per\nBob I-per\nand O\nCid I-per\nDee B-per\n"
        "-DOCSTART- -X- -X- O\n"
        "x B-field of study\ny I-field of study\n"
    )
    path = tmp_path / "x.conll"
    path.write_text(text)
    summary = ConversionSummary()
    docs = list(read_bio(path, blank.vocab, summary=summary))
    got = [[(e.text, e.label_) for e in d.ents] for d in docs]
    assert got == [
        [("EU", "ORG"), ("German", "MISC")],
        [("refractory", "characteristic"), ("symptoms", "symptom"), ("field study", "field of study")],
        [("Ann Bob", "per"), ("Cid", "per"), ("Dee", "per")],
        [("x y", "field of study")],
    ]
    # repaired: "symptoms" (I- after another type), "Ann" and "Cid" (I- after nothing / O)
    assert (summary.docs, summary.entities, summary.repaired) == (4, 9, 3)
    bad = tmp_path / "bad.txt"
    bad.write_text("word\tX-thing\n")
    with pytest.raises(ValueError, match="X-thing"):
        list(read_bio(bad, blank.vocab))


# ---------------------------------------------------------------------------------------
# spaCy reader and scripts


def test_registered_reader(blank):
    make = registry.readers.get("spacy_gliner.Corpus.v1")
    examples = list(make(path=PILENER / "sample_gliner_format.json", format="gliner", limit=5)(blank))
    records = json.loads((PILENER / "sample_gliner_format.json").read_text())[:5]
    assert len(examples) == 5
    for eg, rec in zip(examples, records):
        assert [t.text for t in eg.predicted] == rec["tokenized_text"] and not eg.predicted.ents
        assert gold_spans(eg.reference) == {(s, e + 1, t) for s, e, t in rec["ner"]}
    with pytest.raises(
        ValueError, match=r"format must be one of \['benchmark', 'bio', 'gliner', 'pilener'\], not 'csv'"
    ):
        make(path=PILENER / "sample_gliner_format.json", format="csv")


def _script_app(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "project" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def test_scripts_run(tmp_path, blank):
    runner = CliRunner()
    args = [str(PILENER / "sample_gliner_format.json"), str(tmp_path / "g.spacy")]
    res = runner.invoke(_script_app("convert_gliner_json"), args)
    assert res.exit_code == 0, res.output
    assert len(read_docbin(tmp_path / "g.spacy", blank)) == 64 and "64" in res.output

    res = runner.invoke(
        _script_app("convert_pilener"),
        [str(PILENER / "sample_conversation_format.json"), str(tmp_path / "p"), "--dev-fraction", "0.2", "--seed", "3"],
    )
    assert res.exit_code == 0, res.output
    assert len(read_docbin(tmp_path / "p" / "dev.spacy", blank)) == 60

    bio = tmp_path / "b.txt"
    bio.write_text("Ann\tB-per\nruns\tO\n\nBob\tI-per\n")
    res = runner.invoke(_script_app("convert_bio"), [str(bio), str(tmp_path / "b.spacy")])
    assert res.exit_code == 0, res.output
    assert [len(d.ents) for d in read_docbin(tmp_path / "b.spacy", blank)] == [1, 1] and "repaired" in res.output

    root = tmp_path / "bench"
    for name in ("CrossNER_AI", "mit-restaurant"):
        shutil.copytree(BENCH / name, root / name)
    res = runner.invoke(_script_app("convert_benchmarks"), [str(root), str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert len(read_docbin(tmp_path / "out" / "mit-restaurant" / "test.spacy", blank)) == 1520
    assert (tmp_path / "out" / "CrossNER_AI" / "labels.json").exists()
