"""The dedup stage when upstream stages left it nothing (or one row) to compare."""
import pyarrow as pa
import ray
import pytest

from operators.base import StageContext, run_operator
from operators.dedup.stage import Dedup
from operators.normalize import Normalize
from operators.schema import make_record, records_to_table
from pipelines.engine import RayEngine

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.mark.parametrize("texts", [["", " "], ["only one", ""]])
def test_all_or_all_but_one_rejected_upstream(texts):
    import ray.data
    table, _ = run_operator(Normalize(), records_to_table(
        [make_record(t, source=f"f:{i}") for i, t in enumerate(texts)]))
    out = Dedup(context=StageContext(stage="dedup")).apply(ray.data.from_arrow(table), RayEngine())
    rows = pa.concat_tables([ray.get(r) for r in out.to_arrow_refs()], promote_options="permissive").to_pylist()
    assert len(rows) == len(texts)
    assert sorted(r["reason"] or "" for r in rows) == sorted("empty_instruction" if not t.strip() else "" for t in texts)
