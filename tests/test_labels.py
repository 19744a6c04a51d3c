"""Labels dicts the official way (issue 26, item 3): ``{label: description}``, the label on the
spans and entities, the description read by the model, in the config, per call, per
document, in CLI label files and in training; the earlier, reversed form refused where it
shows, and saved pipelines of earlier versions turned round, never read backwards.

Parity is with ``gliner`` 0.2.29's ``inference(texts, {label: description})``.
"""
import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
import srsly
from spacy.language import Language
from spacy.training import Example
from typer.testing import CliRunner

from spacy_gliner.cli.app import app
from spacy_gliner.component import DOC_LABELS_KEY, LABELS_FORMAT, LABELS_FORMAT_KEY
from spacy_gliner.loading import GLINER_TOKENIZER, Pipeline, RunOptions, load_pipeline

from conftest import REF_MINILM, Comparison, benchmark, compare, official_inference

TEXTS, _ = benchmark("conll2003", 12)
THRESHOLD = 0.3  # the reference checkpoint is weak
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
    result = CliRunner().invoke(app, ["predict", str(source), "-l", str(path), "-m", str(REF_MINILM), "-t", str(THRESHOLD)])
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
    wanted = r"\{'city': 'LOC'\}.*swap each pair, e.g. \{'LOC': 'city'\}" if negative else r"\{'person': 'PER'\}.*\{'PER': 'person'\}"
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
def saved(tmp_path_factory, tiny_checkpoint) -> Path:
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


def test_a_saved_cfg_says_its_labels_format(saved):
    cfg = srsly.read_json(saved / "gliner" / "cfg")
    assert cfg[LABELS_FORMAT_KEY] == LABELS_FORMAT == 2
    assert cfg["settings"]["labels"] == DESCRIBED and cfg["trained_labels"] == {"AWARD": "prize"}
    pipe = spacy.load(saved).get_pipe("gliner")
    assert pipe.label_descriptions == DESCRIBED and pipe.cfg["trained_labels"] == {"AWARD": "prize"}


def test_an_earlier_versions_cfg_is_turned_round(saved, tmp_path):
    """Earlier versions wrote {text the model reads: label} and no labels_format."""

    def earlier(cfg: Dict[str, Any]) -> None:
        cfg.pop(LABELS_FORMAT_KEY, None)
        cfg["settings"]["labels"] = {text: label for label, text in DESCRIBED.items()}
        cfg["trained_labels"] = {"prize": "AWARD"}

    expected = spacy.load(saved)
    nlp = spacy.load(_rewrite_cfg(saved, tmp_path / "earlier", earlier))
    pipe = nlp.get_pipe("gliner")
    assert pipe.label_descriptions == DESCRIBED and pipe.cfg["trained_labels"] == {"AWARD": "prize"}
    for doc, other in zip(nlp.pipe(TEXTS), expected.pipe(TEXTS)):
        assert [(s.start, s.end, s.label_) for s in doc.spans["sc"]] == [(s.start, s.end, s.label_) for s in other.spans["sc"]]
    nlp.to_disk(tmp_path / "again")  # written back in the current format
    assert srsly.read_json(tmp_path / "again" / "gliner" / "cfg")[LABELS_FORMAT_KEY] == LABELS_FORMAT
    assert spacy.load(tmp_path / "again").get_pipe("gliner").label_descriptions == DESCRIBED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda cfg: (cfg.pop(LABELS_FORMAT_KEY, None), cfg["settings"].update(labels=REVERSED)), r"settings\.labels read the label 'PER' from several texts \('person', 'human'\)"),
        (lambda cfg: (cfg.pop(LABELS_FORMAT_KEY, None), cfg.update(trained_labels=REVERSED)), r"trained_labels read the label 'PER' from several texts"),
        (lambda cfg: cfg.update({LABELS_FORMAT_KEY: 3}), r"labels_format 3.*upgrade spacy-gliner"),
        (lambda cfg: cfg.update({LABELS_FORMAT_KEY: True}), r"labels_format True"),
    ],
)
def test_a_cfg_that_cannot_be_read_rightly_is_refused(saved, tmp_path, change, message):
    path = _rewrite_cfg(saved, tmp_path / "nlp", change)
    with pytest.raises(ValueError, match=message):
        spacy.load(path)
    nlp = spacy.load(saved)  # from_bytes too, and a failure leaves the component as it was
    with pytest.raises(ValueError, match=message):
        nlp.get_pipe("gliner").from_disk(path / "gliner", exclude=["model"])
    assert nlp.get_pipe("gliner").label_descriptions == DESCRIBED
