"""The command line, driven as a user drives it, on real text and the real reference checkpoint.

Each command loads its model as a run from the shell would; only the reading of the
weights from disk is shared across the module (``checkpoint.load`` is memoised), so the
tests stay fast without bypassing any of the command's code. Input read as written: JSONL keys
passed through byte-exact, JSON errors with line and column, BOMs, files that are not UTF-8.
"""

import html as html_lib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
from helpers.cli import install_package, invoke, said, write_jsonl  # noqa: E402
from helpers.data import DATA  # noqa: E402
from helpers.pipelines import SENTENCE, SENTENCES  # noqa: E402
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_gliner.cli.app import app
from spacy_gliner.redact import redact_text
from spacy_gliner.render import label_color

MODEL = str(DATA / "models" / "ref_minilm")
LABELS = "person,organization,location"
THRESHOLD = "0.3"  # the reference model is weak: its scores sit below 0.5
PYTHON_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("weights_read_once")  # each checkpoint folder is read once for the module


@pytest.fixture(scope="module")
def conll() -> List[str]:
    """CoNLL-2003 test sentences with at least two entities and some length."""
    items = json.loads((DATA / "benchmarks" / "conll2003" / "test.json").read_text(encoding="utf8"))
    return [x["sentence"] for x in items if len(x["entities"]) >= 2 and len(x["sentence"].split()) >= 12]


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory, weights_read_once) -> Path:
    """A saved spaCy pipeline whose gliner component has labels with descriptions."""
    nlp = spacy.blank("en")
    config = {"model": MODEL, "labels": {"PER": "person", "ORG": "organization", "LOC": "location"}, "threshold": 0.3}
    nlp.add_pipe("gliner", config=config)
    path = tmp_path_factory.mktemp("pipeline") / "nlp"
    nlp.to_disk(path)
    return path


def records(stdout: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def check_entities(record: Dict[str, Any], text: str, labels: set, threshold: float) -> None:
    for ent in record["entities"]:
        assert text[ent["start"] : ent["end"]] == ent["text"]
        assert ent["label"] in labels
        assert threshold <= ent["score"] <= 1.0  # scores are rounded to 4 places


# -- help and entry points ------------------------------------------------------------------
def test_every_command_and_option_is_explained():
    import typer.main

    group = typer.main.get_command(app)
    assert set(group.commands) == {"predict", "render", "redact", "restore", "export", "calibrate", "info"}
    for name, command in group.commands.items():
        assert command.help, name
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name} has no help"


def test_module_help_in_a_real_process():
    result = subprocess.run(
        [sys.executable, "-m", "spacy_gliner", "--help"], capture_output=True, text=True, env=PYTHON_ENV
    )
    assert result.returncode == 0, result.stderr
    for command in ("predict", "render", "redact", "restore", "export", "info"):
        assert command in result.stdout


@pytest.mark.slow
def test_console_script_predicts(tmp_path, conll):
    script = Path(sys.executable).parent / "spacy-gliner"
    text = conll[0]
    out = tmp_path / "out.jsonl"
    result = subprocess.run(
        [
            str(script),
            "predict",
            text,
            "--labels",
            LABELS,
            "--model",
            MODEL,
            "--threshold",
            THRESHOLD,
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=PYTHON_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # the records went to --output, messages to stderr
    assert "1 docs" in said(result)
    (record,) = records(out.read_text(encoding="utf8"))
    assert record["text"] == text and record["entities"]
    check_entities(record, text, set(LABELS.split(",")), 0.3)


# -- predict ----------------------------------------------------------------------------------
def test_predict_text_writes_jsonl_to_stdout(conll):
    text = "\n".join(conll[1:4])  # longer than any file name may be
    assert len(text) > 255
    result = invoke("predict", text, "--labels", LABELS, "--model", MODEL, "-t", THRESHOLD)
    assert result.exit_code == 0, result.output
    (record,) = records(result.stdout)  # stdout holds JSONL only; the summary is on stderr
    assert record["text"] == text
    assert record["entities"], "the reference model finds entities in this sentence at 0.3"
    check_entities(record, text, set(LABELS.split(",")), 0.3)
    assert "1 docs" in said(result) and "docs/s" in said(result)


def test_predict_jsonl_bad_lines_fail_or_are_skipped_and_counted(tmp_path, conll):
    lines = [json.dumps({"id": i, "text": s, "source": "conll"}) for i, s in enumerate(conll[:4])]
    lines.insert(2, '{"id": 99, "text": "unterminated')  # line 3
    lines.insert(4, json.dumps({"id": 98, "body": conll[5]}))  # line 5: no "text"
    lines.insert(5, "")  # blank lines are not records
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf8")

    failed = invoke("predict", path, "--labels", LABELS, "--model", MODEL, "-t", THRESHOLD)
    assert failed.exit_code == 1
    assert "line 3" in said(failed) and "not valid JSON" in said(failed) and "--on-error skip" in said(failed)

    skipped = invoke("predict", path, "--labels", LABELS, "--model", MODEL, "-t", THRESHOLD, "--on-error", "skip")
    assert skipped.exit_code == 0, skipped.output
    out = records(skipped.stdout)
    assert [r["id"] for r in out] == [0, 1, 2, 3]  # in order, extra keys kept
    assert all(r["source"] == "conll" and r["text"] == conll[r["id"]] for r in out)
    assert "line 3" in said(skipped) and "line 5" in said(skipped) and "'text'" in said(skipped)
    assert "2 record(s) skipped" in said(skipped)


def test_lines_without_a_text_say_what_they_hold(tmp_path):
    from spacy_gliner.cli.inputs import LineError, iter_jsonl

    path = tmp_path / "lines.jsonl"
    path.write_text('{"body": "x"}\n{"text": null}\n{"text": 5}\n{"text": "ok"}\n', encoding="utf8")
    found = list(iter_jsonl(path, "text"))
    assert [type(f) is LineError for f in found] == [True, True, True, False]
    assert [str(f).split(": ", 1)[1] for f in found[:3]] == [
        "no 'text' value; each line needs a text under 'text' (see --text-key)",
        "no 'text' value; each line needs a text under 'text' (see --text-key)",
        "a non-string (int) 'text' value; each line needs a text under 'text' (see --text-key)",
    ]


def test_predict_custom_text_key(tmp_path, conll):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"body": conll[2], "n": 1}) + "\n", encoding="utf8")
    result = invoke("predict", path, "-l", LABELS, "-m", MODEL, "-t", THRESHOLD, "--text-key", "body")
    assert result.exit_code == 0, result.output
    (record,) = records(result.stdout)
    assert record["body"] == conll[2] and record["n"] == 1
    check_entities(record, conll[2], set(LABELS.split(",")), 0.3)


def test_predict_folder_to_docbin_matches_jsonl(tmp_path, conll):
    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    texts = {"a.txt": conll[3], "sub/b.txt": conll[4] + "\n", "c.txt": conll[6]}
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf8")
    (folder / "notes.md").write_text("not a .txt file", encoding="utf8")

    as_jsonl = invoke("predict", folder, "-l", LABELS, "-m", MODEL, "-t", THRESHOLD)
    assert as_jsonl.exit_code == 0, as_jsonl.output
    out = records(as_jsonl.stdout)
    assert [r["file"] for r in out] == ["a.txt", "c.txt", "sub/b.txt"]
    assert [r["text"] for r in out] == [texts[r["file"]] for r in out]

    path = tmp_path / "out" / "docs.spacy"
    as_docbin = invoke("predict", folder, "-l", LABELS, "-m", MODEL, "-t", THRESHOLD, "-o", path)
    assert as_docbin.exit_code == 0, as_docbin.output
    docs = list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))
    assert [d.user_data["meta"]["file"] for d in docs] == [r["file"] for r in out]
    for doc, record in zip(docs, out):
        expected = [(e["start"], e["end"], e["label"]) for e in record["entities"]]
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == expected
        assert list(doc.spans["sc"].attrs["scores"].round(4)) == pytest.approx(
            [e["score"] for e in record["entities"]], abs=1e-4
        )


def test_predict_nested_keeps_overlaps_flat_does_not(tmp_path, conll):
    text = conll[0]
    found = {}
    for mode in ("--nested", "--flat"):
        result = invoke("predict", text, "-l", LABELS, "-m", MODEL, "-t", "0.1", mode)
        assert result.exit_code == 0, result.output
        found[mode] = [(e["start"], e["end"]) for e in records(result.stdout)[0]["entities"]]

    def overlapping(spans):
        return [(a, b) for a in spans for b in spans if a < b and a[0] < b[1] and b[0] < a[1]]

    assert overlapping(found["--nested"]), "at 0.1 the reference model nests spans in this sentence"
    assert not overlapping(found["--flat"])


def test_predict_show_prints_colours_and_a_table(conll):
    text = conll[1]
    result = invoke("predict", text, "-l", LABELS, "-m", MODEL, "-t", THRESHOLD, "--show")
    assert result.exit_code == 0, result.output
    assert not result.stdout.lstrip().startswith("{")  # a display, not JSONL
    assert "\x1b[" in result.stdout  # ANSI colours
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert "text" in plain and "label" in plain and "score" in plain
    shown = json.loads(invoke("predict", text, "-l", LABELS, "-m", MODEL, "-t", THRESHOLD).stdout)["entities"]
    for ent in shown:
        assert f"{ent['text']} {ent['label']}" in plain  # highlighted inline, label after the entity


def test_predict_with_saved_pipeline_uses_its_labels_and_threshold(saved_pipeline, conll):
    result = invoke("predict", conll[1], "--model", saved_pipeline)
    assert result.exit_code == 0, result.output
    (record,) = records(result.stdout)
    assert record["entities"]
    check_entities(record, conll[1], {"PER", "ORG", "LOC"}, 0.3)


def test_labels_from_files(tmp_path, conll):
    txt = tmp_path / "labels.txt"
    txt.write_text("person\n\norganization\nlocation\n", encoding="utf8")
    mapping = tmp_path / "labels.json"
    mapping.write_text(json.dumps({"PERSON": "person", "ORG": "organization", "GPE": "location"}), encoding="utf8")
    plain = invoke("predict", conll[1], "-l", txt, "-m", MODEL, "-t", THRESHOLD)
    mapped = invoke("predict", conll[1], "-l", mapping, "-m", MODEL, "-t", THRESHOLD)
    assert plain.exit_code == mapped.exit_code == 0, plain.output + mapped.output
    names = {"person": "PERSON", "organization": "ORG", "location": "GPE"}
    expected = [(e["start"], e["end"], names[e["label"]]) for e in records(plain.stdout)[0]["entities"]]
    assert expected
    assert [(e["start"], e["end"], e["label"]) for e in records(mapped.stdout)[0]["entities"]] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "missing/file.txt", "-l", LABELS], "File or folder not found: missing/file.txt"),
        (["predict", "Some text.", "-l", ","], "--labels is empty"),
        (["predict", "Some text."], "No labels to look for"),
        (["predict", "Some text.", "-l", "labels.txt"], "Labels file not found"),
        (["predict", "Some text.", "-l", LABELS, "-t", "1.5"], "strictly between 0 and 1"),
        (["predict", "Some text.", "-l", LABELS, "-o", "out.csv"], "write .jsonl"),
        (["render", "Some text.", "-l", LABELS, "--color", "person=notacolour"], "is not a colour"),
        (["render", "Some text.", "-l", LABELS, "--color", "red"], "is not LABEL=COLOUR"),
        (["redact", "missing.md", "-l", "person"], "File or folder not found: missing.md"),
    ],
)
def test_bad_input_fails_with_a_message(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "-m" not in args:
        args = args + ["-m", MODEL]
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert message in said(result) and "records were" not in said(result)  # nothing had started


def test_unknown_model_folder(tmp_path):
    empty = tmp_path / "model"
    empty.mkdir()
    result = invoke("predict", "Some text.", "-l", LABELS, "-m", empty)
    assert result.exit_code == 1
    assert "neither a GLiNER checkpoint" in said(result) and "config.cfg" in said(result)
    missing = invoke("predict", "Some text.", "-l", LABELS, "-m", tmp_path / "nowhere")
    assert missing.exit_code == 1 and "neither an existing folder nor a Hugging Face Hub id" in said(missing)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["predict", "Some text.", "-l", LABELS, "-o", "out.csv"],
            "write .jsonl (one record a line) or .spacy (a DocBin), not .csv",
        ),
        (["predict", "empty_folder", "-l", LABELS], "holds no .txt files"),
        (["predict", "Some text.", "-l", LABELS, "-t", "2"], "strictly between 0 and 1"),
        (["predict", "Some text."], "No labels to look for"),
        (["render", "Some text.", "-l", "\u200b"], "has no visible character"),
        (["redact", "Some text.", "-l", LABELS, "-t", "0"], "strictly between 0 and 1"),
        (
            ["predict", "in.jsonl", "-o", "out.jsonl", "-l", LABELS, "-t", "1.5", "--engine", "ray"],
            "strictly between 0 and 1",
        ),
        (
            ["predict", "in.jsonl", "-o", "out.spacy", "-l", LABELS, "--engine", "ray"],
            "with --engine ray, write .jsonl",
        ),
    ],
)
def test_mistakes_are_refused_before_the_model_loads(args, message, tmp_path, monkeypatch):
    """With a bad model too, the mistake a user can fix without it is the one reported: no
    model loads and no Ray starts before the input, the output and the options are checked."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "in.jsonl").write_text('{"text": "Ada Lovelace."}\n', encoding="utf8")
    monkeypatch.setitem(sys.modules, "ray", None)  # --engine ray would fail on `import ray`
    result = invoke(*args, "-m", tmp_path / "no-model")
    assert result.exit_code == 1, result.output
    assert message in said(result) and "no-model" not in said(result) and "pip install" not in said(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_folder", "in.jsonl"]


def test_scale_checks_its_options_before_any_worker_starts(monkeypatch):
    from spacy_gliner import scale

    monkeypatch.setitem(sys.modules, "ray", None)
    for options, message in (
        ({"threshold": 1.5}, "strictly between 0 and 1"),
        ({"labels": ["\u200b"]}, "no visible character"),
    ):
        with pytest.raises(ValueError, match=message):
            scale.annotate(None, "no-model", **options)


def test_a_bad_first_line_says_nothing_of_records_never_written(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n" + json.dumps({"text": "Ada Lovelace."}) + "\n", encoding="utf8")
    result = invoke("predict", path, "-l", LABELS, "-m", MODEL)
    assert result.exit_code == 1 and "line 1" in said(result) and "records were written" not in said(result)
    assert result.stdout == ""


def test_help_names_values_and_keeps_brackets():
    """Help is plain text: Rich markup took "[ray]" for a style; values are named (SOURCE,
    LABELS), not typed (<str>, <list[str]>, {source})."""
    result = runner.invoke(app, ["predict", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "predict [OPTIONS] SOURCE" in text and 'pip install "spacy-gliner[ray]"' in text
    assert "--labels LABELS" in text and "--threshold PROBABILITY" in text and "--engine local|ray" in text
    for command in ("predict", "render", "redact", "restore", "export", "info"):
        shown = runner.invoke(app, [command, "--help"]).stdout
        assert not re.search(r"<(str|int|float|bool|path|list\[\w+\]|\w+ range)>|\{\w+\}", shown), (command, shown)


@pytest.fixture
def installed_package(tiny_checkpoint, tmp_path, monkeypatch):
    """(name, folder) of a pipeline made by `spacy package` and installed as pip installs it:
    the package folder and its dist-info on sys.path, where importlib.metadata and
    spacy.load look."""
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "gliner",
        config={"model": str(tiny_checkpoint("markerV0-bert")), "labels": ["person", "location"], "threshold": 0.3},
    )
    nlp.to_disk(tmp_path / "nlp")
    monkeypatch.syspath_prepend(str(install_package(tmp_path / "nlp", tmp_path, "gliner_demo")))
    yield "en_gliner_demo", tmp_path / "nlp"
    sys.modules.pop("en_gliner_demo", None)


def test_model_takes_an_installed_pipeline_package(installed_package, conll, tmp_path):
    """What spacy.load takes: `-m en_gliner_demo` was "neither an existing folder nor a Hub id"."""
    name, folder = installed_package
    assert spacy.load(name).pipe_names == ["gliner"]
    by_name = invoke("predict", conll[1], "-m", name)
    assert by_name.exit_code == 0, by_name.output
    assert (
        records(by_name.stdout)[0]["entities"]
        == records(invoke("predict", conll[1], "-m", folder).stdout)[0]["entities"]
    )
    assert records(by_name.stdout)[0]["entities"], "the tiny checkpoint finds entities at 0.3"
    exported = invoke("export", name, tmp_path / "checkpoint")
    assert exported.exit_code == 0 and (tmp_path / "checkpoint" / "gliner_config.json").is_file(), exported.output
    other = invoke(
        "predict", conll[1], "-l", "person", "-m", "typer"
    )  # an installed distribution, not a pipeline: never run
    assert other.exit_code == 1 and "neither an existing folder nor a Hugging Face Hub id" in said(other)


def test_a_two_part_path_that_is_not_there_is_said_to_be_no_folder(tmp_path, monkeypatch, offline):
    """`-m models/ref_minilm` from the wrong folder is shaped like a Hub id: the message says
    first that no such folder is here, then what a Hub id would need."""
    monkeypatch.chdir(tmp_path)
    result = invoke("predict", "Some text here.", "-l", LABELS, "-m", "models/ref_minilm")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"is neither a folder here (there is no folder {tmp_path / 'models' / 'ref_minilm'})" in said(result)
    assert "check the path" in said(result) and "hf download models/ref_minilm" in said(result)


def test_text_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Müller visited Zürich.".encode("latin1"))
    result = invoke("predict", path, "-l", LABELS, "-m", MODEL)
    assert result.exit_code == 1 and "not UTF-8" in said(result) and "iconv" in said(result)


# -- render -----------------------------------------------------------------------------------
def test_render_page_with_stable_colours_and_overrides(tmp_path, conll):
    text = conll[1]
    page = tmp_path / "page.html"
    result = invoke("render", text, "-l", LABELS, "-m", MODEL, "-t", THRESHOLD, "--color", "person=red", "-o", page)
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf8")
    assert html.lstrip().lower().startswith("<!doctype html>") and "</html>" in html
    ents = records(invoke("predict", text, "-l", LABELS, "-m", MODEL, "-t", THRESHOLD).stdout)[0]["entities"]
    labels = {e["label"] for e in ents}
    assert len(labels) >= 2
    marks = re.findall(r'<mark class="entity" style="background: ([^;]+);[^>]*>\s*(.*?)\s*<span', html, flags=re.S)
    assert [html_lib.unescape(m[1]) for m in marks] == [e["text"] for e in ents]
    for (background, _), ent in zip(marks, ents):
        assert background == ("red" if ent["label"] == "person" else label_color(ent["label"]))

    # the default colours do not depend on Python's hash seed or on label order
    code = "from spacy_gliner.render import label_color; print(label_color('organization'), label_color('location'))"
    env = {**PYTHON_ENV, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert other.stdout.split() == [label_color("organization"), label_color("location")]
    assert len({label_color(x) for x in ("person", "organization", "location")}) == 3


def test_render_nested_uses_span_style(conll):
    result = invoke("render", conll[0], "-l", LABELS, "-m", MODEL, "-t", "0.1", "--nested")
    assert result.exit_code == 0, result.output
    html = result.stdout
    assert "<mark" not in html  # not the entity style
    nested = records(invoke("predict", conll[0], "-l", LABELS, "-m", MODEL, "-t", "0.1", "--nested").stdout)[0][
        "entities"
    ]
    starts = re.findall(r"background: (#[0-9a-f]{6}); z-index: 10;[^>]*>\s*(.*?)\s*</span>", html, flags=re.S)
    assert sorted(starts) == sorted((label_color(e["label"]), e["label"]) for e in nested)  # one label tag per span


def test_a_colour_for_a_label_not_looked_for_is_refused(saved_pipeline, tmp_path):
    """A typo in --color (persn=red) was silently ignored: refused before the model loads when
    --labels names the labels, else once the pipeline says its own."""
    page = tmp_path / "page.html"
    given = invoke(
        "render",
        "Some text.",
        "-l",
        LABELS,
        "-m",
        tmp_path / "no-model",
        "--color",
        "person=red,persn=blue",
        "-o",
        page,
    )
    assert (
        given.exit_code == 1
        and "--color PERSN: the run looks for no such label (its labels: person, organization, location)" in said(given)
    )
    own = invoke("render", "Some text.", "-m", saved_pipeline, "--color", "per=red,person=blue", "-o", page)
    assert own.exit_code == 1 and "--color PERSON: the run looks for no such label (its labels: PER, ORG, LOC)" in said(
        own
    )
    assert not page.exists()


def test_a_saved_pipeline_keeps_its_tokens_but_outputs_gliner_characters(saved_pipeline, tmp_path):
    """spaCy's tokenizer makes "Park.</p" one token: doc.ents are widened, but predict and render
    give and mark exactly what GLiNER found."""
    text = "<p>Contact Alan Turing at Bletchley Park.</p>"
    result = invoke("predict", text, "-m", saved_pipeline)
    assert result.exit_code == 0, result.output
    (record,) = records(result.stdout)
    assert [(e["start"], e["end"], e["text"]) for e in record["entities"]] == [
        (11, 22, "Alan Turing"),
        (26, 40, "Bletchley Park"),
    ]
    page = tmp_path / "page.html"
    assert invoke("render", text, "-m", saved_pipeline, "-o", page).exit_code == 0
    marked = re.findall(r'<mark class="entity"[^>]*>\s*(.*?)\s*<span', page.read_text(encoding="utf8"), flags=re.S)
    assert marked == ["Alan Turing", "Bletchley Park"]
    assert spacy.load(saved_pipeline)(text).ents[-1].text == "Bletchley Park.</p"


# -- redact -----------------------------------------------------------------------------------
def make_paper() -> bytes:
    """A small paper in Markdown with CRLF line ends, from CrossNER science sentences about people."""
    items = json.loads((DATA / "benchmarks" / "CrossNER_science" / "test.json").read_text(encoding="utf8"))
    about_people = [x for x in items if any(e["type"] in ("scientist", "person") for e in x["entities"])]
    names = list(
        dict.fromkeys(
            e["name"] for x in about_people for e in x["entities"] if e["type"] == "scientist" and " " in e["name"]
        )
    )
    body = [x["sentence"] for x in about_people[:14]]
    lines = [
        "# Notes on the history of chemistry and physics",
        "",
        f"**{names[0]}**<sup>1</sup>, **{names[1]}**<sup>2</sup> and **{names[2]}**<sup>1</sup>",
        "",
        f"<sup>1</sup> {names[3]} Laboratory, University of Cambridge; <sup>2</sup> Institut Pasteur, Paris",
        "",
        "## Introduction",
        "",
        *[line for sentence in body for line in (sentence, "")],
        "| Dataset | Sentences | Labels |",
        "|---|---:|---:|",
        "| CrossNER_science | 543 | 17 |",
        "",
        "## References",
        "",
        f"1. {names[4]} and {names[5]}. On the constitution of atoms. *Philosophical Magazine*, 1913.",
        f"2. {names[6]}. The theory of the electron. *Nature*, 1921.",
        f"3. {names[7]}, {names[8]} and {names[9]}. Radioactive substances. 1903.",
        "",
    ]
    return "\r\n".join(lines).encode("utf8")


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("paper") / "paper.md"
    path.write_bytes(make_paper())
    return path


@pytest.fixture(scope="module")
def paper_people(paper, weights_read_once) -> List[Dict[str, Any]]:
    result = invoke("predict", paper, "-l", "person", "-m", MODEL, "-t", THRESHOLD)
    assert result.exit_code == 0, result.output
    (record,) = records(result.stdout)
    assert record["text"] == paper.read_bytes().decode("utf8")  # \r\n kept in the offsets' text
    return record["entities"]


def replaced(text: str, entities: List[Dict[str, Any]], placeholder) -> str:
    """Each entity's text between line breaks replaced; the line breaks stay."""
    for ent in sorted(entities, key=lambda e: -e["start"]):
        inside = re.sub(r"[^\r\n]+", lambda _: placeholder(ent), text[ent["start"] : ent["end"]])
        text = text[: ent["start"]] + inside + text[ent["end"] :]
    return text


def test_redact_paper_keeps_every_other_byte(paper, paper_people, tmp_path):
    text = paper.read_bytes().decode("utf8")
    assert len(text.split()) > 384, "long enough for several windows"
    assert len(paper_people) >= 5
    assert max(e["start"] for e in paper_people) > text.index("## References"), "names in the reference list are found"

    out, preview = tmp_path / "redacted.md", tmp_path / "check.html"
    result = invoke("redact", paper, "-l", "person", "-m", MODEL, "-t", THRESHOLD, "-o", out, "--preview", preview)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    redacted = out.read_bytes()
    assert redacted == replaced(text, paper_people, lambda e: "[redacted]").encode("utf8")
    assert redacted.count(b"\r\n") == text.count("\r\n") and b"\n" not in redacted.replace(b"\r\n", b"")
    for line in (
        "| Dataset | Sentences | Labels |",
        "|---|---:|---:|",
        "## References",
        "<sup>2</sup> Institut Pasteur",
    ):
        assert line.encode() in redacted
    assert f"Replaced {len(paper_people)} spans (person: {len(paper_people)})" in said(result)

    html = preview.read_text(encoding="utf8")
    marked = re.findall(r'<mark class="entity" style="background: #ff7a7a;[^>]*>\s*(.*?)\s*<span', html, flags=re.S)
    runs = [run.strip() for e in paper_people for run in re.split(r"[\r\n]+", e["text"]) if run.strip()]
    assert [html_lib.unescape(m) for m in marked] == runs  # what is replaced: each entity's runs between line breaks


def test_a_span_across_lines_is_replaced_line_by_line():
    text = "1. Smith, J.\r\n2. Jones, K. and\nLee, M.\r\n| a | b |\r\n"
    start, end = text.index("Smith"), text.index("Lee") + len("Lee")
    assert (
        redact_text(text, [{"start": start, "end": end, "label": "person"}], "label")[0]
        == "1. [PERSON]\r\n[PERSON]\n[PERSON], M.\r\n| a | b |\r\n"
    )
    two = [{"start": 0, "end": 2, "label": "x"}, {"start": start, "end": start + 5, "label": "x"}]
    assert redact_text(text, two, "\\1")[0] == "\\1 \\1, J.\r\n2. Jones, K. and\nLee, M.\r\n| a | b |\r\n"


def test_redact_from_stdin_with_label_placeholders(paper, paper_people):
    data = paper.read_bytes()
    result = runner.invoke(
        app, ["redact", "-", "-l", "person", "-m", MODEL, "-t", THRESHOLD, "-p", "label"], input=data
    )
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == replaced(data.decode("utf8"), paper_people, lambda e: "[PERSON]").encode("utf8")


def test_redact_custom_placeholder_and_nothing_found(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_bytes(b"no names here\r\n\r\njust lines\r\n")
    result = invoke("redact", path, "-l", "person", "-m", MODEL, "-p", "XXX")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == path.read_bytes()
    assert "output is the input unchanged" in said(result)


# -- export and info -----------------------------------------------------------------------
def test_export_writes_a_checkpoint_that_predicts_the_same(saved_pipeline, tmp_path, conll):
    out = tmp_path / "exported"
    result = invoke("export", saved_pipeline, out)
    assert result.exit_code == 0, result.output
    assert (out / "gliner_config.json").is_file() and (out / "model.safetensors").is_file()
    from_pipeline = records(invoke("predict", conll[1], "-m", saved_pipeline).stdout)[0]["entities"]
    from_checkpoint = records(invoke("predict", conll[1], "-m", out, "-l", LABELS, "-t", THRESHOLD).stdout)[0][
        "entities"
    ]
    names = {"person": "PER", "organization": "ORG", "location": "LOC"}
    assert [(e["start"], e["end"], names[e["label"]], e["score"]) for e in from_checkpoint] == [
        (e["start"], e["end"], e["label"], e["score"]) for e in from_pipeline
    ]

    again = invoke("export", saved_pipeline, out)
    assert again.exit_code == 1 and "--force" in said(again)
    assert invoke("export", saved_pipeline, out, "--force").exit_code == 0
    wrong = invoke("export", saved_pipeline, tmp_path / "x", "--component", "ner")
    assert wrong.exit_code == 1 and "'ner'" in said(wrong)
    not_a_pipeline = invoke("export", out, tmp_path / "y")
    assert not_a_pipeline.exit_code == 1 and "not a saved spaCy pipeline" in said(not_a_pipeline)


def test_export_refusals_end_in_one_line_before_loading(saved_pipeline, tmp_path):
    existing = tmp_path / "existing.txt"
    existing.write_text("not a folder", encoding="utf8")
    cases = [
        ((saved_pipeline, existing), "The output {} is a file, not a folder".format(existing)),
        ((saved_pipeline, existing / "sub"), f"{existing} is not a folder"),
        ((tmp_path / "scratch" / "nope", tmp_path / "out"), "Pipeline folder not found"),
    ]
    for args, message in cases:
        result = invoke("export", *args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert message in said(result) and "no config.cfg" not in said(result)
    assert existing.read_text(encoding="utf8") == "not a folder" and not (tmp_path / "out").exists()


def test_info_checkpoint_and_pipeline(saved_pipeline):
    settings = json.loads((Path(MODEL) / "gliner_config.json").read_text(encoding="utf8"))
    result = invoke("info", MODEL)
    assert result.exit_code == 0, result.output
    rows = dict(
        re.split(r"\s{3,}", line.strip(), maxsplit=1)
        for line in result.stdout.splitlines()
        if re.search(r"\S\s{3,}\S", line)
    )
    assert rows["span_mode"] == settings["span_mode"]
    assert rows["hidden_size"] == str(settings["hidden_size"])
    assert rows["max_width"] == str(settings["max_width"]) and rows["max_len"] == str(settings["max_len"])
    assert rows["encoder"].startswith(settings["model_name"])
    assert rows["device"] == "cpu"
    assert rows["spacy"] == spacy.__version__
    assert rows["labels"].startswith("none")
    pipeline = invoke("info", saved_pipeline)
    assert pipeline.exit_code == 0, pipeline.output
    assert "PER (person), ORG (organization), LOC (location)" in pipeline.stdout  # label (description)


def test_info_summarises_a_long_label_list(tmp_path):
    """A pipeline trained on a many-label corpus: the first ten labels and a count, on one short row."""
    labels = [f"type{i}" for i in range(368)]
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": MODEL, "labels": labels})
    nlp.to_disk(tmp_path / "nlp")
    result = invoke("info", tmp_path / "nlp")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("labels"))
    assert ", ".join(labels[:10]) + ", ... and 358 more (368 labels)" in " ".join(row.split())
    assert "type10" not in result.stdout


def test_records_are_written_as_they_stream(tmp_path, conll):
    """Records are written one by one: a bad line after good ones leaves the good ones on
    standard output (an --output file appears only whole, see test_cli_outputs.py)."""
    path = tmp_path / "big.jsonl"
    good = [json.dumps({"id": i, "text": conll[i % 8]}) for i in range(40)]
    path.write_text("\n".join(good + ["not json"]) + "\n", encoding="utf8")
    result = invoke("predict", path, "-l", LABELS, "-m", MODEL, "-t", THRESHOLD, "-b", "4")
    assert result.exit_code == 1 and "line 41" in said(result)
    ids = [r["id"] for r in records(result.stdout)]
    assert 0 < len(ids) < 40 and ids == list(range(len(ids)))  # the batches done before the bad line
    assert f"{len(ids)} records were written to standard output before the stop" in said(result)


def test_engine_ray_without_ray_says_what_to_install(monkeypatch, tmp_path):
    """Ray is an optional extra: without it, --engine ray names the pip install to run."""
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "Ada Lovelace lived in London."}\n', encoding="utf8")
    result = CliRunner().invoke(
        app, ["predict", str(source), "-o", str(tmp_path / "out.jsonl"), "-m", MODEL, "-l", "person", "--engine", "ray"]
    )
    assert result.exit_code == 1
    assert 'pip install "spacy-gliner[ray]"' in result.output
    assert not (tmp_path / "out.jsonl").exists()


# -- JSON and text input: byte-exact pass-through, errors with line and column, BOMs, encodings ---


def written_lines(path: Path) -> List[str]:
    return [line for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


def test_jsonl_keys_pass_through_byte_exact(tmp_path):
    lines = [
        (
            '{"id": 0.30000000000000004, "tiny": 1e-320, "big": 18446744073709551616, "text": "Barack Obama visited'
            ' Paris."}'
        ),
        (
            '{"z": 1, "a": [1.0, 2.50, -0], "text": "Angela Merkel in Berlin.", "\\u00e9": "caf\\u00e9 \\ud83d\\ude00",'
            ' "m": 1E+2}'
        ),
        '{"text":"Tim Cook","entities":[{"old":true}],"n":null}',
    ]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    output = tmp_path / "out.jsonl"
    result = invoke("predict", source, "-l", "person,location", "-m", MODEL, "-t", "0.3", "-o", output)
    assert result.exit_code == 0, said(result)
    for line, out in zip(lines, written_lines(output)):
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
    assert "0.30000000000000004" in written_lines(output)[0] and "1e-320" in written_lines(output)[0]
    assert "18446744073709551616" in written_lines(output)[0]
    assert (
        '"\\u00e9": "caf\\u00e9 \\ud83d\\ude00"' in written_lines(output)[1]
        and "[1.0, 2.50, -0]" in written_lines(output)[1]
    )


def test_bad_json_names_line_and_column(tmp_path):
    """A JSON error says what is wrong and where: line and column."""
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": "a"}), '{"text": "b" "x": 1}'])
    result = invoke("predict", source, "-l", "person", "-m", MODEL)
    message = said(result)
    assert result.exit_code == 1 and "line 2, column 14" in message and "Expecting ',' delimiter" in message
    labels = tmp_path / "labels.json"
    labels.write_text('["person",\n  "place" "x"]', encoding="utf8")
    result = invoke("predict", "Barack Obama", "-l", labels, "-m", MODEL)
    assert result.exit_code == 1 and "line 2, column 11" in said(result) and "Expecting ',' delimiter" in said(result)


def test_json_constants_that_are_not_json_are_refused(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", ['{"text": "a", "x": NaN}'])
    result = invoke("predict", source, "-l", "person", "-m", MODEL)
    assert result.exit_code == 1 and "NaN" in said(result) and "line 1" in said(result)


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


def test_a_non_utf8_file_in_a_folder_is_skipped_and_reported(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(SENTENCE, encoding="utf8")
    (folder / "b.txt").write_bytes("Café in Zürich".encode("latin1"))
    (folder / "c.txt").write_text(SENTENCES[1], encoding="utf8")
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
