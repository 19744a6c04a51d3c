"""Hardening round 2 (issue 14): threads, untrusted bytes, in-place files, exact pass-through,
odd labels, numbers of every kind. Each test failed before its fix; ``docs/reliability.md``
lists the cases with what they get.
"""
import json
import re
import threading
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span
from typer.testing import CliRunner

from spacy_gliner.architectures import get_loaded
from spacy_gliner.cli import predict
from spacy_gliner.cli.app import app
from spacy_gliner.model import checkpoint
from spacy_gliner.model.decoding import Candidates, greedy_decode
from spacy_gliner.model.settings import CheckpointError

from conftest import REF_MINILM as REF, spans_of  # noqa: E402

LABELS = ["person", "organization", "location"]
SENTENCE = "Barack Obama visited Microsoft in Seattle."
TEXTS = [
    SENTENCE,
    "Angela Merkel met Emmanuel Macron in Paris on Monday.",
    "Apple and Google opened offices in London and Berlin.",
    "The United Nations held a meeting in Geneva with Kofi Annan.",
    "Tim Cook flew from San Francisco to Tokyo for Sony.",
]
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint) -> Path:
    return tiny_checkpoint("markerV0-bert")


def _pipeline(model: Path, **config: Any) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(model), "labels": LABELS, "threshold": 0.3, **config})
    return nlp


@pytest.fixture(scope="module")
def nlp() -> Language:
    return _pipeline(REF)


def _output(doc: Doc, key: str = "sc") -> tuple:
    return spans_of(doc, key), doc.spans[key].attrs["scores"].tolist()


# -- 1. threads ---------------------------------------------------------------------


def test_inference_leaves_the_network_in_eval_mode(tiny):
    """thinc's PyTorchShim.predict switched the network back to train() after each call."""
    nlp = _pipeline(tiny, threshold=0.5)
    network = get_loaded(nlp.get_pipe("gliner").model).network
    assert network.settings.dropout > 0  # dropout on would change scores
    nlp(SENTENCE)
    assert not network.training


def test_threads_give_the_scores_of_sequential_calls(tiny):
    nlp = _pipeline(tiny, threshold=0.5)
    texts = [f"{t} ({i})" for i in range(12) for t in TEXTS]
    expected = [_output(nlp(t)) for t in texts]
    results: Dict[int, tuple] = {}
    errors: List[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(offset, len(texts), 4):
                results[i] = _output(nlp(texts[i]))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [results[i] for i in range(len(texts))] == expected


# -- 4, 5 and "Also": bytes -----------------------------------------------------------


@pytest.mark.parametrize("name", ["../escaped", "/tmp/spacy_gliner_escaped_abs", "model/../../escaped", "model/sub/x", "", "."])
def test_from_bytes_refuses_names_it_never_writes(tiny, tmp_path, name, monkeypatch):
    nlp = _pipeline(tiny)
    pipe = nlp.get_pipe("gliner")
    files = srsly.msgpack_loads(pipe.to_bytes(exclude=["model"]))
    files[name] = b"x"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="file name"):
        pipe.from_bytes(srsly.msgpack_dumps(files))
    assert not Path("/tmp/spacy_gliner_escaped_abs").exists()
    assert not list(tmp_path.rglob("escaped"))


def test_failed_from_bytes_leaves_the_component_as_it_was(tiny):
    source = _pipeline(tiny, labels=["award"])
    source.get_pipe("gliner").add_label("prize")
    files = srsly.msgpack_loads(source.get_pipe("gliner").to_bytes())
    files["model/model.safetensors"] = b"not weights at all"
    nlp = _pipeline(tiny)
    pipe = nlp.get_pipe("gliner")
    before = _output(nlp(SENTENCE))
    with pytest.raises(CheckpointError):
        pipe.from_bytes(srsly.msgpack_dumps(files))
    assert pipe.cfg["trained_labels"] == {} and pipe.labels == tuple(LABELS)
    assert _output(nlp(SENTENCE)) == before


@pytest.mark.parametrize("data", [b"", b"\x93\x01", b"hello", srsly.msgpack_dumps([1, 2]), srsly.msgpack_dumps({"cfg": 3})])
def test_unreadable_bytes_say_what_they_are(tiny, data):
    pipe = _pipeline(tiny).get_pipe("gliner")
    with pytest.raises(ValueError, match=r"not the bytes of a gliner component.*to_bytes"):
        pipe.from_bytes(data)


def test_from_bytes_restores_labels_and_settings(tiny, tmp_path):
    """Issue 17, item 5: the round trip gives back the component a user had."""
    source = _pipeline(tiny, labels={"PER": "person", "GPE": "city"}, threshold=0.2, nested=True, spans_key="found")
    source.get_pipe("gliner").batch_size = 3
    expected = _output(source(SENTENCE), "found")
    for restore in ("bytes", "disk"):
        other = _pipeline(tiny, labels=["award"], threshold=0.7)
        if restore == "bytes":
            other.from_bytes(source.to_bytes())
        else:
            source.to_disk(tmp_path / "nlp")
            other.from_disk(tmp_path / "nlp")
        pipe = other.get_pipe("gliner")
        assert pipe.label_descriptions == {"PER": "person", "GPE": "city"}
        assert (pipe.threshold, pipe.nested, pipe.spans_key, pipe.batch_size) == (0.2, True, "found", 3)
        assert _output(other(SENTENCE), "found") == expected


def test_old_cfg_with_trained_labels_only_still_loads(tiny, tmp_path):
    source = _pipeline(tiny)
    source.to_disk(tmp_path / "nlp")
    (tmp_path / "nlp" / "gliner" / "cfg").write_text(json.dumps({"trained_labels": {"award": "award"}}), encoding="utf8")
    nlp = spacy.load(tmp_path / "nlp")
    pipe = nlp.get_pipe("gliner")
    assert pipe.cfg["trained_labels"] == {"award": "award"} and pipe.labels == tuple(LABELS) and pipe.threshold == 0.3


# -- 6. non-finite weights -------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tiny, tmp_path, value):
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(tiny, folder)
    state = load_file(str(folder / "model.safetensors"))
    name = sorted(state)[3]
    state[name] = state[name].clone()
    state[name].view(-1)[0] = value
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=re.escape(name)):
        checkpoint.load(folder)


# -- 7. invisible labels, labels without sub-tokens --------------------------------------


@pytest.mark.parametrize("label", ["\u200b", "\x00", "\ufeff", "\u00ad", "\u2060\u200d", " \u200b ", "\u0301"])
def test_invisible_labels_are_refused(label):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=re.escape(repr(label))):
        nlp.add_pipe("gliner", config={"model": str(REF), "labels": ["person", label]})


def test_a_label_without_sub_tokens_is_refused(tiny):
    nlp = _pipeline(tiny)
    with pytest.raises(ValueError, match=re.escape(repr("\ufffd")) + ".*no sub-token"):
        nlp(SENTENCE, component_cfg={"gliner": {"labels": ["person", "\ufffd"]}})


def test_each_new_label_is_tokenized_once(tiny):
    nlp = _pipeline(tiny)
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


def test_training_refuses_a_gold_label_without_sub_tokens(tiny):
    from spacy.training import Example

    nlp = _pipeline(tiny)
    nlp.initialize()
    doc = nlp.make_doc(SENTENCE)
    example = Example.from_dict(doc, {"entities": [(0, len(doc[0].text), "\ufffd")]})
    with pytest.raises(ValueError, match=re.escape(repr("\ufffd")) + ".*no sub-token"):
        nlp.update([example])


def test_invisible_labels_in_a_label_map_are_refused():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=re.escape(repr("\u200b"))):
        nlp.add_pipe("gliner", config={"model": str(REF), "labels": {"person": "\u200b"}})


# -- 8. duplicate spans --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["config", "call", "doc"])
def test_two_labels_with_one_description_are_refused(tiny, where):
    """A labels dict is {label: description}; several texts for one label ({"person": "PER",
    "human": "PER"}, the form earlier versions took) cannot be told apart, and the official
    library refuses one description for two labels too."""
    reversed_form = {"person": "PER", "human": "PER", "city": "LOC"}
    message = r"'person' and 'human' have the same description 'PER'.*\{label: description\}.*swap each pair, e.g. \{'PER': 'person'\}"
    with pytest.raises(ValueError, match=message):
        if where == "config":
            _pipeline(tiny, labels=reversed_form)
        elif where == "call":
            _pipeline(tiny)(SENTENCE, component_cfg={"gliner": {"labels": reversed_form}})
        else:
            nlp = _pipeline(tiny)
            doc = nlp.make_doc(SENTENCE)
            doc.user_data["gliner_labels"] = reversed_form
            nlp(doc)


# -- 11. existing span groups and missing entity annotation --------------------------------


def test_a_span_group_of_someone_else_is_not_replaced(tiny):
    nlp = _pipeline(tiny)
    doc = nlp.make_doc(SENTENCE)
    doc.spans["sc"] = [Span(doc, 0, 1, label="MINE")]
    with pytest.raises(ValueError, match="spans_key"):
        nlp(doc)
    assert spans_of(doc) == [(0, 1, "MINE")]
    again = nlp(nlp(SENTENCE))  # its own group is replaced, as before
    assert spans_of(again) == spans_of(nlp(SENTENCE))


def test_missing_entity_annotation_stays_missing(tiny):
    nlp = _pipeline(tiny, threshold=0.5)
    doc = nlp(SENTENCE)
    assert doc.ents
    inside = {i for e in doc.ents for i in range(e.start, e.end)}
    assert all(t.ent_iob_ == "" for t in doc if t.i not in inside)
    marked = nlp.make_doc(SENTENCE)
    marked.set_ents([], default="outside")  # annotated: no entity here
    assert all(t.ent_iob_ == "O" for t in nlp(marked) if t.i not in inside)


def test_overwritten_entities_leave_no_half_entity(tiny):
    nlp = _pipeline(tiny, threshold=0.5, overwrite_ents=True)
    reference = nlp(SENTENCE)
    first = reference.ents[0]
    doc = nlp.make_doc(SENTENCE)
    wide = Span(doc, max(first.start - 1, 0), min(first.end + 1, len(doc)), label="WIDE")
    doc.set_ents([wide], default="unmodified")
    doc = nlp(doc)
    assert "WIDE" not in {e.label_ for e in doc.ents}
    assert all(t.ent_type_ != "WIDE" for t in doc)


# -- 13. numbers of every kind ------------------------------------------------------------


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


# -- nested decoding: fast, and exactly the old output -------------------------------------


def _old_nested(order, starts, ends, labels, multi_label, accepted) -> None:
    """The quadratic algorithm greedy_decode used before (the reference)."""
    kept_s = np.zeros((0,), dtype=np.int64)
    kept_e = np.zeros((0,), dtype=np.int64)
    taken = set()
    for i in order:
        s, e = starts[i], ends[i]
        same = (kept_s == s) & (kept_e == e)
        if same.any() and (not multi_label or (s, e, labels[i]) in taken):
            continue
        overlap = (kept_s <= e) & (s <= kept_e)
        nested = ((kept_s <= s) & (e <= kept_e)) | ((s <= kept_s) & (kept_e <= e))
        if (overlap & ~nested).any():
            continue
        kept_s = np.append(kept_s, s)
        kept_e = np.append(kept_e, e)
        taken.add((s, e, labels[i]))
        accepted.append(i)


def _old_greedy(cands: Candidates, multi_label: bool) -> np.ndarray:
    order = np.argsort(-cands.scores, kind="stable")
    accepted: list = []
    _old_nested(order.tolist(), cands.starts.tolist(), cands.ends.tolist(), cands.labels.tolist(), multi_label, accepted)
    result = np.asarray(accepted, dtype=np.int64)
    return result[np.argsort(cands.starts[result], kind="stable")]


def _random_candidates(rng: np.random.Generator, n_units: int, n: int, n_labels: int, max_width: int, ties: bool) -> Candidates:
    starts = rng.integers(0, n_units, n)
    ends = np.minimum(starts + rng.integers(0, max_width, n), n_units - 1)
    labels = rng.integers(0, n_labels, n)
    scores = (rng.integers(1, 5, n) / 5 if ties else rng.random(n)).astype(np.float32)
    return Candidates(starts, ends, labels, scores).canonical()


@pytest.mark.parametrize("seed", range(40))
def test_nested_decoding_equals_the_old_algorithm(seed):
    rng = np.random.default_rng(seed)
    cands = _random_candidates(rng, int(rng.integers(1, 60)), int(rng.integers(0, 400)), int(rng.integers(1, 4)), int(rng.integers(1, 14)), ties=seed % 2 == 0)
    for multi_label in (False, True):
        assert greedy_decode(cands, flat=False, multi_label=multi_label).tolist() == _old_greedy(cands, multi_label).tolist()


def test_nested_decoding_of_many_candidates():
    """200,000 candidates over 100,000 units (the old algorithm: minutes; now about a second).
    The result is a valid nesting, and equal to the old algorithm's on a slice of it."""
    rng = np.random.default_rng(0)
    cands = _random_candidates(rng, 100_000, 200_000, 3, 12, ties=False)
    keep = greedy_decode(cands, flat=False, multi_label=True)
    spans = sorted(set(zip(cands.starts[keep].tolist(), cands.ends[keep].tolist())))
    assert len(spans) > 10_000
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert not (s1 < s2 <= e1 < e2)  # neighbours never cross
    head = cands.select(np.flatnonzero(cands.ends < 2_000))
    assert greedy_decode(head, flat=False, multi_label=True).tolist() == _old_greedy(head, True).tolist()


# -- CLI: files written whole, never over their input ---------------------------------------

MODEL = str(REF)


@pytest.fixture(scope="module", autouse=True)
def _weights_read_once(weights_read_once):
    """Each checkpoint folder is read once for this module's many CLI runs."""


def invoke(*args: Any, input: Any = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def said(result) -> str:
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", result.stderr).split())


def _jsonl(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf8")
    return path


def _records(path: Path) -> List[str]:
    return [line for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


def test_predict_refuses_to_write_over_its_input(tmp_path):
    source = _jsonl(tmp_path / "x.jsonl", [json.dumps({"text": t}) for t in TEXTS])
    before = source.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    for output in (source, link, tmp_path / "." / "x.jsonl"):
        result = invoke("predict", source, "-l", "person", "-m", MODEL, "-o", output)
        assert result.exit_code == 1 and "is also the input" in said(result)
        assert source.read_bytes() == before


def test_redact_and_render_refuse_to_write_over_their_input(tmp_path):
    source = tmp_path / "doc.txt"
    source.write_text(SENTENCE, encoding="utf8")
    for args in (("redact", source, "-o", source), ("render", source, "-o", source), ("redact", source, "--preview", source)):
        result = invoke(*args, "-l", "person", "-m", MODEL)
        assert result.exit_code == 1 and "is also the input" in said(result)
        assert source.read_text(encoding="utf8") == SENTENCE


def _bad_line_run(tmp_path: Path, output: Path):
    lines = [json.dumps({"text": t}) for t in TEXTS[:3]] + ["{broken"] + [json.dumps({"text": TEXTS[3]})]
    source = _jsonl(tmp_path / "in.jsonl", lines)
    return invoke("predict", source, "-l", "person", "-m", MODEL, "-t", "0.3", "-o", output, "-b", "1")


@pytest.mark.parametrize("suffix", [".jsonl", ".spacy"])
def test_a_failed_run_keeps_no_partial_file_and_says_so(tmp_path, suffix):
    output = tmp_path / "out" / f"result{suffix}"
    output.parent.mkdir()
    output.write_bytes(b"an older result")
    result = _bad_line_run(tmp_path, output)
    assert result.exit_code == 1
    message = said(result)
    assert "line 4" in message and re.search(r"\d+ records were annotated before the stop|Nothing was annotated", message)
    assert "no partial file was kept" in message
    assert output.read_bytes() == b"an older result"  # the old file is untouched
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no temporary file left


def test_ctrl_c_keeps_no_partial_file_and_says_so(tmp_path, monkeypatch):
    source = _jsonl(tmp_path / "in.jsonl", [json.dumps({"text": t}) for t in TEXTS])
    output = tmp_path / "out.jsonl"
    real = predict.iter_records

    def interrupted(*args: Any, **kwargs: Any):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(predict, "iter_records", interrupted)
    result = invoke("predict", source, "-l", "person", "-m", MODEL, "-o", output, "-b", "1")
    assert result.exit_code == 130
    assert "Interrupted" in said(result) and "no partial file was kept" in said(result)
    assert not output.exists() and list(tmp_path.iterdir()) == [source]


def test_a_failed_run_to_stdout_says_how_many_records_were_written(tmp_path):
    lines = [json.dumps({"text": t}) for t in TEXTS] + ["[1]"]  # -b 1: documents go in batches of 4
    result = invoke("predict", _jsonl(tmp_path / "in.jsonl", lines), "-l", "person", "-m", MODEL, "-b", "1")
    assert result.exit_code == 1 and "line 6" in said(result)
    assert len(result.stdout.splitlines()) == 4 and "4 records were written to standard output" in said(result)


# -- 9. JSONL pass-through, byte-exact -----------------------------------------------------


def test_jsonl_keys_pass_through_byte_exact(tmp_path):
    lines = [
        '{"id": 0.30000000000000004, "tiny": 1e-320, "big": 18446744073709551616, "text": "Barack Obama visited Paris."}',
        '{"z": 1, "a": [1.0, 2.50, -0], "text": "Angela Merkel in Berlin.", "\\u00e9": "caf\\u00e9 \\ud83d\\ude00", "m": 1E+2}',
        '{"text":"Tim Cook","entities":[{"old":true}],"n":null}',
    ]
    source = _jsonl(tmp_path / "in.jsonl", lines)
    output = tmp_path / "out.jsonl"
    result = invoke("predict", source, "-l", "person,location", "-m", MODEL, "-t", "0.3", "-o", output)
    assert result.exit_code == 0, said(result)
    for line, out in zip(lines, _records(output)):
        data = json.loads(out)
        assert isinstance(data["entities"], list) and {"old": True} not in data["entities"]
        original = json.loads(line)
        for key, value in original.items():
            if key != "entities":
                raw = re.search(re.escape(json.dumps(key, ensure_ascii=False)) + "|" + re.escape(json.dumps(key)), out)
                assert raw, key
        # every character of the line but the entities is kept as written
        start = out.find('"entities"') if '"entities"' not in line else None
        if start is not None:
            assert out[:start].rstrip(", ") == line[:-1].rstrip()
    assert '0.30000000000000004' in _records(output)[0] and '1e-320' in _records(output)[0]
    assert '18446744073709551616' in _records(output)[0]
    assert '"\\u00e9": "caf\\u00e9 \\ud83d\\ude00"' in _records(output)[1] and '[1.0, 2.50, -0]' in _records(output)[1]


def test_bad_json_names_line_and_column(tmp_path):
    """Issue 17, item 6: what is wrong and where."""
    source = _jsonl(tmp_path / "in.jsonl", [json.dumps({"text": "a"}), '{"text": "b" "x": 1}'])
    result = invoke("predict", source, "-l", "person", "-m", MODEL)
    message = said(result)
    assert result.exit_code == 1 and "line 2, column 14" in message and "Expecting ',' delimiter" in message
    labels = tmp_path / "labels.json"
    labels.write_text('["person",\n  "place" "x"]', encoding="utf8")
    result = invoke("predict", "Barack Obama", "-l", labels, "-m", MODEL)
    assert result.exit_code == 1 and "line 2, column 11" in said(result) and "Expecting ',' delimiter" in said(result)


def test_json_constants_that_are_not_json_are_refused(tmp_path):
    source = _jsonl(tmp_path / "in.jsonl", ['{"text": "a", "x": NaN}'])
    result = invoke("predict", source, "-l", "person", "-m", MODEL)
    assert result.exit_code == 1 and "NaN" in said(result) and "line 1" in said(result)


# -- 10. byte order marks -------------------------------------------------------------------


def test_a_bom_is_accepted_in_jsonl_labels_and_documents(tmp_path):
    bom = "\ufeff"
    source = tmp_path / "in.jsonl"
    source.write_text(bom + json.dumps({"text": SENTENCE}) + "\n", encoding="utf8")
    labels_txt = tmp_path / "labels.txt"
    labels_txt.write_text(bom + "person\nlocation\n", encoding="utf8")
    labels_json = tmp_path / "labels.json"
    labels_json.write_text(bom + '["person", "location"]', encoding="utf8")
    outputs = []
    for labels in (labels_txt, labels_json):
        result = invoke("predict", source, "-l", labels, "-m", MODEL, "-t", "0.3", "--on-error", "skip")
        assert result.exit_code == 0 and "skipped" not in said(result)
        outputs.append([json.loads(line) for line in result.stdout.splitlines()])
    assert outputs[0] == outputs[1] and len(outputs[0]) == 1
    assert {e["label"] for e in outputs[0][0]["entities"]} <= {"person", "location"}
    document = tmp_path / "doc.txt"
    document.write_text(bom + SENTENCE, encoding="utf8")
    result = invoke("predict", document, "-l", "person,location", "-m", MODEL, "-t", "0.3")
    record = json.loads(result.stdout)
    assert record["text"] == SENTENCE and record["entities"] == outputs[0][0]["entities"]
    redacted = tmp_path / "redacted.txt"
    result = invoke("redact", document, "-l", "person", "-m", MODEL, "-t", "0.3", "-o", redacted)
    assert result.exit_code == 0
    text = redacted.read_text(encoding="utf8")
    assert text.startswith(bom + "[redacted]") and text.count(bom) == 1  # the BOM is written back, before the text


# -- 12. a non-UTF-8 file in a folder ---------------------------------------------------------


def test_a_non_utf8_file_in_a_folder_is_skipped_and_reported(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(SENTENCE, encoding="utf8")
    (folder / "b.txt").write_bytes("Café in Zürich".encode("latin1"))
    (folder / "c.txt").write_text(TEXTS[1], encoding="utf8")
    result = invoke("predict", folder, "-l", "person", "-m", MODEL, "--on-error", "skip")
    assert result.exit_code == 0
    assert [json.loads(line)["file"] for line in result.stdout.splitlines()] == ["a.txt", "c.txt"]
    assert "b.txt" in said(result) and "not UTF-8" in said(result) and "1 record(s) skipped" in said(result)
    result = invoke("predict", folder, "-l", "person", "-m", MODEL)
    assert result.exit_code == 1 and "b.txt" in said(result) and "--on-error skip" in said(result)


@pytest.mark.parametrize("labels", ["person,\u200b", "person,\ufffd"])
def test_cli_labels_the_model_cannot_read_end_with_a_message(labels):
    result = invoke("predict", SENTENCE, "-l", labels, "-m", MODEL)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "has no visible character" in said(result) or "no sub-token" in said(result)


def test_keys_a_docbin_cannot_hold_end_with_a_message(tmp_path):
    source = _jsonl(tmp_path / "in.jsonl", [json.dumps({"text": SENTENCE, "n": 1}), '{"text": "Tim Cook", "big": 18446744073709551616}'])
    output = tmp_path / "out.spacy"
    result = invoke("predict", source, "-l", "person", "-m", MODEL, "-o", output)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "a DocBin cannot store" in said(result) and "no partial file was kept" in said(result)
    assert not output.exists()
