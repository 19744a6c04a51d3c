"""Relations in spaCy: a relex checkpoint in the ``gliner`` pipe writes ``doc._.rel``.

The pipe's relations are those of the core's ``predict_relations`` (itself the official
``inference``, tests/test_relex.py) and of the official library: same heads, tails
(exact characters and labels), relation labels, scores within ``SCORE_TOL``, on benchmark
sentences, through a saved pipeline; ``dep``/``dest`` index ``doc.ents``. Then the settings
(config, per call, per doc), what survives DocBin, Doc.to_disk and n_process=2, and refusals.
"""

import json
import signal
from typing import Any, List

import pytest
import spacy
from helpers.cli import invoke, said
from helpers.data import REF_MINILM, benchmark
from helpers.pages import read_page
from helpers.parity import SCORE_TOL, load_official
from helpers.relex_checkpoints import RELATION_TYPES
from spacy.tokens import Doc, DocBin

from spacy_gliner.alignment import exact_entities
from spacy_gliner.model import checkpoint
from spacy_gliner.model.relation_search import predict_relations
from spacy_gliner.relations import relations_of
from spacy_gliner.render import render_html

# a threshold per tiny checkpoint where it finds entities and relations, but not between all pairs
THRESHOLDS = {"span-none": 0.5, "token-none": 0.4}
# relation types as {label: description}: the pipe writes the label, the model reads the description
RELATIONS = {f"REL{i}": t for i, t in enumerate(RELATION_TYPES)}


@pytest.fixture(scope="module")
def relex_sentences():
    return benchmark("conll2003", 8)


def relex_nlp(folder: Any, labels: List[str], **config: Any):
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(folder), "labels": labels, **config})
    return nlp


def as_core(doc: Doc) -> List[tuple]:
    """The doc's relations as the core writes them: (head, tail, relation) by characters and labels, score."""
    rows = []
    for r in doc._.rel:
        head, tail = r["head"], r["tail"]
        rows.append(
            (
                (head["start_char"], head["end_char"], head["label"]),
                (tail["start_char"], tail["end_char"], tail["label"]),
                r["relation"],
                r["score"],
            )
        )
    return rows


def core_rows(relations: List[dict]) -> List[tuple]:
    names = {description: label for label, description in RELATIONS.items()}
    return [
        (
            (r["head"]["start"], r["head"]["end"], r["head"]["type"]),
            (r["tail"]["start"], r["tail"]["end"], r["tail"]["type"]),
            names[r["relation"]],
            r["score"],
        )
        for r in relations
    ]


def assert_same(ours: List[tuple], theirs: List[tuple]) -> None:
    assert [r[:3] for r in ours] == [r[:3] for r in theirs]
    assert all(abs(a[3] - b[3]) <= SCORE_TOL for a, b in zip(ours, theirs))


@pytest.mark.parity
@pytest.mark.parametrize("name", list(THRESHOLDS))
def test_a_saved_pipeline_gives_the_core_and_official_relations(relex_checkpoint, relex_sentences, tmp_path, name):
    texts, labels = relex_sentences
    threshold = THRESHOLDS[name]
    relex_nlp(relex_checkpoint(name), labels, relations=RELATIONS, threshold=threshold).to_disk(tmp_path / "nlp")
    nlp = spacy.load(tmp_path / "nlp")
    docs = list(nlp.pipe(texts))
    _, expected = predict_relations(
        checkpoint.load(relex_checkpoint(name), relations=True), texts, labels, list(RELATIONS.values()), threshold
    )
    official = load_official(relex_checkpoint(name)).inference(
        texts, labels, relations=list(RELATIONS.values()), threshold=threshold
    )[1]
    assert sum(map(len, expected)) > 0  # not the parity of empty outputs
    for doc, mine, theirs in zip(docs, expected, official):
        assert_same(as_core(doc), core_rows(mine))
        assert_same(as_core(doc), core_rows(theirs))
        for r in doc._.rel:  # dep/dest: the entity of doc.ents at those characters (flat: every end is there)
            for end, index in (("head", r["dep"]), ("tail", r["dest"])):
                ent = doc.ents[index]
                assert (
                    ent.label_ == r[end]["label"]
                    and ent.start_char <= r[end]["start_char"] < r[end]["end_char"] <= ent.end_char
                )


# two thresholds a checkpoint (those of tests/test_relex.py): entities and relations, not between all pairs
PREDICT_THRESHOLDS = {
    "span-none": (0.5, 0.7),
    "span-gcn": (0.5, 0.7),
    "token-none": (0.4, 0.45),
    "token-gcn": (0.35, 0.4),
}


def _ends(e: dict, kind: str) -> tuple:
    return (e["start"], e["end"], e["text"], e[kind])


@pytest.mark.parity
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("name", list(PREDICT_THRESHOLDS))
def test_predict_on_a_saved_pipeline_gives_the_official_entities_and_relations(
    relex_checkpoint, relex_sentences, tmp_path, name, nested
):
    """Both families, both published relation layers (none, gcn), flat and nested, two
    thresholds: ``spacy-gliner predict`` on a pipeline saved with ``relations`` writes the
    official entities (exact characters, labels) and relations (heads, tails, labels, in the
    official order), scores within ``SCORE_TOL`` (and the rounding of the record's 4 places)."""
    texts, labels = relex_sentences
    official = load_official(relex_checkpoint(name))
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf8")
    names = {description: label for label, description in RELATIONS.items()}
    tolerance = SCORE_TOL + 5e-5
    found = 0
    for threshold in PREDICT_THRESHOLDS[name]:
        folder = tmp_path / f"nlp-{threshold}"
        relex_nlp(relex_checkpoint(name), labels, relations=RELATIONS, threshold=threshold, nested=nested).to_disk(
            folder
        )
        result = invoke("predict", str(corpus), "-m", str(folder))
        assert result.exit_code == 0, said(result)
        records = records_of(result.stdout)
        entities, relations = official.inference(
            texts, labels, relations=list(RELATIONS.values()), threshold=threshold, flat_ner=not nested
        )
        for record, their_entities, their_relations in zip(records, entities, relations):
            ours = sorted(record["entities"], key=lambda e: (e["start"], e["end"], e["label"]))
            theirs = sorted(their_entities, key=lambda e: (e["start"], e["end"], e["label"]))
            assert [_ends(e, "label") for e in ours] == [_ends(e, "label") for e in theirs]
            assert all(abs(a["score"] - b["score"]) <= tolerance for a, b in zip(ours, theirs))
            assert [
                (_ends(r["head"], "label"), _ends(r["tail"], "label"), r["label"]) for r in record["relations"]
            ] == [(_ends(r["head"], "type"), _ends(r["tail"], "type"), names[r["relation"]]) for r in their_relations]
            assert all(abs(a["score"] - b["score"]) <= tolerance for a, b in zip(record["relations"], their_relations))
            found += len(their_relations)
    assert found > 0  # not the parity of empty outputs


@pytest.fixture(scope="module")
def relex_pipe(relex_checkpoint, relex_sentences):
    return relex_nlp(relex_checkpoint("span-none"), relex_sentences[1], relations=RELATIONS, threshold=0.5)


def test_relations_per_call_and_per_doc(relex_pipe, relex_sentences):
    text = relex_sentences[0][3]
    configured = as_core(relex_pipe(text))
    pipe = relex_pipe.get_pipe("gliner")
    per_call = pipe(relex_pipe.make_doc(text), relations={"R": RELATION_TYPES[0]})
    assert per_call._.rel and {r["relation"] for r in per_call._.rel} == {"R"}
    doc = relex_pipe.make_doc(text)
    doc.user_data["gliner_relations"] = ["born in"]
    assert {r["relation"] for r in pipe(doc)._.rel} == {"born in"}
    high = pipe(relex_pipe.make_doc(text), relation_threshold=0.9)
    assert [r for r in configured if r[3] > 0.9] == as_core(high)
    doc = relex_pipe.make_doc(text)
    doc.user_data["gliner_relation_threshold"] = 0.9
    assert as_core(pipe(doc)) == as_core(high)
    # relations above 0.9 are a part: the configured threshold (None: the entity threshold 0.5) keeps more
    assert len(configured) > len(as_core(high))


def test_no_relation_types_gives_entities_and_no_relations(relex_checkpoint, relex_sentences):
    texts, labels = relex_sentences
    nlp = relex_nlp(relex_checkpoint("span-none"), labels, threshold=0.5)
    docs = list(nlp.pipe(texts))
    entities, _ = predict_relations(
        checkpoint.load(relex_checkpoint("span-none"), relations=True), texts, labels, [], 0.5
    )
    assert [[(e["start"], e["end"], e["label"]) for e in found] for found in entities] == [
        [(e.start, e.end, e.label) for e in exact_entities(doc.spans["sc"])] for doc in docs
    ]
    assert all(doc._.rel is None for doc in docs)


def test_nested_mode_keeps_ends_outside_doc_ents(relex_checkpoint, relex_sentences):
    texts, labels = relex_sentences
    nlp = relex_nlp(relex_checkpoint("span-none"), labels, relations=RELATIONS, threshold=0.5, nested=True)
    docs = list(nlp.pipe(texts[2:6]))
    found = [r for doc in docs for r in doc._.rel]
    assert found and all(r["dep"] is None and r["dest"] is None for r in found)


def test_relations_survive_docbin_to_disk_and_n_process(relex_pipe, relex_sentences, tmp_path):
    texts = relex_sentences[0][2:6]
    docs = list(relex_pipe.pipe(texts))
    assert all(doc._.rel for doc in docs)
    binary = DocBin(docs=docs, store_user_data=True).to_bytes()
    restored = list(DocBin().from_bytes(binary).get_docs(relex_pipe.vocab))
    # DocBin's msgpack reads the list back as a tuple; each relation is the same dict
    assert [list(d._.rel) for d in restored] == [d._.rel for d in docs]
    docs[0].to_disk(tmp_path / "doc")
    assert list(Doc(relex_pipe.vocab).from_disk(tmp_path / "doc")._.rel) == docs[0]._.rel
    old = signal.signal(
        signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("relex_pipe.pipe(n_process=2) hangs"))
    )
    try:
        signal.alarm(300)
        multi = list(relex_pipe.pipe(texts, n_process=2, batch_size=2))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    single = list(relex_pipe.pipe(texts, batch_size=2))  # the same batches: the same padding, the same scores
    assert [as_core(d) for d in multi] == [as_core(d) for d in single]


def test_relations_of_reads_the_doc(relex_pipe, relex_sentences):
    doc = relex_pipe(relex_sentences[0][3])
    assert doc._.rel and relations_of(doc) == doc._.rel and relations_of(relex_pipe.make_doc("x")) == []


@pytest.mark.parametrize(
    "config, error, message",
    [
        ({"relations": "works for"}, TypeError, "labels must be a list"),
        ({"relations": ["a", ""]}, ValueError, "empty"),
        ({"relation_threshold": 1.5}, ValueError, "relation_threshold must be a number strictly between 0 and 1"),
    ],
)
def test_bad_relation_settings_are_refused(relex_checkpoint, config, error, message):
    with pytest.raises(error, match=message):
        relex_nlp(relex_checkpoint("span-none"), ["person"], **config)


def test_training_a_relex_checkpoint_is_refused(relex_pipe, relex_sentences):
    from spacy.training import Example

    doc = relex_pipe.make_doc(relex_sentences[0][0])
    with pytest.raises(ValueError, match="Training a relation-extraction GLiNER model"):
        relex_pipe.get_pipe("gliner").update([Example(doc, doc)])


def test_per_label_thresholds_choose_the_candidates_relations_join(relex_pipe, relex_sentences):
    """A threshold per label (issue 24) reaches the relation head: its candidates are the spans
    above their label's threshold, and every relation joins two of the doc's entities."""
    text = relex_sentences[0][3]
    uniform = as_core(relex_pipe.get_pipe("gliner")(relex_pipe.make_doc(text), threshold={"*": 0.5}))
    assert uniform == as_core(relex_pipe(text))  # {"*": 0.5} is 0.5
    doc = relex_pipe.get_pipe("gliner")(
        relex_pipe.make_doc(text), threshold={"organization": 0.99, "*": 0.5}, relation_threshold=0.5
    )
    entities = {(e.start, e.end, e.label) for e in exact_entities(doc.spans["sc"])}
    assert all(e.label != "organization" for e in exact_entities(doc.spans["sc"]) if e.score <= 0.99)
    assert doc._.rel and all(
        (r[end]["start_char"], r[end]["end_char"], r[end]["label"]) in entities
        for r in doc._.rel
        for end in ("head", "tail")
    )
    assert any(r[0][2] == "organization" or r[1][2] == "organization" for r in uniform)
    assert not any(r["head"]["label"] == "organization" or r["tail"]["label"] == "organization" for r in doc._.rel)


def records_of(stdout: str) -> List[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("saved", [False, True])
def test_predict_writes_each_records_relations(relex_checkpoint, relex_sentences, tmp_path, saved):
    """From a bare checkpoint with --relations, or a saved pipeline with its own relations: each
    JSONL record's "relations" are the pipe's, with the exact characters of both ends."""
    texts, labels = relex_sentences
    folder = relex_checkpoint("span-none")
    corpus = tmp_path / "in.jsonl"
    corpus.write_text(
        "".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts[2:5])), encoding="utf8"
    )
    nlp = relex_nlp(folder, labels, relations=RELATIONS, threshold=0.5)
    if saved:
        nlp.to_disk(tmp_path / "nlp")
        args = ["-m", str(tmp_path / "nlp")]
    else:
        args = ["-m", str(folder), "-l", ",".join(labels), "-t", "0.5", "--relations", str(tmp_path / "relations.json")]
        (tmp_path / "relations.json").write_text(json.dumps(RELATIONS), encoding="utf8")
    result = invoke("predict", str(corpus), *args)
    assert result.exit_code == 0, result.output
    records = records_of(result.stdout)
    assert [r["id"] for r in records] == [0, 1, 2]
    for record, text in zip(records, texts[2:5]):
        expected = [
            {
                "label": r[2],
                "score": round(r[3], 4),
                "head": dict(zip(("start", "end", "label"), r[0])),
                "tail": dict(zip(("start", "end", "label"), r[1])),
            }
            for r in as_core(nlp(text))
        ]
        for r in expected:
            for end in ("head", "tail"):
                r[end]["text"] = text[r[end]["start"] : r[end]["end"]]
        assert record["relations"] == expected and expected
    high = records_of(invoke("predict", str(corpus), *args, "--relation-threshold", "0.9").stdout)
    assert all(r["score"] > 0.9 for record in high for r in record["relations"])
    assert sum(len(r["relations"]) for r in high) < sum(len(r["relations"]) for r in records)


def test_predict_refuses_relations_where_they_cannot_be_read():
    result = invoke("predict", "Paris is in France.", "-m", REF_MINILM, "-l", "city", "--relations", "located in")
    assert result.exit_code == 1 and "need a relation-extraction (relex) GLiNER model" in said(result)


def test_render_draws_each_relation_as_a_labelled_arc(relex_pipe, relex_sentences, tmp_path):
    doc = relex_pipe(relex_sentences[0][3])
    doc._.rel = doc._.rel[:3] + [{**doc._.rel[3], "relation": "<b>x</b>"}]  # a label is text, never markup
    assert "spacy-gliner-classes" not in render_html(doc, "sc", False, {})  # no classes, no table
    doc.cats = {"<i>long</i>": 0.123456, "short": 0.9}  # as a text classifier writes them
    written = render_html(doc, "sc", False, {})
    page = read_page(written)
    assert page.classes == [("<i>long</i>", "0.1235"), ("short", "0.9000")] and "<i>" not in written
    ends = sorted({(r[s]["start_char"], r[s]["end_char"], r[s]["label"]) for r in doc._.rel for s in ("head", "tail")})
    assert page.words == [doc.text[a:b] for a, b, _ in ends] and page.tags == [label for _, _, label in ends]
    assert sorted(page.arcs) == sorted(r["relation"] for r in doc._.rel)
    relex_pipe.to_disk(tmp_path / "relex_pipe")
    result = invoke(
        "render", relex_sentences[0][3], "-m", str(tmp_path / "relex_pipe"), "-o", str(tmp_path / "page.html")
    )
    assert result.exit_code == 0, result.output
    page = read_page((tmp_path / "page.html").read_text(encoding="utf8"))
    assert len(page.arcs) == len(relex_pipe(relex_sentences[0][3])._.rel) > 0


def test_docs_of_one_batch_keep_their_own_relation_thresholds(relex_pipe, relex_sentences):
    """A doc with its own relation threshold is searched apart: each doc of the batch gets what it gets alone."""
    texts = relex_sentences[0][3:5]
    docs = [relex_pipe.make_doc(t) for t in texts]
    docs[1].user_data["gliner_relation_threshold"] = 0.9
    together = [as_core(d) for d in relex_pipe.get_pipe("gliner").pipe(docs)]
    alone = [
        as_core(relex_pipe(texts[0])),
        as_core(relex_pipe.get_pipe("gliner")(relex_pipe.make_doc(texts[1]), relation_threshold=0.9)),
    ]
    assert together == alone and all(r[3] > 0.9 for r in together[1]) and any(r[3] <= 0.9 for r in together[0])


def test_info_names_the_relation_types_of_a_relex_pipeline(relex_pipe, tmp_path):
    relex_pipe.to_disk(tmp_path / "relex_pipe")
    result = invoke("info", str(tmp_path / "relex_pipe"))
    assert result.exit_code == 0, result.output
    assert "REL0 (works for)" in result.stdout


def test_a_relation_threshold_without_relation_types_is_refused(relex_checkpoint):
    """It would change nothing: refused rather than silently ignored."""
    args = ["-m", str(relex_checkpoint("span-none")), "-l", "city", "--relation-threshold", "0.5"]
    result = invoke("predict", "Paris is in France.", *args)
    assert result.exit_code == 1 and "no relation types are looked for" in said(result)
    assert invoke("predict", "Paris is in France.", *args, "--relations", "located in").exit_code == 0
