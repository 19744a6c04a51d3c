"""A pipeline saved and loaded again is the pipeline it was: ``to_bytes``/``from_bytes`` and
``to_disk``/``spacy.load`` for every family, with the same entities and scores after the round
trip, and settings written back exactly as given. Bytes from elsewhere: file names it never
writes, damaged weights and unreadable bytes refused, leaving the component as it was.
"""

import json
from pathlib import Path
from typing import List

import pytest
import spacy
import srsly
from helpers.data import benchmark
from helpers.docs import spans_and_scores
from helpers.pipelines import LABELS, SENTENCE, THRESHOLD, gliner_pipeline
from typer.testing import CliRunner

from spacy_gliner.cli.app import app
from spacy_gliner.model.settings import CheckpointError

FAMILIES = ("markerV0-bert", "token-bert-w3", "bi-markerV0-bert-h48", "bi-token-deberta")
AI_TEXTS, AI_LABELS = benchmark("CrossNER_AI", 6)


def _entities(nlp: spacy.Language) -> List[list]:
    out = []
    for doc in nlp.pipe(AI_TEXTS):
        group = doc.spans["sc"]
        out.append(
            [(s.start_char, s.end_char, s.label_, float(score)) for s, score in zip(group, group.attrs["scores"])]
        )
    return out


@pytest.mark.parametrize("name", FAMILIES)
def test_bytes_and_disk_round_trips_keep_every_entity(name, tiny_checkpoint, tmp_path):
    nlp = gliner_pipeline(tiny_checkpoint(name), AI_LABELS)
    before = _entities(nlp)
    assert sum(map(len, before)) > 10
    data = nlp.to_bytes()
    again = gliner_pipeline(tiny_checkpoint(name), AI_LABELS, threshold=0.9)  # the saved settings come back too
    again.from_bytes(data)
    assert _entities(again) == before
    nlp.to_disk(tmp_path / "nlp")
    assert _entities(spacy.load(tmp_path / "nlp")) == before


def test_a_bi_encoder_carries_its_labels_tokenizer_in_its_bytes(tiny_checkpoint):
    pipe = gliner_pipeline(tiny_checkpoint("bi-markerV0-bert-h48"), AI_LABELS).get_pipe("gliner")
    names = set(srsly.msgpack_loads(pipe.to_bytes()))
    assert "model/labels_tokenizer/tokenizer_config.json" in names


@pytest.mark.parametrize(
    "name", ["model/labels_tokenizer/sub/x", "model/labels_tokenizer/../../x", "model/other/x", "labels_tokenizer/x"]
)
def test_no_other_sub_folder_is_accepted_from_bytes(name, tiny_checkpoint):
    pipe = gliner_pipeline(tiny_checkpoint("bi-markerV0-bert-h48"), AI_LABELS).get_pipe("gliner")
    files = srsly.msgpack_loads(pipe.to_bytes(exclude=["model"]))
    files[name] = b"x"
    with pytest.raises(ValueError, match="file name it never writes"):
        pipe.from_bytes(srsly.msgpack_dumps(files))


@pytest.mark.parametrize("threshold", [0.3, 0.1, 1 / 3, 0.7000000000000001])
def test_settings_are_written_back_as_given(threshold, tiny_checkpoint, tmp_path):
    """srsly's JSON reader gave 0.3 back as 0.30000000000000004 (and its writer kept 10 digits)."""
    nlp = gliner_pipeline(tiny_checkpoint("markerV0-bert"), AI_LABELS, threshold=threshold)
    nlp.to_disk(tmp_path / "nlp")
    assert spacy.load(tmp_path / "nlp").get_pipe("gliner").threshold == threshold
    again = gliner_pipeline(tiny_checkpoint("markerV0-bert"), AI_LABELS)
    again.from_bytes(nlp.to_bytes())
    assert again.get_pipe("gliner").threshold == threshold
    result = CliRunner().invoke(app, ["info", str(tmp_path / "nlp")])
    assert result.exit_code == 0, result.output
    assert f"threshold {threshold})" in result.output


# -- bytes from elsewhere ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../escaped", "/tmp/spacy_gliner_escaped_abs", "model/../../escaped", "model/sub/x", "", "."]
)
def test_from_bytes_refuses_names_it_never_writes(tiny, tmp_path, name, monkeypatch):
    nlp = gliner_pipeline(tiny, threshold=THRESHOLD)
    pipe = nlp.get_pipe("gliner")
    files = srsly.msgpack_loads(pipe.to_bytes(exclude=["model"]))
    files[name] = b"x"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="file name"):
        pipe.from_bytes(srsly.msgpack_dumps(files))
    assert not Path("/tmp/spacy_gliner_escaped_abs").exists()
    assert not list(tmp_path.rglob("escaped"))


def test_failed_from_bytes_leaves_the_component_as_it_was(tiny):
    source = gliner_pipeline(tiny, labels=["award"], threshold=THRESHOLD)
    source.get_pipe("gliner").add_label("prize")
    files = srsly.msgpack_loads(source.get_pipe("gliner").to_bytes())
    files["model/model.safetensors"] = b"not weights at all"
    nlp = gliner_pipeline(tiny, threshold=THRESHOLD)
    pipe = nlp.get_pipe("gliner")
    before = spans_and_scores(nlp(SENTENCE))
    with pytest.raises(CheckpointError):
        pipe.from_bytes(srsly.msgpack_dumps(files))
    assert pipe.cfg["trained_labels"] == {} and pipe.labels == tuple(LABELS)
    assert spans_and_scores(nlp(SENTENCE)) == before


@pytest.mark.parametrize(
    "data", [b"", b"\x93\x01", b"hello", srsly.msgpack_dumps([1, 2]), srsly.msgpack_dumps({"cfg": 3})]
)
def test_unreadable_bytes_say_what_they_are(tiny, data):
    pipe = gliner_pipeline(tiny, threshold=THRESHOLD).get_pipe("gliner")
    with pytest.raises(ValueError, match=r"not the bytes of a gliner component.*to_bytes"):
        pipe.from_bytes(data)


def test_from_bytes_restores_labels_and_settings(tiny, tmp_path):
    """The round trip gives back the component a user had: labels with descriptions and every setting."""
    source = gliner_pipeline(
        tiny, labels={"PER": "person", "GPE": "city"}, threshold=0.2, nested=True, spans_key="found"
    )
    source.get_pipe("gliner").batch_size = 3
    expected = spans_and_scores(source(SENTENCE), "found")
    for restore in ("bytes", "disk"):
        other = gliner_pipeline(tiny, labels=["award"], threshold=0.7)
        if restore == "bytes":
            other.from_bytes(source.to_bytes())
        else:
            source.to_disk(tmp_path / "nlp")
            other.from_disk(tmp_path / "nlp")
        pipe = other.get_pipe("gliner")
        assert pipe.label_descriptions == {"PER": "person", "GPE": "city"}
        assert (pipe.threshold, pipe.nested, pipe.spans_key, pipe.batch_size) == (0.2, True, "found", 3)
        assert spans_and_scores(other(SENTENCE), "found") == expected


def test_old_cfg_with_trained_labels_only_still_loads(tiny, tmp_path):
    source = gliner_pipeline(tiny, threshold=THRESHOLD)
    source.to_disk(tmp_path / "nlp")
    (tmp_path / "nlp" / "gliner" / "cfg").write_text(
        json.dumps({"trained_labels": {"award": "award"}}), encoding="utf8"
    )
    nlp = spacy.load(tmp_path / "nlp")
    pipe = nlp.get_pipe("gliner")
    assert pipe.cfg["trained_labels"] == {"award": "award"} and pipe.labels == tuple(LABELS) and pipe.threshold == 0.3
