"""``--engine ray``: what is refused before any work (no cluster is started here), and how
joining a cluster fails: at once, with a one-line message.

The runs that need a cluster are in ``test_scale.py``.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from spacy_gliner.cli import distributed, outputs
from spacy_gliner.cli.app import app
from spacy_gliner.cli.inputs import InputError
from spacy_gliner.records import arrow_type

MODEL = "no-model-is-loaded-before-these-refusals"


def _ray(*args: str) -> Any:
    return CliRunner().invoke(
        app, ["predict", *args, "-m", MODEL, "-l", "person", "--engine", "ray"], catch_exceptions=False
    )


def _one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())  # wasabi wraps long messages


def _lines(path: Path, *records: str) -> Path:
    path.write_text("".join(record + "\n" for record in records), encoding="utf8")
    return path


@pytest.mark.parametrize(
    "records, where, reason",
    [
        # a field null at first and a string later is fine; a string and an integer are not
        ([{"id": None}, {"id": "a"}, {"id": 7}], "line 3", "incompatible types: string vs int64"),
        ([{"id": 1}, {"id": 2**70}], "line 2", "too large"),  # beyond 64 bits
        ([{"id": 2**62}, {"id": 0.5}], "line 1", "IEEE 754"),  # an integer a float column cannot hold exactly
        ([{"n": [1, "x"]}], "line 1", "Could not convert"),  # one list, two types
    ],
)
def test_parquet_output_refuses_records_it_cannot_hold_before_work(tmp_path, records, where, reason):
    source = _lines(tmp_path / "in.jsonl", *(json.dumps({"text": "Ada.", **record}) for record in records))
    message = _one_line(_ray(str(source), "-o", str(tmp_path / "out.parquet")))
    assert f"in.jsonl, {where}: Parquet cannot store this record" in message and reason in message
    assert "Write JSONL (-o out.jsonl)" in message
    assert not list(tmp_path.glob("*.parquet*")) and not list(tmp_path.glob(".out*"))


def test_parquet_schema_comes_from_every_record(tmp_path, monkeypatch):
    """Fields null or missing in the first records and set later (beyond the first check
    chunk) are in the schema; integers and fractions in one field make a float column; a
    user's own "entities" value is replaced by the entities."""
    monkeypatch.setattr(distributed, "ROWS_PER_CHECK", 2)
    records = [
        {"text": "a", "late": None, "n": 1, "entities": "mine"},
        {"text": "b", "n": 2},
        {"text": "c", "n": 2.5, "late": "x", "last": [1]},
    ]
    source = _lines(tmp_path / "in.jsonl", *(json.dumps(r) for r in records), "not json, left to the run")
    schema = distributed.lines_schema([source], "text")
    assert schema.names == ["text", "late", "n", "entities", "last"]
    assert [str(schema.field(name).type) for name in ("late", "n", "last")] == ["string", "double", "list<item: int64>"]
    assert schema.field("entities").type == arrow_type()


def test_parquet_to_jsonl_refuses_columns_json_cannot_hold(tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["Ada."], "when": [datetime.datetime(2024, 1, 1)]}), source)
    message = _one_line(_ray(str(source), "-o", str(tmp_path / "out.jsonl")))
    assert "the column 'when' is timestamp[us], which JSON cannot hold as it is" in message
    with pytest.raises(InputError, match="cannot be written as JSON"):
        outputs._json_line({"id": 3, "x": float("nan")})  # found at its record: Parquet holds NaN, JSON does not


def test_parquet_columns_named_like_the_internal_ones_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["Ada."], "_spacy_gliner_error": ["mine"]}), source)
    message = _one_line(_ray(str(source), "-o", str(tmp_path / "out.parquet")))
    assert "has a column named '_spacy_gliner_error'" in message and "Rename it" in message


def test_outputs_inside_the_inputs_are_refused_before_work(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    _lines(corpus / "a.jsonl", '{"text": "Ada."}')
    _lines(corpus / "sub" / "b.jsonl", '{"text": "Alan."}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "into_corpus").symlink_to(corpus / "sub")
    (elsewhere / "a_link.jsonl").symlink_to(corpus / "a.jsonl")
    _lines(elsewhere / "outside.jsonl", '{"text": "Grace."}')
    (corpus / "outside.jsonl").symlink_to(elsewhere / "outside.jsonl")  # an input file outside the folder
    outputs = (
        corpus / "out.jsonl",
        corpus / "sub" / "out.parquet",
        elsewhere / "into_corpus" / "out.jsonl",
        elsewhere / "a_link.jsonl",
    )
    for output in outputs:
        message = _one_line(_ray(str(corpus), "-o", str(output)))
        assert "is inside the input folder" in message and "the next run would read it back as input" in message
    message = _one_line(_ray(str(corpus), "-o", str(elsewhere / "outside.jsonl")))
    assert "is an input file of" in message and "writing it would destroy the input" in message
    assert sorted(p.name for p in corpus.rglob("*")) == [
        "a.jsonl",
        "b.jsonl",
        "outside.jsonl",
        "sub",
    ]  # nothing written
    assert sorted(p.name for p in elsewhere.iterdir()) == ["a_link.jsonl", "into_corpus", "outside.jsonl"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_address_nothing_listens_on_fails_at_once(tmp_path):
    source = _lines(tmp_path / "in.jsonl", '{"text": "Ada."}')
    port = _closed_port()
    started = time.monotonic()
    message = _one_line(_ray(str(source), "-o", str(tmp_path / "out.jsonl"), "--ray-address", f"127.0.0.1:{port}"))
    assert time.monotonic() - started < 30  # Ray's own retries took over 4 minutes
    assert f"Cannot reach a Ray cluster at 127.0.0.1:{port}" in message and "Connection refused" in message


def test_auto_without_a_cluster_says_so(tmp_path, monkeypatch):
    import ray
    from ray._private import services

    assert not ray.is_initialized()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    # a shared machine may run other Ray clusters: this one has none
    def no_cluster() -> list:
        return []

    no_cluster.cache_clear = lambda: None  # type: ignore[attr-defined]  # as Ray's cached function has
    monkeypatch.setattr(services, "find_gcs_addresses", no_cluster)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    source = _lines(tmp_path / "in.jsonl", '{"text": "Ada."}')
    message = _one_line(_ray(str(source), "-o", str(tmp_path / "out.jsonl"), "--ray-address", "auto"))
    assert "Address 'auto' found no Ray cluster running on this machine" in message
    assert not ray.is_initialized()


@pytest.mark.slow
def test_a_cluster_that_never_answers_times_out(tmp_path):
    """A port that accepts connections but speaks no Ray (Ray itself waits for many
    minutes): the join gives up after its timeout, and the process exits."""
    script = textwrap.dedent("""
        import socket, sys
        from spacy_gliner import scale
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        try:
            scale.connect(f"127.0.0.1:{server.getsockname()[1]}", timeout=3)
        except scale.ClusterError as err:
            print(err)
            sys.exit(3)
        """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 3, done.stderr
    assert "did not answer within 3 s" in done.stdout
    assert time.monotonic() - started < 60
