"""Where the command line reads and writes: devices, pipes, links, folders, full disks, closed
pipes, outputs on one another, missing files, damaged mappings, file modes, escaped pages;
outputs never written over their input, and a failed or interrupted run keeps no partial file.

Checks before any work run without a model; the others use the reference checkpoint, in
this process (typer's CliRunner) or, where a real file descriptor matters (a closed pipe,
``/dev/full``, ``/proc/self/fd/1``), in a subprocess.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, List

import pytest
import spacy
from helpers.cli import invoke, said, write_jsonl  # noqa: E402
from helpers.data import DATA  # noqa: E402
from helpers.pipelines import SENTENCE, SENTENCES  # noqa: E402
from spacy.language import Language

from spacy_gliner.cli import predict
from spacy_gliner.cli.inputs import InputError
from spacy_gliner.cli.outputs import write_file
from spacy_gliner.redact import redact_document
from spacy_gliner.render import displacy_page, marked_page

MODEL = str(DATA / "models" / "ref_minilm")
TEXT = "Alan Turing met Grace Hopper in London."
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
HOSTILE = "<img src=x onerror=alert(1)>"


pytestmark = pytest.mark.usefixtures("weights_read_once")  # each checkpoint folder is read once for the module


def cli(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess:
    """The command line in a process of its own."""
    return subprocess.run([sys.executable, "-m", "spacy_gliner", *map(str, args)], env=ENV, **kwargs)


@pytest.fixture
def null_device(tmp_path: Path) -> Path:
    """A character device that discards what it is given: a twin of /dev/null where the
    process may make one (so that a failing writer cannot replace the system's), else /dev/null."""
    twin = tmp_path / "null"
    try:
        os.mknod(twin, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        return twin
    except PermissionError:
        return Path("/dev/null")


def files_in(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


# -- the atomic writer: never replaces what is not a regular file ------------------------------
def test_devices_and_links_to_them_are_written_through(null_device, tmp_path):
    link = tmp_path / "out.txt"
    link.symlink_to(null_device)
    for path in (null_device, link):
        write_file(path, b"written through")
    assert stat.S_ISCHR(os.stat(null_device).st_mode) and link.is_symlink() and os.readlink(link) == str(null_device)
    assert files_in(tmp_path) == sorted(["out.txt"] + (["null"] if null_device.parent == tmp_path else []))


def test_a_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: List[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_file(fifo, b"through the pipe\n")
    reader.join(timeout=30)
    assert got == [b"through the pipe\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode) and files_in(tmp_path) == ["pipe"]


def test_a_link_to_a_file_elsewhere_writes_the_target_beside_it(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "result.txt"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_file(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert files_in(tmp_path) == ["link.txt", "real"] and files_in(tmp_path / "real") == ["result.txt"]
    dangling = tmp_path / "new.txt"
    dangling.symlink_to(tmp_path / "real" / "fresh.txt")
    write_file(dangling, b"fresh")
    assert dangling.is_symlink() and (tmp_path / "real" / "fresh.txt").read_bytes() == b"fresh"


def test_what_cannot_take_a_file_is_refused(tmp_path):
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    try:
        for path, reason in (
            (tmp_path, "is a folder"),
            (tmp_path / "sock", "neither a file"),
            (tmp_path / "sock" / "x", "is not a folder"),
        ):
            with pytest.raises(InputError, match=reason):
                write_file(path, b"x")
    finally:
        server.close()
    assert stat.S_ISSOCK(os.stat(tmp_path / "sock").st_mode)


@pytest.mark.slow
def test_an_output_through_proc_self_fd_1_goes_to_standard_output(tmp_path):
    link = tmp_path / "out.jsonl"
    link.symlink_to("/proc/self/fd/1")
    result = cli("predict", "--text", TEXT, "-l", "person", "-m", MODEL, "-t", "0.3", "-o", link, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["text"] == TEXT  # through the pipe, as it came
    assert link.is_symlink() and files_in(tmp_path) == ["out.jsonl"]


def test_cli_writes_to_a_device_without_replacing_it(null_device, tmp_path):
    for command in ("render", "predict"):  # predict: a device takes JSONL whatever its name
        result = invoke(command, "--text", TEXT, "-l", "person", "-m", MODEL, "-o", null_device)
        assert result.exit_code == 0, result.output
        assert stat.S_ISCHR(os.stat(null_device).st_mode)


# -- outputs checked before any work ------------------------------------------------------------
def test_two_outputs_on_one_file_are_refused_before_any_work(tmp_path):
    source = tmp_path / "doc.txt"
    source.write_text(TEXT, encoding="utf8")
    (tmp_path / "sub").mkdir()
    out = tmp_path / "out.txt"
    link = tmp_path / "link.txt"
    link.symlink_to(out)
    cases = [
        ["-o", out, "--mapping", out],
        ["-o", out, "--preview", out],
        ["--preview", out, "--mapping", out],
        ["-o", out, "--mapping", tmp_path / "sub" / ".." / "out.txt"],
        ["-o", out, "--mapping", link],  # a link to a file not yet written
    ]
    for options in cases:
        result = invoke("redact", source, "-l", "person", "-m", tmp_path / "no-model", *options)
        assert result.exit_code == 1 and "are one file" in said(result), (options, result.output)
    out.write_text("an older output", encoding="utf8")  # an existing file, through a hard link
    os.link(out, tmp_path / "hard.txt")
    result = invoke(
        "redact", source, "-l", "person", "-m", tmp_path / "no-model", "-o", out, "--preview", tmp_path / "hard.txt"
    )
    assert result.exit_code == 1 and "are one file" in said(result)
    assert (
        files_in(tmp_path) == ["doc.txt", "hard.txt", "link.txt", "out.txt", "sub"]
        and out.read_text(encoding="utf8") == "an older output"
    )


def test_restore_refuses_to_write_over_its_mapping(tmp_path):
    redacted, mapping = form_letter(tmp_path, "a")
    for output in (mapping, tmp_path / "." / mapping.name):
        result = invoke("restore", redacted, "--mapping", mapping, "-o", output)
        assert result.exit_code == 1 and "is also the input" in said(result)
    assert json.loads(mapping.read_text(encoding="utf8"))["format"] == "spacy-gliner-redaction"


@pytest.mark.parametrize("command", ["predict", "render", "redact", "restore"])
def test_an_output_that_is_a_folder_is_refused_before_any_work(command, tmp_path):
    source = tmp_path / "doc.txt"
    source.write_text(TEXT, encoding="utf8")
    extra = ["--mapping", source] if command == "restore" else ["-l", "person", "-m", tmp_path / "no-model"]
    result = invoke(command, source, *extra, "-o", tmp_path)
    assert result.exit_code == 1 and "is a folder: name a file" in said(result), result.output


# -- a document that is not there is never the text ---------------------------------------------
@pytest.mark.parametrize("command", ["predict", "render", "redact", "restore"])
def test_a_missing_file_is_refused_not_read_as_text(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = ["--mapping", "map.json"] if command == "restore" else ["-l", "person", "-m", MODEL]
    for source in ("report", "notes on my report.md", "./my report"):
        result = invoke(command, source, *extra, "-o", "report.red")
        assert (
            result.exit_code == 1 and f"File or folder not found: {source}" in said(result) and "--text" in said(result)
        )
    assert files_in(tmp_path) == []


def test_text_says_that_the_source_is_the_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Turing").write_text("Grace Hopper wrote this file.", encoding="utf8")
    result = invoke("predict", "--text", "Turing", "-l", "person", "-m", MODEL)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"] == "Turing"  # the word, not the file of that name
    result = invoke("redact", "--text", "report", "-l", "person", "-m", MODEL, "-o", "report.red")
    assert result.exit_code == 0 and (tmp_path / "report.red").read_text(encoding="utf8") == "report"


# -- restore: damaged mappings and form letters ------------------------------------------------
def form_letter(folder: Path, name: str, who: str = "Alan Turing") -> tuple:
    """A redacted letter and its mapping, as `redact -o NAME.red.txt --mapping NAME.map.json` writes them."""
    data = f"Dear {who},\nyour order has shipped.\n".encode()
    redaction = redact_document(data, lambda t: [{"start": 5, "end": 5 + len(who), "label": "person"}])
    redacted, mapping = folder / f"{name}.red.txt", folder / f"{name}.map.json"
    redacted.write_bytes(redaction.data)
    mapping.write_text(json.dumps({**redaction.mapping(), "redacted_file": redacted.name}), encoding="utf8")
    return redacted, mapping


def test_restore_refuses_the_mapping_of_another_form_letter(tmp_path):
    a, a_map = form_letter(tmp_path, "a")
    b, _ = form_letter(tmp_path, "b", "Ada Lovelace")
    assert a.read_bytes() == b.read_bytes()
    result = invoke("restore", b, "--mapping", a_map)
    assert (
        result.exit_code == 1
        and "written for the redacted file 'a.red.txt', not 'b.red.txt'" in said(result)
        and result.stdout == ""
    )
    renamed = invoke("restore", b, "--mapping", a_map, "--renamed")  # said so: what the bytes allow
    assert renamed.exit_code == 0 and "Alan Turing" in renamed.stdout


def _replaced(**change: Any) -> Any:
    return lambda m: {**m, "replacements": [{**r, **change} for r in m["replacements"]]}


DAMAGED = {
    "not JSON": "not json",
    "NaN": "NaN",
    "nested too deeply": "[" * 100_000,
    "a list": lambda m: [m],
    "replacements an object": lambda m: {**m, "replacements": {"a": 1}},
    "a replacement an integer": lambda m: {**m, "replacements": [1]},
    "a replacement without keys": lambda m: {**m, "replacements": [{}]},
    "offsets as text": _replaced(redacted_start="5"),
    "negative offsets": _replaced(redacted_start=-1),
    "offsets beyond any text": _replaced(redacted_end=10**40),
    "an original that is not text": _replaced(original=None),
    "no hashes": lambda m: {k: v for k, v in m.items() if "sha256" not in k},
}


@pytest.mark.parametrize("shape", list(DAMAGED))
def test_a_damaged_mapping_ends_in_one_line(shape, tmp_path):
    redacted, mapping = form_letter(tmp_path, "a")
    damage = DAMAGED[shape]
    content = damage if isinstance(damage, str) else json.dumps(damage(json.loads(mapping.read_text(encoding="utf8"))))
    mapping.write_text(content, encoding="utf8")
    result = invoke("restore", redacted, "--mapping", mapping)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert said(result).count("✘") == 1 and "Traceback" not in result.output and said(result).startswith(f"✘ {mapping}")


# -- closed pipes and full devices --------------------------------------------------------------
def closed_pipe_run(*args: Any) -> subprocess.CompletedProcess:
    """A command whose standard output is a pipe nobody reads any more (``| head`` after it quit)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return cli(*args, stdout=write_end, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(write_end)


@pytest.mark.slow
def test_predict_into_a_closed_pipe_stops_quietly(tmp_path):
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"{TEXT} ({i})"}) + "\n" for i in range(6)), encoding="utf8")
    result = closed_pipe_run("predict", corpus, "-l", "person", "-m", MODEL, "-b", "1")
    assert result.returncode == 141 and result.stderr == b"", result.stderr.decode()


def test_restore_into_a_closed_pipe_stops_quietly(tmp_path):
    redacted, mapping = form_letter(tmp_path, "a")
    result = closed_pipe_run("restore", redacted, "--mapping", mapping)
    assert result.returncode == 141 and result.stderr == b"", result.stderr.decode()


@pytest.mark.slow
def test_a_full_standard_output_ends_in_one_line(tmp_path):
    redacted, mapping = form_letter(tmp_path, "a")
    with open("/dev/full", "wb") as full:
        result = cli("restore", redacted, "--mapping", mapping, stdout=full, stderr=subprocess.PIPE, timeout=300)
        predicted = cli(
            "predict", "--text", TEXT, "-l", "person", "-m", MODEL, stdout=full, stderr=subprocess.PIPE, timeout=300
        )
    for run in (result, predicted):
        message = run.stderr.decode()
        assert run.returncode == 1 and "No space left on device" in message and "Traceback" not in message, message


# -- a missing word splitter package --------------------------------------------------------------
def test_a_missing_word_splitter_package_ends_in_one_line(tiny_checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "japanese"
    shutil.copytree(tiny_checkpoint("markerV0-bert"), folder)
    config = json.loads((folder / "gliner_config.json").read_text(encoding="utf8"))
    (folder / "gliner_config.json").write_text(json.dumps({**config, "words_splitter_type": "janome"}), encoding="utf8")
    monkeypatch.setitem(sys.modules, "janome", None)  # not installed, whatever this machine has
    monkeypatch.setitem(sys.modules, "janome.tokenizer", None)
    result = invoke("predict", "--text", TEXT, "-l", "person", "-m", folder)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "janome" in said(result) and "pip install" in said(result)


def test_a_splitter_the_component_chose_is_not_blamed_on_the_checkpoint(tiny_checkpoint, tmp_path, monkeypatch):
    import spacy

    monkeypatch.setitem(sys.modules, "mecab", None)  # not installed, whatever this machine has
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "gliner", config={"model": str(tiny_checkpoint("markerV0-bert")), "labels": ["person"], "words": "mecab"}
    )
    nlp.to_disk(tmp_path / "nlp")
    result = invoke("predict", "--text", TEXT, "-m", tmp_path / "nlp")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "The 'mecab' word splitter needs the package python-mecab-ko" in said(result) and "checkpoint" not in said(
        result
    )


# -- files that hold the originals are private; pages escape what users control ----------------------
def test_mapping_preview_and_restored_files_are_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        source = tmp_path / "letter.txt"
        source.write_text(TEXT, encoding="utf8")
        for input_mode, expected in ((0o600, 0o600), (0o644, 0o600), (0o400, 0o400)):
            os.chmod(source, input_mode)
            out, mapping, preview = tmp_path / "red.txt", tmp_path / "map.json", tmp_path / "check.html"
            for path in (mapping, preview):  # an older, readable file is replaced by a private one
                path.write_text("old", encoding="utf8")
                os.chmod(path, 0o644)
            result = invoke(
                "redact",
                source,
                "-l",
                "person",
                "-m",
                MODEL,
                "-t",
                "0.3",
                "-o",
                out,
                "--mapping",
                mapping,
                "--preview",
                preview,
            )
            assert result.exit_code == 0, result.output
            assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in (mapping, preview)} == {
                "map.json": expected,
                "check.html": expected,
            }
            assert stat.S_IMODE(out.stat().st_mode) == 0o644  # the redacted document is for sharing
            back = tmp_path / "back.txt"
            assert invoke("restore", out, "--mapping", mapping, "-o", back).exit_code == 0
            assert stat.S_IMODE(back.stat().st_mode) == expected and back.read_text(encoding="utf8") == TEXT
            for path in (out, mapping, preview, back):
                path.unlink()
    finally:
        os.umask(old)


def test_pages_escape_labels_titles_and_colours(tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({HOSTILE: "person"}), encoding="utf8")
    source = tmp_path / "letter.txt"
    source.write_text(TEXT, encoding="utf8")
    pages = {"flat": tmp_path / "flat.html", "nested": tmp_path / "nested.html", "preview": tmp_path / "preview.html"}
    runs = [
        invoke("render", source, "-l", labels, "-m", MODEL, "-t", "0.3", "-o", pages["flat"]),
        invoke("render", source, "-l", labels, "-m", MODEL, "-t", "0.3", "--nested", "-o", pages["nested"]),
        invoke(
            "redact",
            source,
            "-l",
            labels,
            "-m",
            MODEL,
            "-t",
            "0.3",
            "-o",
            tmp_path / "red.txt",
            "--preview",
            pages["preview"],
        ),
    ]
    assert all(r.exit_code == 0 for r in runs), [r.output for r in runs]
    for name, page in pages.items():
        html = page.read_text(encoding="utf8")
        assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html, name


def test_displacy_pages_escape_every_text_they_are_given():
    from spacy.lang.en import English
    from spacy.tokens import Span

    doc = English()("Alan Turing met Grace Hopper")
    doc.spans["sc"] = [Span(doc, 0, 2, label=HOSTILE)]
    doc.ents = [Span(doc, 3, 5, label=HOSTILE, kb_id="<b>kb</b>")]
    doc.user_data["title"] = "<script>alert(2)</script>"
    pages = [
        displacy_page(doc, "span", {HOSTILE: "red"}, spans_key="sc"),
        displacy_page([doc], "ent", {HOSTILE: "red"}),
        marked_page("Alan <Turing>", [(0, 4, HOSTILE)], {HOSTILE: "#ff0000"}),
    ]
    for html in pages:
        assert "<img" not in html and "<script>alert" not in html and "<b>kb" not in html and "&lt;img src=x" in html
    assert "background: red" in pages[0] and "&lt;Turing&gt;" in pages[2]


# -- files written whole, never over their input -----------------------------------------------


def test_predict_refuses_to_write_over_its_input(tmp_path):
    source = write_jsonl(tmp_path / "x.jsonl", [json.dumps({"text": t}) for t in SENTENCES])
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
    for args in (
        ("redact", source, "-o", source),
        ("render", source, "-o", source),
        ("redact", source, "--preview", source),
    ):
        result = invoke(*args, "-l", "person", "-m", MODEL)
        assert result.exit_code == 1 and "is also the input" in said(result)
        assert source.read_text(encoding="utf8") == SENTENCE


def _bad_line_run(tmp_path: Path, output: Path):
    lines = [json.dumps({"text": t}) for t in SENTENCES[:3]] + ["{broken"] + [json.dumps({"text": SENTENCES[3]})]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    return invoke("predict", source, "-l", "person", "-m", MODEL, "-t", "0.3", "-o", output, "-b", "1")


@pytest.mark.parametrize("suffix", [".jsonl", ".spacy"])
def test_a_failed_run_keeps_no_partial_file_and_says_so(tmp_path, suffix):
    output = tmp_path / "out" / f"result{suffix}"
    output.parent.mkdir()
    output.write_bytes(b"an older result")
    result = _bad_line_run(tmp_path, output)
    assert result.exit_code == 1
    message = said(result)
    assert "line 4" in message and re.search(
        r"\d+ records were annotated before the stop|Nothing was annotated", message
    )
    assert "no partial file was kept" in message
    assert output.read_bytes() == b"an older result"  # the old file is untouched
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no temporary file left


def test_ctrl_c_keeps_no_partial_file_and_says_so(tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": t}) for t in SENTENCES])
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
    lines = [json.dumps({"text": t}) for t in SENTENCES] + ["[1]"]  # -b 1: documents go in batches of 4
    result = invoke("predict", write_jsonl(tmp_path / "in.jsonl", lines), "-l", "person", "-m", MODEL, "-b", "1")
    assert result.exit_code == 1 and "line 6" in said(result)
    assert len(result.stdout.splitlines()) == 4 and "4 records were written to standard output" in said(result)


def test_keys_a_docbin_cannot_hold_end_with_a_message(tmp_path):
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [json.dumps({"text": SENTENCE, "n": 1}), '{"text": "Tim Cook", "big": 18446744073709551616}'],
    )
    output = tmp_path / "out.spacy"
    result = invoke("predict", source, "-l", "person", "-m", MODEL, "-o", output)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "a DocBin cannot store" in said(result) and "no partial file was kept" in said(result)
    assert not output.exists()


@Language.component("test_length_cats")
def _length_cats(doc: Any) -> Any:
    """A stand-in text classifier: doc.cats as a textcat component writes them."""
    doc.cats = {"long": len(doc) / 100, "short": 1 - len(doc) / 100}
    return doc


def test_predict_writes_the_classes_a_pipeline_gives(tmp_path):
    """A saved pipeline whose components write doc.cats: each JSON line gains "cats" (spaCy's
    {choice: score}, rounded as entity scores) after its entities; the line's own keys stay as written."""
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": MODEL, "labels": ["person", "city"], "threshold": 0.3})
    nlp.add_pipe("test_length_cats")
    nlp.to_disk(tmp_path / "nlp")
    corpus = write_jsonl(tmp_path / "in.jsonl", ['{"id": 1.0, "text": "Alan Turing met Grace Hopper in London."}'])
    result = invoke("predict", str(corpus), "-m", str(tmp_path / "nlp"))
    assert result.exit_code == 0, said(result)
    line = result.stdout.strip()
    record = json.loads(line)
    assert line.startswith('{"id": 1.0, "text": ') and list(record) == ["id", "text", "entities", "cats"]
    assert record["cats"] == {"long": 0.08, "short": 0.92}  # 8 tokens
    plain = invoke("predict", str(corpus), "-m", MODEL, "-l", "person,city", "-t", "0.3")
    assert plain.exit_code == 0, said(plain)
    alone = json.loads(plain.stdout)
    assert "cats" not in alone and record["entities"] == alone["entities"] and alone["entities"]
