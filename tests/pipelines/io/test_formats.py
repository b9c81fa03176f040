import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.io import formats
from pipelines.io.formats import FileError, RowError, iter_json_array, iter_jsonl, sniff_format


def test_jsonl_gz_bad_lines_become_row_errors(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(b'{"instruction": "a"}\n\n{"instruction": \n\xff\xfe{"x": 1}\n{"instruction": "b"}\n')
    rows = list(iter_jsonl(str(path)))
    assert [n for n, _ in rows] == [1, 3, 4, 5]
    assert rows[1][1].reason == "malformed_json" and rows[1][1].detail["raw"] == '{"instruction": '
    assert rows[2][1].reason == "invalid_utf8"
    assert rows[3][1] == {"instruction": "b"}


def test_json_array_streams_in_small_chunks(tmp_path, monkeypatch):
    items = [{"instruction": f"task {i} 中文", "n": i} for i in range(200)] + [42, "s", None]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    monkeypatch.setattr(formats, "_CHUNK", 7)
    assert [obj for _, obj in iter_json_array(str(path))] == items
    assert sniff_format(str(path)) == "json"


def test_empty_json_array(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(" [ ] ")
    assert list(iter_json_array(str(path))) == []


@pytest.mark.parametrize("text", ['[{"a": 1}, {"a": ]', '[{"a": 1} {"a": 2}]', '[{"a": 1},', '{"a": 1}'])
def test_broken_json_array_names_the_file(tmp_path, text):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(FileError, match="broken.json"):
        list(iter_json_array(str(path)))


def test_parquet_rows(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"instruction": ["a", "b"], "output": ["x", None]}), path)
    assert [obj for _, obj in formats.iter_parquet(str(path))] == [
        {"instruction": "a", "output": "x"}, {"instruction": "b", "output": None}]


def test_not_parquet_is_a_file_error(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"nope")
    with pytest.raises(FileError, match="bad.parquet"):
        list(formats.iter_parquet(str(path)))


def test_row_error_is_not_a_record():
    assert not isinstance(RowError("x"), dict)
