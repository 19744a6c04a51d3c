"""``--engine ray`` carries what ``spacy-gliner predict`` writes: relations (a relex model with
relation types) and classes (a component that sets ``doc.cats``), beside the entities.

The Ray actors (``scale.Annotator`` for Arrow records, ``distributed.LineAnnotator`` for JSON
lines) are called here in this process, without a cluster: a worker's JSON line must be the
one-process line byte for byte, its Arrow columns the one-process records, and a Parquet file
written from them must read back as those records. The runs through a cluster are in
``test_scale.py``.
"""

import json
from typing import Any, Dict, List

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.classes import add_textcat
from helpers.cli import invoke, said, write_jsonl
from helpers.data import benchmark
from helpers.pipelines import gliner_pipeline
from helpers.relex_checkpoints import RELATION_TYPES

from spacy_gliner import scale
from spacy_gliner.cli import distributed
from spacy_gliner.cli.inputs import InputError
from spacy_gliner.cli.outputs import ROWS_PER_GROUP, ParquetOutput
from spacy_gliner.loading import RunOptions
from spacy_gliner.records import arrow_type

RELATIONS = {f"REL{i}": t for i, t in enumerate(RELATION_TYPES)}


@pytest.fixture(scope="module")
def saved(relex_checkpoint, tmp_path_factory):
    """(a saved pipeline: a relex checkpoint with relation types, then a text classifier; texts)."""
    texts, labels = benchmark("conll2003", 6)
    nlp = add_textcat(gliner_pipeline(relex_checkpoint("span-none"), labels, relations=RELATIONS, threshold=0.5))
    folder = tmp_path_factory.mktemp("relex-textcat") / "nlp"
    nlp.to_disk(folder)
    return folder, texts[2:6]


def _local(corpus: Any, *args: Any) -> List[str]:
    """The lines the one-process ``predict`` writes."""
    result = invoke("predict", corpus, *args, "--on-error", "skip")
    assert result.exit_code == 0, said(result)
    return result.stdout.splitlines()


def test_a_workers_json_lines_are_the_ones_predict_writes(saved, tmp_path):
    folder, texts = saved
    lines = [json.dumps({"id": i, "text": t, "cats": "mine", "relations": None}) for i, t in enumerate(texts)]
    lines.append('{"id": 9}')  # no text: an error, as in one process
    corpus = write_jsonl(tmp_path / "in.jsonl", lines)
    expected = _local(corpus, "-m", folder)
    table = pa.table(
        {
            scale.LINE: pa.array([(line + "\n").encode() for line in lines], type=pa.binary()),
            scale.FILE: [str(corpus)] * len(lines),
            scale.NUMBER: pa.array(range(1, len(lines) + 1), type=pa.int64()),
        }
    )
    out = distributed.LineAnnotator(scale.RunSettings(str(folder), RunOptions()))(table).to_pydict()
    assert out[distributed.OUTPUT][:-1] == expected  # byte for byte: the user's "cats" and "relations" replaced
    assert out[distributed.OUTPUT][-1] is None and "no 'text' value" in out[scale.ERROR][-1]
    records = [json.loads(line) for line in expected]
    assert all(list(r) == ["id", "text", "cats", "relations", "entities"] for r in records)
    assert sum(len(r["relations"]) for r in records) > 0 and all(set(r["cats"]) == {"long", "short"} for r in records)
    assert out[distributed.COUNT][:-1] == [len(r["entities"]) for r in records]


def test_a_workers_arrow_columns_hold_the_records_and_parquet_keeps_them(saved, tmp_path):
    folder, texts = saved
    corpus = write_jsonl(tmp_path / "in.jsonl", [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)])
    expected = [json.loads(line) for line in _local(corpus, "-m", folder)]
    batch = pa.table({"id": list(range(len(texts) + 1)), "text": [*texts, None]})
    annotator = scale.Annotator(scale.RunSettings(str(folder), RunOptions()))
    out = annotator(batch)
    assert out.column_names == ["id", "text", "entities", "relations", "cats", scale.ERROR]
    assert [out.schema.field(k).type for k in ("entities", "relations", "cats")] == [
        arrow_type(k) for k in ("entities", "relations", "cats")
    ]
    rows = out.to_pylist(maps_as_pydicts="strict")
    assert rows[-1]["entities"] is None and rows[-1]["relations"] is None and rows[-1]["cats"] is None
    assert [{k: v for k, v in r.items() if k != scale.ERROR} for r in rows[:-1]] == expected
    # a later batch with no text keeps the columns (every block of a dataset has one schema)
    assert annotator(pa.table({"id": [7], "text": pa.array([None], type=pa.string())})).column_names == out.column_names
    # a Parquet file gains the relations and cats columns from the first records written
    schema = distributed._with_entities(pa.schema([("id", pa.int64()), ("text", pa.string())]))
    writer = ParquetOutput(tmp_path / "out.parquet", schema=schema)
    for record in expected:
        writer.add(record)
    writer.close()
    assert pq.read_table(tmp_path / "out.parquet").to_pylist(maps_as_pydicts="strict") == expected


def test_parquet_refuses_annotations_that_come_after_its_first_records(tmp_path):
    schema = distributed._with_entities(pa.schema([("text", pa.string())]))
    writer = ParquetOutput(tmp_path / "out.parquet", schema=schema)
    for _ in range(ROWS_PER_GROUP):
        writer.add({"text": "a", "entities": []})
    writer.add({"text": "b", "entities": [], "cats": {"x": 0.5}})
    with pytest.raises(InputError, match="Records gained cats after the first 1024"):
        writer.close()
    writer.discard()
    assert not (tmp_path / "out.parquet").exists()


class _Dataset:
    """What ``scale.annotate`` uses of a Ray dataset: the settings its workers get."""

    class context:  # noqa: N801
        class execution_options:  # noqa: N801
            preserve_order = False

    def map_batches(self, annotator: Any, fn_constructor_args: Any, **_: Any) -> Dict[str, Any]:
        return {"settings": fn_constructor_args[0]}


def test_annotate_hands_the_relation_settings_to_its_workers():
    settings = scale.annotate(_Dataset(), "m", relations=["works for"], relation_threshold=0.7)["settings"]
    assert settings.options == RunOptions(relations={"works for": "works for"}, relation_threshold=0.7)
    with pytest.raises(ValueError, match="relation_threshold"):
        scale.annotate(_Dataset(), "m", relation_threshold=1.5)
