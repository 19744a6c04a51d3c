"""Saved pipelines and exported checkpoints: every file gets the mode of the user's umask.

safetensors writes the weights through a private temp file (mode 0600) that it renames, so
without care ``model.safetensors`` was unreadable to the group while every other file was not.
"""

import os
import stat
from pathlib import Path
from typing import Callable, Dict, Iterator

import pytest
import spacy

from spacy_gliner import export
from spacy_gliner.architectures import set_loaded
from spacy_gliner.model import checkpoint


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for the test; the old one comes back afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def modes(folder: Path) -> Dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_saved_and_exported_files_follow_the_umask(mask: int, umask, tiny_checkpoint, tmp_path: Path) -> None:
    umask(mask)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint("markerV0-bert")), "labels": ["person"]})
    set_loaded(pipe.model, checkpoint.load(tiny_checkpoint("markerV0-bert")))
    expected = 0o666 & ~mask
    nlp.to_disk(tmp_path / "pipeline")
    saved = modes(tmp_path / "pipeline" / "gliner" / "model")
    assert "model.safetensors" in saved and "gliner_config.json" in saved
    assert saved == {name: expected for name in saved}
    exported = modes(export(nlp, "gliner", tmp_path / "exported"))
    assert "model.safetensors" in exported and exported == {name: expected for name in exported}
    # saving again over the folder keeps the mode (safetensors replaces the file)
    nlp.to_disk(tmp_path / "pipeline")
    assert modes(tmp_path / "pipeline" / "gliner" / "model")["model.safetensors"] == expected
