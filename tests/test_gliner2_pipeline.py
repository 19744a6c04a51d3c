"""GLiNER2 checkpoints in the ``gliner`` component and on the command line.

Tiny checkpoints written by gliner2 itself (``helpers.gliner2_checkpoints``), span and
boundary: a pipe with entity labels (one with a threshold of its own), a classification
task and relation types, saved and run through ``spacy-gliner predict``, gives gliner2's
``extract`` results; long documents through ``nlp.pipe`` give the core's; classes per call
and per doc; what is refused (duplicate choices, classes on a GLiNER model, training);
DocBin, ``to_bytes`` and scoring.
"""

import json
from pathlib import Path
from typing import Any, Dict, List

import pyarrow as pa
import pytest
import spacy
from helpers.cli import invoke, said, write_jsonl
from helpers.data import benchmark
from helpers.gliner2_checkpoints import PIPELINE_ARCHITECTURES, comparable
from spacy.tokens import DocBin
from spacy.training import Example

from spacy_gliner.loading import RunOptions
from spacy_gliner.model.gliner2 import checkpoint as gliner2_checkpoint
from spacy_gliner.model.gliner2.extract import Extractor
from spacy_gliner.model.gliner2.schema import Schema

ARCHITECTURES = PIPELINE_ARCHITECTURES  # conftest's gliner2_checkpoints
LABELS = ["person", "organization", "location", "miscellaneous"]
CLASSES = {"sentiment": ["positive", "negative", "neutral"]}
RELATIONS = ["works for", "located in"]
THRESHOLD = {"person": 0.6, "*": 0.4}  # one label with a threshold of its own


def pipe(folder: Path, **config: Any) -> Any:
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "gliner",
        config={
            "model": str(folder),
            "labels": LABELS,
            "classes": CLASSES,
            "relations": RELATIONS,
            "threshold": THRESHOLD,
            **config,
        },
    )
    return nlp


def reference_schema() -> Any:
    from gliner2 import Schema as Gliner2Schema

    entities = {label: ({"threshold": THRESHOLD[label]} if label in THRESHOLD else {}) for label in LABELS}
    ((task, choices),) = CLASSES.items()
    return Gliner2Schema().entities(entities).classification(task, choices).relations(RELATIONS)


@pytest.mark.parity
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_saved_pipe_through_predict_gives_gliner2s_results(
    gliner2_checkpoints: Dict[str, Path], tmp_path: Path, name: str
) -> None:
    """Entities (exact characters), the best class (confidence within 1e-3) and relations of
    gliner2's ``extract`` with the same schema and thresholds, on benchmark sentences."""
    from gliner2 import AutoExtractor

    saved = tmp_path / "pipeline"
    pipe(gliner2_checkpoints[name]).to_disk(saved)
    texts, _ = benchmark("conll2003", 8)
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": t}) for t in texts])
    result = invoke("predict", source, "--model", saved, "--output", tmp_path / "out.jsonl")
    assert result.exit_code == 0, said(result)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf8").splitlines()]
    reference = AutoExtractor.from_pretrained(str(gliner2_checkpoints[name]))
    schema = Schema.build(LABELS, CLASSES, RELATIONS)
    counts = {"entities": 0, "relations": 0}
    for text, record in zip(texts, records):
        found = reference.extract(
            text, reference_schema(), threshold=THRESHOLD["*"], include_confidence=True, include_spans=True
        )
        expected = comparable(found, text, schema)
        entities = {(e["label"], e["start"], e["end"], e["text"]): e["score"] for e in record["entities"]}
        assert entities.keys() == expected["entities"].keys(), text
        assert all(abs(entities[k] - expected["entities"][k]) < 1e-3 for k in entities)
        assert all(e["score"] >= THRESHOLD.get(e["label"], THRESHOLD["*"]) - 1e-4 for e in record["entities"])
        best = max(record["cats"], key=record["cats"].get)
        ((task, chosen),) = expected["classes"].items()
        assert set(record["cats"]) == set(CLASSES[task]) and list(chosen) == [best]
        assert abs(record["cats"][best] - chosen[best]) < 1e-3
        relations = {
            (r["label"], *((e["start"], e["end"], e["text"]) for e in (r["head"], r["tail"])))
            for r in record["relations"]
        }
        assert relations == set(expected["relations"]), text
        counts["entities"] += len(entities)
        counts["relations"] += len(relations)
    assert counts["entities"] and counts["relations"], counts  # something was compared


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_long_documents_through_nlp_pipe_give_every_entity(gliner2_checkpoints: Dict[str, Path], name: str) -> None:
    """Documents of several windows, batched with short ones: the core's entities, classes and
    relations of each, nothing cut."""
    texts, _ = benchmark("conll2003", 120)
    long_text = " ".join(texts[40:120])
    docs_texts = [texts[0], long_text, texts[1]]
    nlp = pipe(gliner2_checkpoints[name])
    nlp.max_length = 10**7
    docs = list(nlp.pipe(docs_texts, batch_size=3))
    extractor = Extractor(gliner2_checkpoint.load(gliner2_checkpoints[name]))
    schema = Schema.build(
        {label: {"threshold": THRESHOLD.get(label)} for label in LABELS},
        CLASSES,
        {r: {"threshold": THRESHOLD["*"]} for r in RELATIONS},
    )
    assert len(extractor.windows([long_text], schema)) > 1
    expected = extractor(docs_texts, schema, threshold=THRESHOLD["*"])
    for doc, extraction in zip(docs, expected):
        group = doc.spans["sc"]
        found = sorted(zip(group.attrs["starts"].tolist(), group.attrs["ends"].tolist(), group.attrs["labels"]))
        assert found == sorted((e.start, e.end, e.label) for e in extraction.entities)
        assert doc.cats == pytest.approx(extraction.classes[0].scores)
        relations = [(r["relation"], r["head"]["start_char"], r["tail"]["end_char"]) for r in doc._.rel]
        assert relations == [(r.label, r.head.start, r.tail.end) for r in extraction.relations]
    assert max(e.end for e in expected[1].entities) > len(long_text) // 2  # entities past the first window


def test_flat_entities_fit_tokens_and_relations_index_them(gliner2_checkpoints: Dict[str, Path]) -> None:
    """Any tokenizer: doc.ents holds entities widened to tokens; relation ends on an entity
    point at it in doc.ents, with its label; other ends have index None."""
    texts, _ = benchmark("conll2003", 12)
    indexed = 0
    for name in ARCHITECTURES:
        for doc in pipe(gliner2_checkpoints[name], threshold=0.3).pipe(texts):
            ents = {(e.start_char, e.end_char, e.label_) for e in doc.ents}
            for relation in doc._.rel:
                for side, index in (("head", "dep"), ("tail", "dest")):
                    end = relation[side]
                    if relation[index] is None:
                        assert end["label"] is None or (end["start_char"], end["end_char"], end["label"]) not in ents
                        continue
                    indexed += 1
                    ent = doc.ents[relation[index]]
                    assert ent.label_ == end["label"]
                    assert ent.start_char <= end["start_char"] < end["end_char"] <= ent.end_char
    assert indexed  # some ends are entities of doc.ents


def test_labels_and_thresholds_per_call_and_per_doc(gliner2_checkpoints: Dict[str, Path]) -> None:
    """A doc's own labels and per-label threshold, and a call's, are gliner2's schema for it."""
    nlp = pipe(gliner2_checkpoints["boundary"])
    extractor = Extractor(gliner2_checkpoint.load(gliner2_checkpoints["boundary"]))
    text = "Tim Cook works for Apple in Cupertino, California."

    def expected(labels: Dict[str, Any], threshold: float) -> List[Any]:
        schema = Schema.build(labels, CLASSES, {r: {"threshold": threshold} for r in RELATIONS})
        return sorted((e.start, e.end, e.label) for e in extractor([text], schema, threshold)[0].entities)

    def found(doc: Any) -> List[Any]:
        group = doc.spans["sc"]
        return sorted(zip(group.attrs["starts"].tolist(), group.attrs["ends"].tolist(), group.attrs["labels"]))

    doc = nlp.make_doc(text)
    doc.user_data["gliner_labels"] = ["person", "company"]
    doc.user_data["gliner_threshold"] = {"company": 0.2, "*": 0.45}
    assert found(nlp(doc)) == expected({"person": {}, "company": {"threshold": 0.2}}, 0.45)
    call = {"labels": ["city"], "threshold": 0.25}
    assert found(nlp(text, component_cfg={"gliner": call})) == expected({"city": {}}, 0.25)
    assert found(nlp(doc)) and found(nlp(text, component_cfg={"gliner": call}))  # something to compare


def test_a_choice_of_two_tasks_is_refused(gliner2_checkpoints: Dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="'positive' belongs to the classification tasks"):
        pipe(
            gliner2_checkpoints["span"],
            classes={"sentiment": ["positive", "negative"], "review": ["positive", "mixed"]},
        )


def test_classes_on_a_gliner_checkpoint_are_refused(tiny: Path, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(tiny), "labels": ["person"], "classes": CLASSES})
    with pytest.raises(ValueError, match="classes need a GLiNER2 checkpoint"):
        nlp("Tim Cook works for Apple.")
    result = invoke("predict", "Tim Cook works for Apple.", "--model", tiny, "--labels", "person", "--classes", "s=a,b")
    assert result.exit_code != 0 and "classes need a GLiNER2 checkpoint" in said(result)


@pytest.mark.parametrize(
    "value, message",
    [("sentiment", "is not TASK=CHOICE,CHOICE"), ("s=a,b --classes s=c", "twice"), ("s=a,a", "no repeated ones")],
)
def test_classes_option_is_checked_before_loading(tmp_path: Path, value: str, message: str) -> None:
    args: List[str] = []
    for part in value.split(" --classes "):
        args += ["--classes", part]
    result = invoke("predict", "A text.", "--model", tmp_path / "nothing-here", *args)
    assert result.exit_code != 0 and message in said(result)


def test_training_is_refused(gliner2_checkpoints: Dict[str, Path]) -> None:
    nlp = pipe(gliner2_checkpoints["span"])
    doc = nlp.make_doc("Tim Cook works for Apple.")
    example = Example.from_dict(doc, {"entities": [(0, 8, "person")]})
    with pytest.raises(ValueError, match="Training a GLiNER2 model"):
        nlp.update([example])


def test_docbin_keeps_cats_and_relations(gliner2_checkpoints: Dict[str, Path]) -> None:
    nlp = pipe(gliner2_checkpoints["boundary"], threshold=0.3)
    doc = nlp("Tim Cook works for Apple in Cupertino.")
    assert doc.cats and doc._.rel
    restored = list(DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab))[0]
    assert restored.cats == doc.cats
    assert list(restored._.rel) == list(doc._.rel)


def test_to_bytes_and_to_disk_are_self_contained(gliner2_checkpoints: Dict[str, Path], tmp_path: Path) -> None:
    """The checkpoint's files travel with the pipeline: loaded back with the source gone."""
    import shutil

    source = tmp_path / "source"
    shutil.copytree(gliner2_checkpoints["boundary"], source)
    nlp = pipe(source, threshold=0.3)
    text = "Tim Cook works for Apple in Cupertino."
    doc = nlp(text)
    nlp.to_disk(tmp_path / "saved")
    data = nlp.to_bytes()
    shutil.rmtree(source)
    again = spacy.load(tmp_path / "saved")(text)
    blank = spacy.blank("en")
    blank.add_pipe("gliner", config={"model": str(gliner2_checkpoints["span"])})
    from_bytes = blank.from_bytes(data)(text)
    for other in (again, from_bytes):
        assert [(e.start_char, e.end_char, e.label_) for e in other.ents] == [
            (e.start_char, e.end_char, e.label_) for e in doc.ents
        ]
        assert other.cats == pytest.approx(doc.cats) and list(other._.rel) == list(doc._.rel)


def test_scoring_gives_textcat_scores(gliner2_checkpoints: Dict[str, Path]) -> None:
    """``nlp.evaluate`` (what ``spacy evaluate`` runs) gives cats_* beside the entity scores."""
    nlp = pipe(gliner2_checkpoints["span"])
    examples = []
    for text, gold in (("Great news today.", "positive"), ("Terrible loss again.", "negative")):
        cats = {choice: float(choice == gold) for choice in CLASSES["sentiment"]}
        examples.append(Example.from_dict(nlp.make_doc(text), {"cats": cats, "entities": []}))
    scores = nlp.evaluate(examples)
    assert {"cats_score", "cats_macro_auc", "ents_f"} <= set(scores)
    assert scores["cats_score_desc"] == "macro F"  # one single-label task: textcat's scoring


def test_tokenizer_cuts_gliner2_words() -> None:
    from spacy_gliner.loading import gliner_tokenizer
    from spacy_gliner.model.gliner2.inputs import split_words

    nlp = spacy.blank("en", config=gliner_tokenizer("gliner2"))
    text = "Mail jane.doe@example.com or see https://example.com/a-b?c=1  now, @acme!"
    doc = nlp(text)
    assert doc.text == text
    assert [t.text for t in doc if not t.is_space] == [w for w, _, _ in split_words(text)]
    assert "https://example.com/a-b?c=1" in [t.text for t in doc]
    with pytest.raises(ValueError, match="words must be one of"):
        spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_gliner.Tokenizer.v1", "words": "x"}}})


def test_bare_checkpoint_on_the_command_line(gliner2_checkpoints: Dict[str, Path]) -> None:
    """A GLiNER2 checkpoint folder with --labels, --classes and --relations; its tokens are
    gliner2's words, so the entities are exact."""
    text = "Tim Cook works for Apple in Cupertino, California"
    args = ["--labels", ",".join(LABELS), "--classes", "sentiment=positive,negative,neutral"]
    result = invoke("predict", text, "--model", gliner2_checkpoints["span"], *args, "--relations", ",".join(RELATIONS))
    assert result.exit_code == 0, said(result)
    record = json.loads(result.stdout.splitlines()[0])
    assert set(record["cats"]) == {"positive", "negative", "neutral"} and "relations" in record
    expected = Extractor(gliner2_checkpoint.load(gliner2_checkpoints["span"]))(
        [text], Schema.build(LABELS, CLASSES, RELATIONS)
    )
    assert [(e["start"], e["end"], e["label"]) for e in record["entities"]] == [
        (e.start, e.end, e.label) for e in expected[0].entities
    ]


def test_hub_id_loads_lazily(gliner2_checkpoints: Dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``model: "owner/name"`` builds without downloading; the first doc gets the snapshot and
    finds it is a GLiNER2 checkpoint by its files."""
    import huggingface_hub

    calls: List[str] = []

    def snapshot_download(repo_id: str, **kwargs: Any) -> str:
        calls.append(repo_id)
        return str(gliner2_checkpoints["span"])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": "fastino/gliner2-tiny", "labels": LABELS, "classes": CLASSES})
    assert calls == []
    assert set(nlp("Tim Cook works for Apple.").cats) == set(CLASSES["sentiment"])
    assert calls == ["fastino/gliner2-tiny"]


def test_structures_are_not_a_setting() -> None:
    from spacy_gliner.config import GLiNERConfig

    with pytest.raises(TypeError):
        GLiNERConfig(structures={"product": ["name"]})  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="Structured records"):
        Schema.build(LABELS, structures={"product": ["name"]})


@pytest.mark.parametrize("name, family", [("span", "GLiNER2 span"), ("boundary", "GLiNER2 boundary")])
def test_info_names_the_family(gliner2_checkpoints: Dict[str, Path], name: str, family: str) -> None:
    result = invoke("info", gliner2_checkpoints[name])
    assert result.exit_code == 0, said(result)
    assert family in result.stdout and "give --classes when predicting" in result.stdout


def test_mixed_precision_is_refused(gliner2_checkpoints: Dict[str, Path]) -> None:
    nlp = spacy.blank("en")
    model = {
        "@architectures": "spacy_gliner.GLiNERModel.v1",
        "source": str(gliner2_checkpoints["span"]),
        "mixed_precision": "int8",
    }
    nlp.add_pipe("gliner", config={"model": model, "classes": CLASSES})
    with pytest.raises(ValueError, match="a GLiNER2 model runs in float32"):
        nlp("Some text.")


def test_calibration_is_refused(gliner2_checkpoints: Dict[str, Path]) -> None:
    from spacy_gliner.data.calibration import Gold, calibrate
    from spacy_gliner.loading import load_pipeline

    pipeline = load_pipeline(gliner2_checkpoints["span"], RunOptions(labels=["person"]))
    with pytest.raises(ValueError, match="Calibrating thresholds of a GLiNER2 model is not supported"):
        calibrate(pipeline, [Gold("Tim Cook works for Apple.", {(0, 8, "person")})])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: (d / "model.safetensors").unlink(), "holds no weights"),
        (lambda d: _edit_json(d / "config.json", auto_map={"AutoConfig": "evil.Evil"}), "auto_map"),
        (lambda d: _edit_json(d / "config.json", model_type="bert"), "model_type 'bert'"),
        (lambda d: (d / "config.json").unlink(), "no gliner_config.json or config.json"),
    ],
)
def test_bad_folders_are_refused_when_the_pipe_is_built(
    gliner2_checkpoints: Dict[str, Path], tmp_path: Path, change: Any, message: str
) -> None:
    """``add_pipe`` checks a local GLiNER2 folder at once (config, code, weights file), as a GLiNER one."""
    import shutil

    from spacy_gliner.model.settings import CheckpointError

    folder = tmp_path / "copy"
    shutil.copytree(gliner2_checkpoints["span"], folder)
    change(folder)
    with pytest.raises(CheckpointError, match=message):
        spacy.blank("en").add_pipe("gliner", config={"model": str(folder), "labels": LABELS})


def _edit_json(path: Path, **fields: Any) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf8")), **fields}), encoding="utf8")


def test_a_ray_worker_writes_what_predict_writes(gliner2_checkpoints: Dict[str, Path], tmp_path: Path) -> None:
    """A bare GLiNER2 checkpoint with labels, classes and relations: a Ray worker's JSON lines
    (``--engine ray``) are the one-process lines byte for byte, classes and relations included."""
    from spacy_gliner import scale
    from spacy_gliner.cli import distributed

    texts = benchmark("conll2003", 4)[0]
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)]
    corpus = write_jsonl(tmp_path / "in.jsonl", lines)
    args = ["--labels", ",".join(LABELS), "--classes", "sentiment=positive,negative,neutral"]
    result = invoke(
        "predict", corpus, "--model", gliner2_checkpoints["boundary"], *args, "--relations", ",".join(RELATIONS)
    )
    assert result.exit_code == 0, said(result)
    expected = result.stdout.splitlines()
    assert all({"cats", "relations"} <= set(json.loads(line)) for line in expected)
    options = RunOptions(labels=LABELS, classes=CLASSES, relations=RELATIONS)
    table = pa.table(
        {
            scale.LINE: pa.array([(line + "\n").encode() for line in lines], type=pa.binary()),
            scale.FILE: [str(corpus)] * len(lines),
            scale.NUMBER: pa.array(range(1, len(lines) + 1), type=pa.int64()),
        }
    )
    out = distributed.LineAnnotator(scale.RunSettings(str(gliner2_checkpoints["boundary"]), options))(table).to_pydict()
    assert out[distributed.OUTPUT] == expected
