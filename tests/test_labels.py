"""Labels dicts the official way: ``{label: description}``, the label on the
spans and entities, the description read by the model, in the config, per call, per
document, in CLI label files and in training; the earlier, reversed form refused where it
shows, and saved pipelines of earlier versions turned round, never read backwards. Labels
the model cannot read (invisible, no sub-token) refused with the label named; no labels, duplicate
labels, casing, over-long labels, 500 labels in groups, and labels per doc and per call in one batch.

Parity is with ``gliner`` 0.2.29's ``inference(texts, {label: description})``.
"""

import json
import re
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import spacy
import srsly
from confection import ConfigValidationError
from helpers.data import DATA, REF_MINILM, benchmark
from helpers.docs import assert_same_output, assert_valid_output, span_scores
from helpers.parity import Comparison, compare, official_inference
from helpers.pipelines import LABELS, SENTENCE, THRESHOLD, gliner_pipeline
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from typer.testing import CliRunner

from spacy_gliner.cli.app import app
from spacy_gliner.component import DOC_LABELS_KEY, LABELS_FORMAT, LABELS_FORMAT_KEY
from spacy_gliner.loading import GLINER_TOKENIZER, Pipeline, RunOptions, load_pipeline

TEXTS, _ = benchmark("conll2003", 12)
DESCRIBED = {"PER": "person", "ORG": "organization", "LOC": "location"}
REVERSED = {"person": "PER", "human": "PER", "location": "LOC"}  # the earlier form: several texts, one label


def official_entities(official: Any, name: str, labels: Dict[str, str], texts: List[str] = TEXTS) -> List[List[dict]]:
    return official_inference(official(name), texts, labels, threshold=THRESHOLD)


def check_parity(theirs: List[List[dict]], ours: List[List[dict]], labels: Dict[str, str]) -> None:
    """The same entities, named by the dict's keys, and some of them."""
    compare(theirs, ours, THRESHOLD, Comparison()).check()
    found = {e["label"] for entities in ours for e in entities}
    assert found and found <= set(labels)


def test_no_labels_names_every_place_to_give_them(tiny_checkpoint):
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint("markerV0-bert"))})
    with pytest.raises(ValueError, match="no labels to look for") as err:
        nlp("Ada Lovelace.")
    assert 'config={"labels"' in str(err.value) and "component_cfg=" in str(err.value)
    assert f'doc.user_data["{DOC_LABELS_KEY}"]' in str(err.value)


@pytest.mark.parity
@pytest.mark.parametrize("where", ["config", "call", "doc"])
def test_dict_labels_give_the_official_entities(where, official):
    """The model reads the descriptions and the entities carry the labels, as in the official
    library, wherever the dict is given."""
    nlp = spacy.blank("en", config=GLINER_TOKENIZER)  # tokens are GLiNER's words
    configured = DESCRIBED if where == "config" else ["misc"]
    nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": configured, "threshold": THRESHOLD})
    pipeline = Pipeline(nlp, "gliner", RunOptions(DESCRIBED if where == "call" else None))
    assert pipeline.component.labels == tuple(configured)
    docs = []
    for text in TEXTS:
        doc = nlp.make_doc(text)
        if where == "doc":
            doc.user_data[DOC_LABELS_KEY] = DESCRIBED
        docs.append(doc)
    ours = [pipeline.entities(doc) for doc in nlp.pipe(docs, component_cfg=pipeline.cfg)]
    check_parity(official_entities(official, "ref_minilm", DESCRIBED), ours, DESCRIBED)
    assert {e.label_ for doc in docs for e in doc.ents} <= set(DESCRIBED)


@pytest.mark.parity
def test_a_bi_encoder_reads_the_descriptions(official, checkpoint_path):
    """A bi-encoder's label encoder gets the descriptions (its vectors are cached by them)."""
    name = "bi-markerV0-bert-h48"
    texts, labels = benchmark("conll2003", 12)
    described = {label.upper(): label for label in labels}
    pipeline = load_pipeline(checkpoint_path(name), RunOptions(described, THRESHOLD))
    ours = [pipeline.entities(doc) for doc in pipeline.nlp.pipe(texts, component_cfg=pipeline.cfg)]
    check_parity(official_entities(official, name, described, texts), ours, described)


@pytest.mark.parity
def test_a_cli_label_file_is_label_to_description(tmp_path, official):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(DESCRIBED), encoding="utf8")
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf8")
    result = CliRunner().invoke(
        app, ["predict", str(source), "-l", str(path), "-m", str(REF_MINILM), "-t", str(THRESHOLD)]
    )
    assert result.exit_code == 0, result.output
    ours = [json.loads(line)["entities"] for line in result.stdout.splitlines()]
    check_parity(official_entities(official, "ref_minilm", DESCRIBED), ours, DESCRIBED)


def test_a_cli_label_file_in_the_reversed_form_is_refused(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(REVERSED), encoding="utf8")
    result = CliRunner().invoke(app, ["predict", "Ada met Bob.", "-l", str(path), "-m", str(REF_MINILM)])
    message = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", result.stderr).split())
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "'person' and 'human' have the same description 'PER'" in message and "{'PER': 'person'}" in message


# -- training ---------------------------------------------------------------------------------


def _trainable(tiny_checkpoint, **config: Any) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint("markerV0-bert")), **config})
    return nlp


def _example(nlp: Language, negatives: List[str] = ()) -> Example:
    doc = nlp.make_doc("Alice lives in Paris .")
    example = Example.from_dict(doc, {"entities": [(0, 5, "PER"), (15, 20, "LOC")]})
    if negatives:
        example.reference.user_data["gliner_negatives"] = list(negatives)
    return example


@pytest.mark.parametrize("negative", [False, True])
def test_training_refuses_a_gold_label_that_is_another_labels_description(tiny_checkpoint, negative):
    """The reversed form in the config shows when the gold labels come: a gold (or negative)
    label 'PER' that the config gives as the description of 'person'."""
    nlp = _trainable(tiny_checkpoint, labels={"person": "PER", "city": "LOC"} if not negative else {"city": "LOC"})
    example = _example(nlp, ["LOC"] if negative else [])
    if negative:  # gold PER is read as it is; the explicit negative LOC is city's description
        example.reference.ents = [example.reference.ents[0]]
    nlp.initialize(lambda: [example])
    wanted = (
        r"\{'city': 'LOC'\}.*swap each pair, e.g. \{'LOC': 'city'\}"
        if negative
        else r"\{'person': 'PER'\}.*\{'PER': 'person'\}"
    )
    with pytest.raises(ValueError, match=f"holds the label '(PER|LOC)'.*{wanted}"):
        nlp.update([example])


def test_labels_name_what_label_descriptions_describe(tiny_checkpoint):
    """One set of labels, two views: ``labels`` (spaCy's: the labels written when a call or doc
    names none) and ``label_descriptions`` ({label: the text the model reads}); the configured
    labels, else those collected in training."""
    pipe = _trainable(tiny_checkpoint).get_pipe("gliner")
    assert pipe.labels == () and pipe.label_descriptions == {}
    pipe.add_label("AWARD")
    assert pipe.labels == ("AWARD",) and pipe.label_descriptions == {"AWARD": "AWARD"}
    configured = _trainable(tiny_checkpoint, labels=DESCRIBED).get_pipe("gliner")
    configured.add_label("AWARD")  # kept for training; the configured labels are looked for
    assert configured.labels == tuple(DESCRIBED) and configured.label_descriptions == DESCRIBED


def test_add_label_keeps_descriptions_apart(tiny_checkpoint):
    nlp = _trainable(tiny_checkpoint)
    pipe = nlp.get_pipe("gliner")
    pipe.initialize(lambda: [], nlp=nlp, labels=DESCRIBED)
    assert pipe.add_label("MISC") == 1 and pipe.labels == (*DESCRIBED, "MISC")
    with pytest.raises(ValueError, match="'PER' and 'person' have the same description 'person'"):
        pipe.add_label("person")
    assert pipe.labels == (*DESCRIBED, "MISC")


# -- saved pipelines ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_with_descriptions(tmp_path_factory, tiny_checkpoint) -> Path:
    nlp = _trainable(tiny_checkpoint, labels=DESCRIBED, threshold=THRESHOLD)
    nlp.get_pipe("gliner").initialize(lambda: [], nlp=nlp, labels={"AWARD": "prize"})
    path = tmp_path_factory.mktemp("saved") / "nlp"
    nlp.to_disk(path)
    return path


def _rewrite_cfg(path: Path, target: Path, change) -> Path:
    import shutil

    shutil.copytree(path, target)
    cfg = srsly.read_json(target / "gliner" / "cfg")
    change(cfg)
    srsly.write_json(target / "gliner" / "cfg", cfg)
    return target


def test_a_saved_cfg_says_its_labels_format(saved_with_descriptions):
    cfg = srsly.read_json(saved_with_descriptions / "gliner" / "cfg")
    assert cfg[LABELS_FORMAT_KEY] == LABELS_FORMAT == 2
    assert cfg["settings"]["labels"] == DESCRIBED and cfg["trained_labels"] == {"AWARD": "prize"}
    pipe = spacy.load(saved_with_descriptions).get_pipe("gliner")
    assert pipe.label_descriptions == DESCRIBED and pipe.cfg["trained_labels"] == {"AWARD": "prize"}


def test_an_earlier_versions_cfg_is_turned_round(saved_with_descriptions, tmp_path):
    """Earlier versions wrote {text the model reads: label} and no labels_format."""

    def earlier(cfg: Dict[str, Any]) -> None:
        cfg.pop(LABELS_FORMAT_KEY, None)
        cfg["settings"]["labels"] = {text: label for label, text in DESCRIBED.items()}
        cfg["trained_labels"] = {"prize": "AWARD"}

    expected = spacy.load(saved_with_descriptions)
    nlp = spacy.load(_rewrite_cfg(saved_with_descriptions, tmp_path / "earlier", earlier))
    pipe = nlp.get_pipe("gliner")
    assert pipe.label_descriptions == DESCRIBED and pipe.cfg["trained_labels"] == {"AWARD": "prize"}
    for doc, other in zip(nlp.pipe(TEXTS), expected.pipe(TEXTS)):
        assert [(s.start, s.end, s.label_) for s in doc.spans["sc"]] == [
            (s.start, s.end, s.label_) for s in other.spans["sc"]
        ]
    nlp.to_disk(tmp_path / "again")  # written back in the current format
    assert srsly.read_json(tmp_path / "again" / "gliner" / "cfg")[LABELS_FORMAT_KEY] == LABELS_FORMAT
    assert spacy.load(tmp_path / "again").get_pipe("gliner").label_descriptions == DESCRIBED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda cfg: (cfg.pop(LABELS_FORMAT_KEY, None), cfg["settings"].update(labels=REVERSED)),
            r"settings\.labels read the label 'PER' from several texts \('person', 'human'\)",
        ),
        (
            lambda cfg: (cfg.pop(LABELS_FORMAT_KEY, None), cfg.update(trained_labels=REVERSED)),
            r"trained_labels read the label 'PER' from several texts",
        ),
        (lambda cfg: cfg.update({LABELS_FORMAT_KEY: 3}), r"labels_format 3.*upgrade spacy-gliner"),
        (lambda cfg: cfg.update({LABELS_FORMAT_KEY: True}), r"labels_format True"),
    ],
)
def test_a_cfg_that_cannot_be_read_rightly_is_refused(saved_with_descriptions, tmp_path, change, message):
    path = _rewrite_cfg(saved_with_descriptions, tmp_path / "nlp", change)
    with pytest.raises(ValueError, match=message):
        spacy.load(path)
    nlp = spacy.load(saved_with_descriptions)  # from_bytes too, and a failure leaves the component as it was
    with pytest.raises(ValueError, match=message):
        nlp.get_pipe("gliner").from_disk(path / "gliner", exclude=["model"])
    assert nlp.get_pipe("gliner").label_descriptions == DESCRIBED


# -- labels the model cannot read --------------------------------------------------------------


@pytest.mark.parametrize("label", ["\u200b", "\x00", "\ufeff", "\u00ad", "\u2060\u200d", " \u200b ", "\u0301"])
def test_invisible_labels_are_refused(label):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=re.escape(repr(label))):
        nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": ["person", label]})


def test_a_label_without_sub_tokens_is_refused(tiny):
    nlp = gliner_pipeline(tiny, threshold=THRESHOLD)
    with pytest.raises(ValueError, match=re.escape(repr("\ufffd")) + ".*no sub-token"):
        nlp(SENTENCE, component_cfg={"gliner": {"labels": ["person", "\ufffd"]}})


def test_each_new_label_is_tokenized_once(tiny):
    nlp = gliner_pipeline(tiny, threshold=THRESHOLD)
    builder = nlp.get_pipe("gliner").search().builder
    calls: List[List[List[str]]] = []
    original = builder.pieces

    def counting(word_lists):
        calls.append([list(words) for words in word_lists])
        return original(word_lists)

    builder.pieces = counting
    nlp(SENTENCE)
    nlp(SENTENCE, component_cfg={"gliner": {"labels": [*LABELS, "planet"]}})
    assert [c for c in calls if c in ([list(LABELS)], [["planet"]])] == [[list(LABELS)], [["planet"]]]


def test_invisible_labels_in_a_label_map_are_refused():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=re.escape(repr("\u200b"))):
        nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": {"person": "\u200b"}})


@pytest.mark.parametrize("where", ["config", "call", "doc"])
def test_two_labels_with_one_description_are_refused(tiny, where):
    """A labels dict is {label: description}; several texts for one label ({"person": "PER",
    "human": "PER"}, the form earlier versions took) cannot be told apart, and the official
    library refuses one description for two labels too."""
    reversed_form = {"person": "PER", "human": "PER", "city": "LOC"}
    message = (
        r"'person' and 'human' have the same description 'PER'.*\{label: description\}.*swap each pair, e.g. \{'PER':"
        r" 'person'\}"
    )
    with pytest.raises(ValueError, match=message):
        if where == "config":
            gliner_pipeline(tiny, labels=reversed_form, threshold=THRESHOLD)
        elif where == "call":
            gliner_pipeline(tiny, threshold=THRESHOLD)(SENTENCE, component_cfg={"gliner": {"labels": reversed_form}})
        else:
            nlp = gliner_pipeline(tiny, threshold=THRESHOLD)
            doc = nlp.make_doc(SENTENCE)
            doc.user_data["gliner_labels"] = reversed_form
            nlp(doc)


# -- no labels, many labels, labels per doc and per call ---------------------------------------


def test_no_labels_is_a_clear_error():
    nlp = spacy.blank("en")
    component = nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": []})  # labels may come later
    with pytest.raises(ValueError, match="no labels to look for"):
        nlp(SENTENCE)
    with pytest.raises(ValueError, match="no labels to look for"):
        component(nlp.make_doc(SENTENCE), labels=[])
    doc = nlp.make_doc(SENTENCE)
    doc.user_data[DOC_LABELS_KEY] = []
    with pytest.raises(ValueError, match="no labels to look for"):
        component(doc, labels=["person"])


def test_duplicate_labels_keep_the_first(nlp):
    component = nlp.get_pipe("gliner")
    doc = component(nlp.make_doc(SENTENCE), labels=["person", "location", "person", "location"])
    assert_same_output(doc, component(nlp.make_doc(SENTENCE), labels=["person", "location"]))


def test_label_casing(nlp):
    """Labels are used as given; with an uncased encoder, casing changes only the label name."""
    component = nlp.get_pipe("gliner")
    lower = component(nlp.make_doc(SENTENCE), labels=["person"])
    upper = component(nlp.make_doc(SENTENCE), labels=["Person"])
    assert [e.label_ for e in upper.ents] == ["Person"] * len(lower.ents) and lower.ents
    assert [(e.start, e.end) for e in upper.ents] == [(e.start, e.end) for e in lower.ents]
    np.testing.assert_allclose(span_scores(lower), span_scores(upper), atol=1e-6)
    both = component(nlp.make_doc(SENTENCE), labels=["person", "Person"])
    assert {e.label_ for e in both.ents} <= {"person", "Person"}
    assert list(component.__class__(nlp.vocab, component.model, labels=["person", "Person"]).labels) == [
        "person",
        "Person",
    ]


def test_300_word_label_is_cut_with_a_warning(nlp):
    component = nlp.get_pipe("gliner")
    outputs = []
    for n_words in (300, 400):
        long_label = " ".join(["word"] * n_words)
        with pytest.warns(UserWarning, match="sub-tokens; only the first"):
            outputs.append(component(nlp.make_doc(SENTENCE), labels=[long_label]))
    # both are cut to the same prefix: the same prompt, the same spans and scores
    assert [(s.start, s.end) for s in outputs[0].spans["sc"]] == [(s.start, s.end) for s in outputs[1].spans["sc"]]
    np.testing.assert_allclose(span_scores(outputs[0]), span_scores(outputs[1]), atol=1e-6)
    with pytest.warns(UserWarning, match="sub-tokens; only the first"):  # once per label
        doc = component(nlp.make_doc(SENTENCE), labels=["person", " ".join(["term"] * 300)])
    assert_valid_output(doc, "sc", THRESHOLD, nested=False)


@pytest.mark.parametrize(
    ("where", "labels", "error", "message"),
    [
        ("call", [1], TypeError, "must be a string"),
        ("call", ["person", None], TypeError, "must be a string"),
        ("call", "person", TypeError, "must be a list"),
        ("call", {"person": 5}, TypeError, "must be a string"),
        ("call", ["person", "  "], ValueError, "empty or whitespace"),
        ("doc", [3.5], TypeError, "must be a string"),
        ("doc", "person", TypeError, "must be a list"),
    ],
)
def test_bad_labels_at_call_time(nlp, where, labels, error, message):
    component = nlp.get_pipe("gliner")
    doc = nlp.make_doc(SENTENCE)
    with pytest.raises(error, match=message):
        if where == "call":
            component(doc, labels=labels)
        else:
            doc.user_data[DOC_LABELS_KEY] = labels
            component(doc)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([1], r"gliner -> labels.*1 is not <class 'str'>"),
        ({"person": 1}, r"gliner -> labels.*\{'person': 1\} is not"),
        ("person", "labels must be a list of labels or a dict from label to description, not str"),
        (["ok", ""], "Labels must not be empty or whitespace only"),
    ],
)
def test_bad_labels_at_add_pipe(labels, message):
    with pytest.raises((ConfigValidationError, TypeError, ValueError), match=f"(?s){message}"):
        spacy.blank("en").add_pipe("gliner", config={"model": str(REF_MINILM), "labels": labels})


PILENER_TYPES = DATA / "pilener" / "types.txt"


def test_500_labels_every_label_group_is_asked(nlp):
    """Labels beyond one prompt run in groups; each group scores as it does on its own."""
    pool = [t.strip() for t in PILENER_TYPES.read_text(encoding="utf8").splitlines() if t.strip()]
    labels = list(dict.fromkeys(pool))[:500]
    labels += [f"kind of thing {i}" for i in range(500 - len(labels))]
    assert len(labels) == 500
    component = nlp.get_pipe("gliner")

    def candidates(doc_labels: List[str]) -> Dict[tuple, float]:
        doc = nlp.make_doc(SENTENCE)
        doc.user_data[DOC_LABELS_KEY] = doc_labels
        cands = component.predict([doc])[0].candidates
        return {
            (int(s), int(e), doc_labels[int(c)]): float(p)
            for s, e, c, p in zip(cands.starts, cands.ends, cands.labels, cands.scores)
        }

    full = candidates(labels)
    groups = component.search().builder.label_groups(labels)
    assert len(groups) > 1
    merged: Dict[tuple, float] = {}
    for first, _, markers in groups:
        merged.update(candidates(labels[first : first + len(markers)]))
    assert full.keys() == merged.keys() and full
    assert {label for _, _, label in full} - set(labels[: len(groups[0][2])])  # later groups do find spans
    np.testing.assert_allclose([full[k] for k in full], [merged[k] for k in full], atol=1e-5)


def test_labels_per_doc_and_per_call_in_one_batch(nlp):
    """Docs with label lists of different lengths share forward passes; padded label
    slots are masked, so each doc gets exactly what it gets alone. Precedence: the doc's
    own labels, then the call's, then the config's."""
    component = nlp.get_pipe("gliner")
    texts = [SENTENCE, "Angela Merkel met Apple in Berlin on Monday.", "Paris is in France.", "Tim Cook runs Apple."]
    own = [
        ["person"],
        None,
        ["city", "country", "company", "person", "date", "organization", "event"],
        ["company", "person"],
    ]
    call_labels = ["location", "organization"]

    def make(i: int) -> Doc:
        doc = nlp.make_doc(texts[i])
        if own[i] is not None:
            doc.user_data[DOC_LABELS_KEY] = own[i]
        return doc

    alone = [component(make(i), labels=call_labels) for i in range(len(texts))]
    together = list(nlp.pipe((make(i) for i in range(len(texts))), component_cfg={"gliner": {"labels": call_labels}}))
    for i, (a, b) in enumerate(zip(alone, together)):
        assert_same_output(a, b, atol=1e-4)
        assert {e.label_ for e in b.ents} <= set(own[i] or call_labels)
    assert any(b.ents for b in together)
