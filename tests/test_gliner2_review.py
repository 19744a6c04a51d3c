"""GLiNER2 checkpoints as a demanding user meets them: any tokenizer and language, threads,
every command, hostile input, relation ends that are no entity.

Tiny checkpoints written by gliner2 itself (``helpers.gliner2_checkpoints``); gliner2's
``extract`` is the reference wherever a result is compared.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
from helpers.cli import install_package, invoke, said
from helpers.data import benchmark
from helpers.gliner2_checkpoints import PIPELINE_ARCHITECTURES, comparable
from spacy.tokens import Doc

from spacy_gliner.model.gliner2.schema import Schema

ARCHITECTURES = PIPELINE_ARCHITECTURES  # conftest's gliner2_checkpoints
LABELS = ["person", "organization", "location"]
CLASSES = {"sentiment": ["positive", "negative", "neutral"]}
RELATIONS = ["works for", "located in"]
THRESHOLD = 0.3
SENTENCE = "Tim Cook works for Apple in Cupertino, California."


def pipe(folder: Path, lang: str = "en", **config: Any) -> Any:
    nlp = spacy.blank(lang)
    settings = {"labels": LABELS, "classes": CLASSES, "relations": RELATIONS, "threshold": THRESHOLD, **config}
    nlp.add_pipe("gliner", config={"model": str(folder), **settings})
    return nlp


def reference(folder: Path, texts: List[str]) -> List[Dict[str, Any]]:
    """gliner2's ``extract`` of each text with the pipe's schema, as ``comparable`` sets."""
    from gliner2 import AutoExtractor
    from gliner2 import Schema as Gliner2Schema

    model = AutoExtractor.from_pretrained(str(folder))
    ((task, choices),) = CLASSES.items()
    schema = Schema.build(LABELS, CLASSES, RELATIONS)
    out = []
    for text in texts:
        asked = Gliner2Schema().entities(LABELS).classification(task, choices).relations(RELATIONS)
        found = model.extract(text, asked, threshold=THRESHOLD, include_confidence=True, include_spans=True)
        out.append(comparable(found, text, schema))
    return out


def group_entities(doc: Doc) -> Dict[tuple, float]:
    group = doc.spans["sc"]
    found = zip(group.attrs["starts"].tolist(), group.attrs["ends"].tolist(), group.attrs["labels"])
    return {(label, s, e, doc.text[s:e]): score for (s, e, label), score in zip(found, group.attrs["scores"].tolist())}


class Whitespace:
    """Tokens split at single spaces only: "U.S.-based" and "California." stay one token."""

    def __init__(self, vocab: Any) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words = text.split(" ")
        return Doc(self.vocab, words=words, spaces=[True] * (len(words) - 1) + [False])


class Chunks:
    """Tokens of three characters: every word cut inside."""

    def __init__(self, vocab: Any) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words = [text[i : i + 3] for i in range(0, len(text), 3)]
        return Doc(self.vocab, words=words, spaces=[False] * len(words))


@pytest.mark.parity
@pytest.mark.parametrize("name", list(ARCHITECTURES))
@pytest.mark.parametrize("lang, tokenizer", [("en", None), ("en", Whitespace), ("en", Chunks), ("de", None)])
def test_exact_whatever_the_tokenizer(
    gliner2_checkpoints: Dict[str, Path], name: str, lang: str, tokenizer: Any
) -> None:
    """The span group holds gliner2's entities (characters, labels, scores), the relations are
    gliner2's, whatever the tokens; doc.ents the entities that fit, widened to tokens."""
    texts = benchmark("conll2003", 3)[0] + ["The U.S.-based firm hired Jane O'Neil (CEO) of Apple Inc. in São Paulo."]
    nlp = pipe(gliner2_checkpoints[name], lang)
    if tokenizer is not None:
        nlp.tokenizer = tokenizer(nlp.vocab)
    compared = 0
    for text, expected in zip(texts, reference(gliner2_checkpoints[name], texts)):
        doc = nlp(text)
        found = group_entities(doc)
        assert found.keys() == expected["entities"].keys(), text
        assert all(abs(found[k] - expected["entities"][k]) < 1e-3 for k in found)
        relations = {
            (r["relation"], *((r[s]["start_char"], r[s]["end_char"]) for s in ("head", "tail"))) for r in doc._.rel
        }
        assert relations == {(k[0], k[1][:2], k[2][:2]) for k in expected["relations"]}, text
        exact = {(s, e, label) for label, s, e, _ in found}
        for ent in doc.ents:  # each one an entity found, widened to its tokens
            assert any(ent.start_char <= s and e <= ent.end_char and ent.label_ == lab for s, e, lab in exact)
        compared += len(found)
    assert compared


def test_threads_give_the_answers_of_sequential_calls(gliner2_checkpoints: Dict[str, Path]) -> None:
    """One pipeline, loaded lazily by the first of several threads, each call with its own
    labels, thresholds, classes and relations: what each call gives alone."""
    texts = benchmark("conll2003", 4)[0]
    calls = [
        {"labels": ["person", "organization"], "classes": {"sentiment": ["positive", "negative"]}},
        {"labels": ["location"], "classes": {"topic": ["sports", "politics"]}, "relations": ["born in"]},
        {"threshold": {"person": 0.6, "*": 0.35}, "relations": ["located in"]},
        {"classes": {"topic": {"labels": ["sports", "politics"], "multi_label": True}}},
    ]
    jobs = [(c, t) for c in range(len(calls)) for t in range(len(texts))]

    def answer(nlp: Any, job: tuple) -> tuple:
        doc = nlp(texts[job[1]], component_cfg={"gliner": dict(calls[job[0]])})
        ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        return sorted(group_entities(doc).items()), ents, sorted(doc.cats.items()), list(doc._.rel)

    for name in ARCHITECTURES:
        alone = pipe(gliner2_checkpoints[name])
        expected = {job: answer(alone, job) for job in jobs}
        shared = pipe(gliner2_checkpoints[name])  # not loaded yet: the threads race to load it
        with ThreadPoolExecutor(4) as pool:
            found = list(pool.map(lambda job: (job, answer(shared, job)), jobs * 2))
        assert all(result == expected[job] for job, result in found), name
        assert any(result[0] for _, result in found) and any(result[3] for _, result in found)


def test_hostile_texts_give_gliner2s_results(gliner2_checkpoints: Dict[str, Path]) -> None:
    """Empty, blank, punctuation only, one word, control characters and emoji: gliner2's
    results; one 50,000-character word: found in windows, offsets inside the text."""
    texts = ["", " \n\t ", "!!! ... ,,, ???", "Apple", "Tim\x00Cook\x07 works\u200b for 🍎 Apple 😀 in Cupertino."]
    for name in ARCHITECTURES:
        nlp = pipe(gliner2_checkpoints[name])
        for text, expected in zip(texts, reference(gliner2_checkpoints[name], texts)):
            doc = nlp(text)
            assert group_entities(doc).keys() == expected["entities"].keys(), repr(text)
            assert set(doc.cats) == set(CLASSES["sentiment"]) and abs(sum(doc.cats.values()) - 1) < 1e-4
        huge = nlp("x" * 50_000)
        assert all(0 <= s < e <= 50_000 for _, s, e, _ in group_entities(huge))


@pytest.mark.parametrize(
    "classes, message",
    [
        ({"s": []}, "at least one choice"),
        ({"s": ["yes"]}, 'has one choice, \'yes\'.*{"s": {"labels": \\["yes"\\], "multi_label": true}}'),
        ({"s": {"labels": ["a", "b"], "multi_label": "yes"}}, "must be true or false"),
        ({"s": {"labels": ["a", "b"], "multi_label": 1}}, "must be true or false"),
    ],
)
def test_bad_classes_are_refused_when_the_pipe_is_configured(tmp_path: Path, classes: Any, message: str) -> None:
    """Before any model loads (the folder does not exist)."""
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=message):
        nlp.add_pipe("gliner", config={"model": str(tmp_path / "nothing"), "classes": classes})


def test_a_one_choice_task_is_a_yes_no_score_when_multi_label(gliner2_checkpoints: Dict[str, Path]) -> None:
    doc = pipe(gliner2_checkpoints["span"], classes={"s": {"labels": ["news"], "multi_label": True}})(SENTENCE)
    assert list(doc.cats) == ["news"] and 0 < doc.cats["news"] < 1


def test_relation_ends_that_are_no_entity(gliner2_checkpoints: Dict[str, Path], tmp_path: Path) -> None:
    """An end of a GLiNER2 relation that is no entity found has label None on the Doc, null in
    the JSONL, and no label under its word on the rendered page; the page still draws it."""
    from spacy_gliner.render import render_html

    nlp = pipe(gliner2_checkpoints["boundary"], labels=["person"], relations=["works for"], threshold=0.2)
    doc = nlp(SENTENCE)
    bare = [r for r in doc._.rel if r["head"]["label"] is None or r["tail"]["label"] is None]
    assert bare, doc._.rel
    page = render_html(doc, "sc", False, {})
    assert page.count(">works for</textPath>") == len(doc._.rel)
    nlp.to_disk(tmp_path / "nlp")
    result = invoke("predict", SENTENCE, "--model", tmp_path / "nlp")
    assert result.exit_code == 0, said(result)
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(r["head"]["label"] is None or r["tail"]["label"] is None for r in record["relations"])
    assert '"label":null' in result.stdout.replace(" ", "")


def test_render_draws_relations_and_classes_of_a_bare_checkpoint(
    gliner2_checkpoints: Dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "page.html"
    args = ["--labels", "person,organization", "--relations", "works for", "--classes", "sentiment=positive,negative"]
    result = invoke("render", SENTENCE, "--model", gliner2_checkpoints["boundary"], *args, "-t", "0.2", "-o", out)
    assert result.exit_code == 0, said(result)
    page = out.read_text(encoding="utf8")
    assert "spacy-gliner-classes" in page and ">positive<" in page and "works for" in page
    refused = invoke("render", SENTENCE, "--model", gliner2_checkpoints["span"], "-l", "person", "--classes", "s=yes")
    assert refused.exit_code != 0 and "has one choice" in said(refused) and "Traceback" not in refused.output


def test_redact_removes_what_a_gliner2_pipe_finds(gliner2_checkpoints: Dict[str, Path], tmp_path: Path) -> None:
    """A saved pipe with classes and relations: every entity predict reports is gone."""
    pipe(gliner2_checkpoints["span"], labels=["person"]).to_disk(tmp_path / "nlp")
    found = invoke("predict", SENTENCE, "--model", tmp_path / "nlp")
    names = {e["text"] for e in json.loads(found.stdout)["entities"]}
    result = invoke("redact", SENTENCE, "--model", tmp_path / "nlp", "--placeholder", "[X]")
    assert result.exit_code == 0, said(result)
    assert names and not any(name in result.stdout for name in names if len(name) > 2), (names, result.stdout)
    assert "[X]" in result.stdout


def test_zero_shot_evaluation_refuses_a_gliner2_checkpoint(
    gliner2_checkpoints: Dict[str, Path], tmp_path: Path
) -> None:
    from spacy_gliner.data.evaluation import evaluate_zero_shot

    bench = tmp_path / "bench" / "tiny"
    bench.mkdir(parents=True)
    (bench / "test.json").write_text(json.dumps([{"sentence": "Tim Cook spoke .", "entities": []}]))
    (bench / "labels.json").write_text(json.dumps(["person"]))
    with pytest.raises(ValueError, match="zero-shot protocol .* evaluates GLiNER checkpoints only"):
        evaluate_zero_shot(gliner2_checkpoints["span"], tmp_path / "bench", ["tiny"], progress=False)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_export_writes_a_folder_gliner2_loads(gliner2_checkpoints: Dict[str, Path], tmp_path: Path, name: str) -> None:

    pipe(gliner2_checkpoints[name]).to_disk(tmp_path / "nlp")
    result = invoke("export", tmp_path / "nlp", tmp_path / "out")
    assert result.exit_code == 0, said(result)
    texts = benchmark("conll2003", 2)[0]
    assert reference(tmp_path / "out", texts) == reference(gliner2_checkpoints[name], texts)


def test_spacy_package_installs_and_loads_offline(
    gliner2_checkpoints: Dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``spacy package`` of a saved GLiNER2 pipeline, placed as pip installs it, loads with the
    Hub offline and gives the saved pipeline's answers (the package pattern of test_cli)."""
    pipe(gliner2_checkpoints["boundary"]).to_disk(tmp_path / "nlp")
    monkeypatch.syspath_prepend(str(install_package(tmp_path / "nlp", tmp_path, "gliner2_demo")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        installed, saved = spacy.load("en_gliner2_demo")(SENTENCE), spacy.load(tmp_path / "nlp")(SENTENCE)
    finally:
        sys.modules.pop("en_gliner2_demo", None)
    assert group_entities(installed) == group_entities(saved) and group_entities(saved)
    assert installed.cats == saved.cats and list(installed._.rel) == list(saved._.rel)


def test_predict_show_prints_relations_and_classes(gliner2_checkpoints: Dict[str, Path]) -> None:
    """--show was entities only: a GLiNER2 pipe's relations and classes were silently left out."""
    import re

    args = ["-l", "person,organization", "--relations", "works for", "--classes", "sentiment=positive,negative"]
    result = invoke("predict", SENTENCE, "--model", gliner2_checkpoints["boundary"], *args, "-t", "0.2", "--show")
    assert result.exit_code == 0, said(result)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    record = json.loads(
        invoke("predict", SENTENCE, "--model", gliner2_checkpoints["boundary"], *args, "-t", "0.2").stdout
    )
    assert record["relations"] and "relation" in plain.split() and "class" in plain.split()
    for r in record["relations"]:
        assert re.search(rf"{re.escape(r['head']['text'])}\s+works for\s+{re.escape(r['tail']['text'])}", plain)
    assert all(re.search(rf"{choice}\s+{score:.2f}", plain) for choice, score in record["cats"].items())
