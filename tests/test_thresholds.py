"""Per-label thresholds: {label: probability} with "*" for the other labels, everywhere a
threshold is taken (config, per call, per doc, saved pipelines, the CLI, Ray's options, info),
applied once in the span search (token-level models too)."""

import json
from typing import List

import numpy as np
import pytest
import spacy
from helpers.cli import invoke, said  # noqa: E402
from helpers.data import REF_MINILM  # noqa: E402

from spacy_gliner.cli.inputs import InputError
from spacy_gliner.cli.options import parse_threshold
from spacy_gliner.config import OTHER_LABELS, check_threshold, describe_threshold, label_thresholds
from spacy_gliner.loading import RunOptions
from spacy_gliner.model.decoding import Candidates, token_candidates
from spacy_gliner.model.search import SpanSearch

LABELS = ["person", "organization", "location"]
TEXTS = [
    "Ada Lovelace worked with Charles Babbage at the Royal Society in London.",
    "Angela Merkel met Emmanuel Macron in Paris before the European Union summit in Brussels.",
]


pytestmark = pytest.mark.usefixtures("weights_read_once")  # each checkpoint folder is read once for the module


def rows(cands: Candidates) -> set:
    return set(zip(cands.starts.tolist(), cands.ends.tolist(), cands.labels.tolist()))


def spans(doc) -> List[tuple]:
    return [(s.start_char, s.end_char, s.label_, s.text) for s in doc.spans["sc"]]


# -- the setting and its checks -------------------------------------------------------------
def test_a_dict_gets_its_default_and_values_are_checked():
    assert check_threshold({"person": 0.35}) == {"person": 0.35, OTHER_LABELS: 0.5}
    assert check_threshold({"person": np.float32(0.25), "*": 0.4}) == {"person": float(np.float32(0.25)), "*": 0.4}
    assert check_threshold(0.3) == 0.3
    with pytest.raises(ValueError, match="The threshold of 'person' must be a number strictly between 0 and 1"):
        check_threshold({"person": 1.5})
    with pytest.raises(ValueError, match="must be a number"):
        check_threshold({"person": True})
    with pytest.raises(ValueError, match="maps labels"):
        check_threshold({3: 0.5})
    assert label_thresholds({"person": 0.3, "*": 0.3}, LABELS) == 0.3  # one shared value: a number
    assert label_thresholds({"person": 0.3, "*": 0.6}, LABELS) == [0.3, 0.6, 0.6]
    assert describe_threshold({"person": 0.35, "*": 0.5}) == "person 0.35, others 0.5"


def test_config_refuses_a_threshold_for_a_label_it_does_not_look_for():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="'persn', which is not among the labels"):
        nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": LABELS, "threshold": {"persn": 0.3}})


# -- the core: applied once, in the search ------------------------------------------------
@pytest.mark.parametrize("name", ["ref_minilm", "token-bert-w3"])
def test_search_keeps_each_candidate_above_its_own_labels_threshold(name, loaded):
    search = SpanSearch(loaded(name))
    words = [t.split() for t in TEXTS]
    limits = [0.2, 0.45, 0.7] if name == "ref_minilm" else [0.3, 0.5, 0.6]
    low = search(words, [LABELS] * 2, min(limits), 8)
    got = search(words, [LABELS] * 2, [limits, limits[::-1]], 8)
    for i, (all_, per_label) in enumerate(zip(low, got)):
        own = limits if i == 0 else limits[::-1]
        if name == "ref_minilm":
            expected = all_.select(np.flatnonzero(all_.scores > np.asarray(own)[all_.labels]))
            assert rows(per_label) == rows(expected) and len(expected) < len(all_)
        else:  # token-level: a span's score is a minimum over its words, so compare with the core's own rule
            assert per_label.scores.min(initial=1.0) > min(own)
        assert all(s > own[c] for s, c in zip(per_label.scores, per_label.labels))


def test_token_candidates_per_label_equal_one_label_at_a_time():
    rng = np.random.default_rng(0)
    probs = rng.random((12, 3, 3)).astype(np.float32)
    limits = np.array([0.2, 0.5, 0.8])
    both = token_candidates(probs, limits)
    for c, t in enumerate(limits):
        alone = token_candidates(probs[:, c : c + 1], float(t))
        mine = both.select(np.flatnonzero(both.labels == c))
        assert set(zip(alone.starts.tolist(), alone.ends.tolist())) == set(
            zip(mine.starts.tolist(), mine.ends.tolist())
        )
        assert np.array_equal(np.sort(alone.scores), np.sort(mine.scores))


def test_one_shared_value_is_the_number_exactly(nlp, loaded):
    component = nlp.get_pipe("gliner")
    number = [spans(d) for d in nlp.pipe(TEXTS, component_cfg={"gliner": {"threshold": 0.3}})]
    shared = [spans(d) for d in nlp.pipe(TEXTS, component_cfg={"gliner": {"threshold": {"person": 0.3, "*": 0.3}}})]
    assert number == shared and any(number)
    # the core's two paths (one number, a list of equal values) give the same candidates
    search = component.search()
    words = [t.split() for t in TEXTS]
    a = search(words, [LABELS] * 2, 0.3, 8)
    b = search(words, [LABELS] * 2, [[0.3] * 3, [0.3] * 3], 8)
    assert all(rows(x) == rows(y) and np.array_equal(x.scores, y.scores) for x, y in zip(a, b))


# -- the entry points ---------------------------------------------------------------------
def test_config_per_call_and_per_doc(nlp):
    high = {"person": 0.3, "*": 0.99}  # only people can pass
    call = [spans(d) for d in nlp.pipe(TEXTS, component_cfg={"gliner": {"threshold": high}})]
    assert any(call) and all(label == "person" for doc in call for _, _, label, _ in doc)
    low = [spans(d) for d in nlp.pipe(TEXTS, component_cfg={"gliner": {"threshold": 0.3}})]
    assert {label for doc in low for _, _, label, _ in doc} > {"person"}
    # flat decoding: a span another label won at 0.3 may go to person now; none is lost
    assert all(set(c) >= {s for s in d if s[2] == "person"} for c, d in zip(call, low))
    # per doc wins over the call
    doc = nlp.make_doc(TEXTS[0])
    doc.user_data["gliner_threshold"] = high
    assert spans(nlp.get_pipe("gliner")(doc, threshold=0.3)) == call[0]
    # the configured one
    configured = spacy.blank("en")
    configured.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": LABELS, "threshold": high})
    assert [spans(d) for d in configured.pipe(TEXTS)] == call
    with pytest.raises(ValueError, match=r'doc.user_data\["gliner_threshold"\] gives a threshold to \'drug\''):
        doc.user_data["gliner_threshold"] = {"drug": 0.4}
        nlp.get_pipe("gliner")(doc)


def test_saved_pipeline_keeps_the_dict_exactly(tmp_path):
    nlp = spacy.blank("en")
    chosen = {"person": 0.35, "location": 0.1 + 0.2, "*": 0.55}
    nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": LABELS, "threshold": chosen})
    nlp.to_disk(tmp_path / "nlp")
    back = spacy.load(tmp_path / "nlp").get_pipe("gliner")
    assert back.threshold == chosen and list(back.threshold) == list(chosen)
    assert json.loads((tmp_path / "nlp" / "gliner" / "cfg").read_text())["settings"]["threshold"] == chosen
    # set after loading, then saved again
    back.threshold = {"organization": 0.42}
    assert back.threshold == {"organization": 0.42, "*": 0.5}


def test_cli_parses_label_pairs_and_a_default():
    assert parse_threshold("0.3") == 0.3
    assert parse_threshold("person=0.35,0.5") == {"person": 0.35, "*": 0.5}
    assert parse_threshold(" person = 0.35 , org=0.6") == {"person": 0.35, "org": 0.6}
    for bad in ("person=x", "0.3,0.4", "=0.3", "person=0.3,person=0.4"):
        with pytest.raises(InputError, match="--threshold"):
            parse_threshold(bad)
    with pytest.raises(ValueError, match="--threshold gives a threshold to 'org'"):
        RunOptions({"person": "person"}, {"org": 0.3})


def test_cli_predict_info_and_refusals(tmp_path):
    text = TEXTS[1]
    result = invoke("predict", text, "-m", REF_MINILM, "-l", ",".join(LABELS), "-t", "person=0.3,0.99")
    assert result.exit_code == 0, result.output
    ents = json.loads(result.stdout)["entities"]
    assert ents and {e["label"] for e in ents} == {"person"}
    result = invoke("predict", text, "-m", REF_MINILM, "-l", "person", "-t", "persn=0.3,0.5")
    assert result.exit_code == 1 and "'persn', which is not among the labels" in said(result)
    result = invoke("predict", text, "-m", REF_MINILM, "-l", "person", "-t", "person=2")
    assert result.exit_code == 1 and "strictly between 0 and 1" in said(result)
    # a saved pipeline: its own dict shown by info, and --threshold checked against its labels
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": LABELS, "threshold": {"person": 0.35, "*": 0.6}})
    nlp.to_disk(tmp_path / "nlp")
    result = invoke("info", tmp_path / "nlp")
    assert result.exit_code == 0 and "threshold person 0.35, others 0.6" in result.stdout
    result = invoke("predict", text, "-m", tmp_path / "nlp", "-t", "drug=0.3")
    assert result.exit_code == 1 and "'drug', which is not among the labels" in said(result)
    for command in ("render", "redact"):
        result = invoke(command, text, "--text", "-m", REF_MINILM, "-l", ",".join(LABELS), "-t", "person=0.3,0.99")
        assert result.exit_code == 0, result.output


def test_ray_options_take_and_check_a_dict():
    from spacy_gliner.scale import annotate

    with pytest.raises(ValueError, match="'org', which is not among the labels"):
        annotate(None, str(REF_MINILM), labels=["person"], threshold={"org": 0.3})
    assert RunOptions(["person"], {"person": 0.3}).threshold == {"person": 0.3, "*": 0.5}
