"""``--engine ray``: the records of the single-process path, from Ray Data workers on a local
cluster, with nothing lost or doubled when a worker dies midway.

One local cluster (2 workers) serves the module; a tiny official checkpoint keeps the
runs short. The single-process ``predict`` output is the reference: for JSON lines, byte
for byte. What is refused before any work is in ``test_scale_checks.py``.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from helpers.classes import add_textcat
from helpers.data import BENCHMARKS, benchmark
from helpers.pipelines import gliner_pipeline
from typer.testing import CliRunner

from spacy_gliner.cli.app import app

pytestmark = pytest.mark.slow
LABELS = "person,organization,location"


def _records(n: int) -> List[Dict[str, Any]]:
    sentences = [x["sentence"] for x in json.loads((BENCHMARKS / "conll2003" / "test.json").read_text(encoding="utf8"))]
    return [
        {"id": f"doc-{i}", "text": sentences[i % len(sentences)], "n": i, "nested": {"k": [i, "x"]}} for i in range(n)
    ]


def _write_jsonl(path: Path, records: List[Dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    return path


def _read_jsonl(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def _predict(*args: str) -> Any:
    return CliRunner().invoke(app, ["predict", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def cluster():
    import ray

    from spacy_gliner import scale

    scale.connect(None, workers=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_checkpoint):
    """300 records, and what the single-process path writes for them."""
    folder = tmp_path_factory.mktemp("corpus")
    source = _write_jsonl(folder / "in.jsonl", _records(300))
    model = str(tiny_checkpoint("markerV0-bert"))
    result = _predict(str(source), "-o", str(folder / "single.jsonl"), "-m", model, "-l", LABELS, "-t", "0.3")
    assert result.exit_code == 0, result.output
    expected = _read_jsonl(folder / "single.jsonl")
    assert len(expected) == 300 and sum(len(r["entities"]) for r in expected) > 50
    return source, model, expected


def _same(found: List[Dict[str, Any]], expected: List[Dict[str, Any]]) -> None:
    assert len(found) == len(expected)
    assert [r["id"] for r in found] == [r["id"] for r in expected]  # each once, in input order
    for a, b in zip(found, expected):
        assert {k: v for k, v in a.items() if k != "entities"} == {k: v for k, v in b.items() if k != "entities"}
        assert [(e["start"], e["end"], e["label"], e["text"]) for e in a["entities"]] == [
            (e["start"], e["end"], e["label"], e["text"]) for e in b["entities"]
        ]
        # scores are written rounded to 4 places; batches of other sizes differ by float noise
        # that can tip a rounding: one unit of the last place
        assert [e["score"] for e in a["entities"]] == pytest.approx([e["score"] for e in b["entities"]], abs=1.5e-4)


def test_ray_jsonl_equals_the_single_process_run(cluster, corpus, tmp_path):
    source, model, expected = corpus
    out = tmp_path / "ray.jsonl"
    result = _predict(
        str(source), "-o", str(out), "-m", model, "-l", LABELS, "-t", "0.3", "--engine", "ray", "--workers", "2"
    )
    assert result.exit_code == 0, result.output
    _same(_read_jsonl(out), expected)


# Lines as the one-process path sees them: valid JSON written in every way JSON allows
# (numbers as written, escapes, key orders, spacing, a BOM, CRLF, blank lines, a user's own
# "error", "entities" and internal-looking fields), and lines it refuses (a trailing comma,
# NaN, not an object, no text, a lone surrogate, bytes that are not UTF-8).
ODD_LINES = [
    (
        b'\xef\xbb\xbf{"id": 1, "text": "Alan Turing met Ada Lovelace in London.", "error": "mine", "f": 1.0, "e": 1e5,'
        b' "E": 1E+2, "neg": -0, "big": 123456789012345678901234567890, "tiny": 1e-320, "sum": 0.30000000000000004}'
    ),
    (
        b'{"text": "Barack Obama visited Paris.", "id": 2, "entities": [1, 2], "u": "\\u00e9\\ud83d\\ude00", "raw":'
        b' "\xc3\xa9"}'
    ),
    b'{"id": 3, "text": "x",}',
    b'  {"nested": {"b": 1, "a": [1, 2.5, {"z": null}]}, "id" : 3.0,"text":"Grace Hopper worked at Yale."}  ',
    b"",
    b'{"id": 4, "text": NaN}',
    b'{"id": 5, "text": "Tim Berners-Lee was born in London.", "_spacy_gliner_error": "a user field like ours"}\r',
    b"[1, 2]",
    b'{"id": 6}',
    b'{"id": 7, "text": "\\ud800"}',
    b'{"id": 8, "text": "\xff Linus Torvalds"}',
    b"   ",
    b'{"id": 18446744073709551616, "text": "Ada Lovelace wrote in England.", "entities": null}',
]


def _run_both(source: Path, model: str, *options: str) -> Tuple[Any, Any]:
    """(the single-process run, the Ray run) of ``source``, to local.jsonl and ray.jsonl beside it."""
    args = ("-m", model, "-l", LABELS, "-t", "0.3", *options)
    local = _predict(str(source), "-o", str(source.parent / "local.jsonl"), *args)
    ray_run = _predict(str(source), "-o", str(source.parent / "ray.jsonl"), *args, "--engine", "ray")
    return local, ray_run


def test_records_pass_through_byte_for_byte_and_bad_lines_are_refused_like_local(cluster, tiny_checkpoint, tmp_path):
    """Ray writes the same bytes as the one-process path (each line as it was, "entities"
    added or replaced) and skips or refuses the same lines, naming them by line number."""
    source = tmp_path / "odd.jsonl"
    source.write_bytes(b"\n".join(ODD_LINES))  # the last line without its newline
    model = str(tiny_checkpoint("markerV0-bert"))
    local, ray_run = _run_both(source, model, "--on-error", "skip")
    assert local.exit_code == 0 and ray_run.exit_code == 0, ray_run.output
    written = (tmp_path / "ray.jsonl").read_bytes()
    assert written == (tmp_path / "local.jsonl").read_bytes()
    assert (
        len(written.splitlines()) == 5
        and b'"error": "mine"' in written
        and b"123456789012345678901234567890" in written
    )
    assert any(json.loads(line)["entities"] for line in written.splitlines())

    def skipped(result: Any) -> List[str]:
        return [line for line in result.output.splitlines() if "Skipped" in line]

    assert len(skipped(ray_run)) == 6 and skipped(ray_run) == skipped(local)
    message = " ".join(ray_run.output.split())
    assert (
        "odd.jsonl, line 3, column 23: not valid JSON" in message
        and "odd.jsonl, line 11: the line is not UTF-8 text" in message
    )
    local, ray_run = _run_both(source, model)  # --on-error fail: the first bad line stops both
    assert local.exit_code == ray_run.exit_code == 1
    assert "odd.jsonl, line 3, column 23: not valid JSON: Expecting property name" in " ".join(ray_run.output.split())
    assert "--on-error skip" in ray_run.output and "Traceback" not in ray_run.output
    assert (tmp_path / "ray.jsonl").read_bytes() == written  # the stopped run left the file as it was


def test_ray_runs_quietly_and_names_the_cluster_it_joined(cluster, tiny_checkpoint, tmp_path):
    """A run in its own process, as a user starts it: on standard error only the
    cluster it joined and the summary (no Ray log lines, no core worker lines)."""
    source = _write_jsonl(tmp_path / "in.jsonl", _records(3))
    address = cluster.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "spacy_gliner", "predict", str(source), "-o", str(tmp_path / "out.jsonl")]
    command += ["-m", str(tiny_checkpoint("markerV0-bert")), "-l", LABELS, "--engine", "ray", "--ray-address", address]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert f"Joined the Ray cluster at {address} (1 node, " in lines[0]
    assert "3 docs, " in " ".join(done.stderr.split())  # the summary (wasabi wraps it)
    assert not [line for line in lines if "INFO" in line or "WARNING" in line or ".cc:" in line], done.stderr


def test_parquet_in_and_out(cluster, corpus, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, model, expected = corpus
    folder = tmp_path / "parquet_in"
    folder.mkdir()
    records = _read_jsonl(source)
    for record in records:  # Arrow columns hold one type: no mixed lists in Parquet
        record["nested"] = {"k": record["nested"]["k"][:1]}
        record["error"] = f"user-{record['n']}"  # a user's own "error" column stays
    pq.write_table(pa.Table.from_pylist(records[:150]), folder / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist([{**r, "extra": r["n"]} for r in records[150:]]), folder / "part-1.parquet")
    out = tmp_path / "out.parquet"
    result = _predict(
        str(folder), "-o", str(out), "-m", model, "-l", LABELS, "-t", "0.3", "--engine", "ray", "--workers", "2"
    )
    assert result.exit_code == 0, result.output
    found = pq.read_table(out).to_pylist()
    assert [r["id"] for r in found] == [r["id"] for r in expected]
    assert [r["extra"] for r in found] == [None] * 150 + list(range(150, 300))  # a column of the second file only
    assert [r["error"] for r in found] == [f"user-{i}" for i in range(300)]
    _same(
        [{k: v for k, v in r.items() if k not in ("extra", "error")} for r in found],
        [{**r, "nested": {"k": r["nested"]["k"][:1]}} for r in expected],
    )


def test_jsonl_to_parquet_takes_its_schema_from_every_record(cluster, tiny_checkpoint, tmp_path, monkeypatch):
    """A field null in the first records and set later, and one only in the last record,
    with the records written in chunks of 2: every value is in the output."""
    import pyarrow.parquet as pq

    from spacy_gliner.cli import distributed

    monkeypatch.setattr(distributed, "ROWS_PER_CHECK", 2, raising=False)
    records = [
        {"id": i, "text": "Ada Lovelace met Charles Babbage.", "late": None if i < 3 else f"x{i}"} for i in range(5)
    ]
    records[-1]["only_last"] = [1, 2]
    source = _write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.parquet"
    model = str(tiny_checkpoint("markerV0-bert"))
    result = _predict(str(source), "-o", str(out), "-m", model, "-l", LABELS, "-t", "0.3", "--engine", "ray")
    assert result.exit_code == 0, result.output
    found = pq.read_table(out).to_pylist()
    assert [(r["id"], r["late"], r["only_last"]) for r in found] == [
        (0, None, None),
        (1, None, None),
        (2, None, None),
        (3, "x3", None),
        (4, "x4", [1, 2]),
    ]
    assert pq.read_schema(out).names == ["id", "text", "late", "entities", "only_last"]


def test_bad_parquet_records_are_named_by_position_and_id(cluster, corpus, tmp_path):
    """Parquet records have no lines: a record without a text is named by its position and
    id (stopping the run at a bad record: test_records_pass_through_byte_for_byte...)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, model, expected = corpus
    records = [{"id": r["id"], "text": r["text"]} for r in _records(40)]
    records[7]["text"] = None
    records[23]["text"] = None
    source = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(records), source)
    out = tmp_path / "out.jsonl"
    skipped = _predict(
        str(source), "-o", str(out), "-m", model, "-l", LABELS, "-t", "0.3", "--engine", "ray", "--on-error", "skip"
    )
    assert skipped.exit_code == 0, skipped.output
    message = " ".join(skipped.output.split())  # wasabi wraps long messages
    assert "bad.parquet, record 8 (id 'doc-7'): no 'text' value" in message
    assert "record 24 (id 'doc-23'): no 'text' value" in message and "2 record(s) skipped" in message
    found = _read_jsonl(out)
    assert [r["id"] for r in found] == [r["id"] for i, r in enumerate(records) if i not in (7, 23)]


def test_relations_and_classes_through_ray_are_those_of_one_process(cluster, relex_checkpoint, tmp_path):
    """A relex checkpoint with --relations, and a saved pipeline whose text classifier writes
    doc.cats: JSON lines byte for byte; Parquet in and out, the same records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts, labels = benchmark("conll2003", 8)
    records = [{"id": i, "text": t} for i, t in enumerate(texts[2:8])]
    source = _write_jsonl(tmp_path / "in.jsonl", records)
    bare = ["-m", str(relex_checkpoint("span-none")), "-l", ",".join(labels), "-t", "0.5"]
    bare += ["--relations", "works for,located in,born in", "--relation-threshold", "0.6"]
    add_textcat(gliner_pipeline(relex_checkpoint("span-none"), labels, relations=["works for"])).to_disk(
        tmp_path / "nlp"
    )
    for n, args in enumerate((bare, ["-m", str(tmp_path / "nlp")])):
        local, ray_out = tmp_path / f"local-{n}.jsonl", tmp_path / f"ray-{n}.jsonl"
        assert _predict(str(source), "-o", str(local), *args).exit_code == 0
        result = _predict(str(source), "-o", str(ray_out), *args, "--engine", "ray", "--workers", "2")
        assert result.exit_code == 0, result.output
        assert ray_out.read_bytes() == local.read_bytes()
        expected = _read_jsonl(local)
        assert sum(len(r["relations"]) for r in expected) > 0 and ("cats" in expected[0]) == (n == 1)
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "in.parquet")
    for out in (tmp_path / "out.parquet", tmp_path / "out.jsonl"):
        result = _predict(str(tmp_path / "in.parquet"), "-o", str(out), *args, "--engine", "ray")
        assert result.exit_code == 0, result.output
        found = pq.read_table(out).to_pylist(maps_as_pydicts="strict") if out.suffix == ".parquet" else _read_jsonl(out)
        assert found == expected


def _parent(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def _ours(pid: int) -> bool:
    """Whether a process descends from this one (the module's cluster), not from another
    Ray on the machine."""
    while pid > 1:
        pid = _parent(pid)
        if pid == os.getpid():
            return True
    return False


def _worker_pids() -> List[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:  # MapBatches(LineAnnotator)
            if proc.name.isdigit() and b"Annotator)" in (proc / "cmdline").read_bytes() and _ours(int(proc.name)):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker processes in /proc")
def test_a_worker_killed_midway_loses_and_doubles_nothing(cluster, tiny_checkpoint, tmp_path):
    """3,000 records (SPACY_GLINER_RAY_RECORDS=10000 for the full check); once both
    workers run, one is killed (SIGKILL): Ray restarts it and runs its batch again, and the
    output equals the single-process run."""
    from spacy_gliner import scale
    from spacy_gliner.cli.distributed import OUTPUT, LineAnnotator

    source = _write_jsonl(tmp_path / "in.jsonl", _records(int(os.environ.get("SPACY_GLINER_RAY_RECORDS", "3000"))))
    model = str(tiny_checkpoint("markerV0-bert"))
    assert (
        _predict(str(source), "-o", str(tmp_path / "single.jsonl"), "-m", model, "-l", LABELS, "-t", "0.3").exit_code
        == 0
    )
    expected = _read_jsonl(tmp_path / "single.jsonl")
    lines = scale.read("json", [source])
    dataset = scale.annotate(
        lines, model, labels=LABELS.split(","), threshold=0.3, workers=2, records_per_task=8, annotator=LineAnnotator
    )
    found: List[Dict[str, Any]] = []
    killed: List[int] = []
    seen = set()

    def kill_one() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and len(found) < len(expected):
            pids = _worker_pids()
            seen.update(pids)
            if not killed and len(pids) == 2 and found:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(len(found))
            time.sleep(0.1)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    for _, row in scale.records(dataset):
        assert row[scale.ERROR] is None
        found.append(json.loads(row[OUTPUT]))
    killer.join()
    assert killed and 0 < killed[0] < len(expected), f"no worker was killed midway ({killed}): the test proved nothing"
    assert len(seen) >= 3  # the killed worker was replaced by a new process
    _same(found, expected)
