"""The in-process dedup (benchmark, quality test, small jobs): batch size and empty rows change nothing."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import local
from operators.dedup.stage import Dedup, DedupConfig
from tests.operators.dedup.dedup_corpus import instructions, table


def kept_and_removed(out: pa.Table) -> tuple[list, list]:
    removed = pc.is_valid(out.column("reason"))
    return (out.filter(pc.invert(removed)).column("id").to_pylist(),
            sorted(zip(out.filter(removed).column("id").to_pylist(),
                       out.filter(removed).column("reason").to_pylist())))


def test_batch_rows_and_empty_rows_do_not_change_the_result():
    texts = instructions(1500, seed=11)
    texts[::97] = ["   "] * len(texts[::97])  # empty key text: rejected, never a duplicate
    data = table(texts)
    op = Dedup(DedupConfig(fields=("instruction",)))
    one, edges_one = local.dedup_table(op, data, batch_rows=10_000)
    many, edges_many = local.dedup_table(op, data, batch_rows=128)
    assert kept_and_removed(one) == kept_and_removed(many)
    assert sorted(edges_one) == sorted(edges_many)
    reasons = [reason for _, reason in kept_and_removed(one)[1]]
    assert reasons.count("empty_text") == len(texts[::97])
    assert "near_duplicate" in reasons and "exact_duplicate" in reasons
    assert one.num_rows == data.num_rows
