import pyarrow as pa
import pytest

from operators.base import ContractError, Operator, run_operator, split_live
from operators.normalize import Normalize
from operators.schema import make_record, records_to_table


def table(*texts):
    return records_to_table([make_record(t, source=f"f:{i}") for i, t in enumerate(texts)])


class DropsRows(Operator):
    name = "drops"

    def __call__(self, batch):
        return batch.slice(0, batch.num_rows - 1)


class InventsRows(Operator):
    name = "invents"

    def __call__(self, batch):
        return batch.set_column(batch.schema.get_field_index("source"), "source",
                                pa.array(["other"] * batch.num_rows))


def test_rejects_are_stamped_and_counted():
    out, count = run_operator(Normalize(), table("a", "  ", "b"))
    assert (count.rows_in, count.rows_out, count.rejected) == (3, 2, 1)
    assert dict(count.reasons) == {"empty_instruction": 1}
    rejected = out.filter(pa.compute.is_valid(out.column("reason")))
    assert rejected.column("stage").to_pylist() == ["normalize"]


def test_earlier_rejects_pass_through_untouched_and_uncounted():
    first, _ = run_operator(Normalize(), table("a", "", "b"))
    second, count = run_operator(Normalize(), first)
    assert second.num_rows == 3
    assert (count.rows_in, count.rows_out, count.rejected) == (2, 2, 0)
    live, earlier = split_live(second)
    assert earlier.column("stage").to_pylist() == ["normalize"]
    assert live.num_rows == 2


@pytest.mark.parametrize("op", [DropsRows(), InventsRows()])
def test_contract_violations_raise(op):
    with pytest.raises(ContractError):
        run_operator(op, table("a", "b"))


def test_empty_batch_is_fine():
    out, count = run_operator(Normalize(), table("a").slice(0, 0))
    assert out.num_rows == 0 and count.rows_in == 0
