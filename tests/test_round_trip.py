"""A pipeline saved and loaded again is the pipeline it was (issue 23, item 7; issue 26, item 5):
``to_bytes``/``from_bytes`` and ``to_disk``/``spacy.load`` for every family, with the same
entities and scores after the round trip, and settings written back exactly as given.
"""
from pathlib import Path
from typing import List

import pytest
import spacy
import srsly
from typer.testing import CliRunner

from spacy_gliner.cli.app import app

from conftest import benchmark

FAMILIES = ("markerV0-bert", "token-bert-w3", "bi-markerV0-bert-h48", "bi-token-deberta")
TEXTS, LABELS = benchmark("CrossNER_AI", 6)


def _pipeline(folder: Path, **config) -> spacy.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(folder), "labels": LABELS, **config})
    return nlp


def _entities(nlp: spacy.Language) -> List[list]:
    out = []
    for doc in nlp.pipe(TEXTS):
        group = doc.spans["sc"]
        out.append([(s.start_char, s.end_char, s.label_, float(score)) for s, score in zip(group, group.attrs["scores"])])
    return out


@pytest.mark.parametrize("name", FAMILIES)
def test_bytes_and_disk_round_trips_keep_every_entity(name, tiny_checkpoint, tmp_path):
    nlp = _pipeline(tiny_checkpoint(name))
    before = _entities(nlp)
    assert sum(map(len, before)) > 10
    data = nlp.to_bytes()
    again = _pipeline(tiny_checkpoint(name), threshold=0.9)  # the saved settings come back too
    again.from_bytes(data)
    assert _entities(again) == before
    nlp.to_disk(tmp_path / "nlp")
    assert _entities(spacy.load(tmp_path / "nlp")) == before


def test_a_bi_encoder_carries_its_labels_tokenizer_in_its_bytes(tiny_checkpoint):
    pipe = _pipeline(tiny_checkpoint("bi-markerV0-bert-h48")).get_pipe("gliner")
    names = set(srsly.msgpack_loads(pipe.to_bytes()))
    assert "model/labels_tokenizer/tokenizer_config.json" in names


@pytest.mark.parametrize("name", ["model/labels_tokenizer/sub/x", "model/labels_tokenizer/../../x", "model/other/x", "labels_tokenizer/x"])
def test_no_other_sub_folder_is_accepted_from_bytes(name, tiny_checkpoint):
    pipe = _pipeline(tiny_checkpoint("bi-markerV0-bert-h48")).get_pipe("gliner")
    files = srsly.msgpack_loads(pipe.to_bytes(exclude=["model"]))
    files[name] = b"x"
    with pytest.raises(ValueError, match="file name it never writes"):
        pipe.from_bytes(srsly.msgpack_dumps(files))


@pytest.mark.parametrize("threshold", [0.3, 0.1, 1 / 3, 0.7000000000000001])
def test_settings_are_written_back_as_given(threshold, tiny_checkpoint, tmp_path):
    """srsly's JSON reader gave 0.3 back as 0.30000000000000004 (and its writer kept 10 digits)."""
    nlp = _pipeline(tiny_checkpoint("markerV0-bert"), threshold=threshold)
    nlp.to_disk(tmp_path / "nlp")
    assert spacy.load(tmp_path / "nlp").get_pipe("gliner").threshold == threshold
    again = _pipeline(tiny_checkpoint("markerV0-bert"))
    again.from_bytes(nlp.to_bytes())
    assert again.get_pipe("gliner").threshold == threshold
    result = CliRunner().invoke(app, ["info", str(tmp_path / "nlp")])
    assert result.exit_code == 0, result.output
    assert f"threshold {threshold})" in result.output
