from collections import Counter

import pytest

from pipelines.accounting import AccountingError, verify

GOOD = {"read": {"in": 10, "out": 9, "rejected": 1, "reasons": {"malformed_json": 1}},
        "normalize": {"in": 9, "out": 7, "rejected": 2, "reasons": {"empty_instruction": 2}}}


def test_balanced_run_passes():
    stages = verify(["read", "normalize"], GOOD, 7, Counter({"read": 1, "normalize": 2}))
    assert [s["name"] for s in stages] == ["read", "normalize"]


@pytest.mark.parametrize("written,rejects,match", [
    (6, Counter({"read": 1, "normalize": 2}), "6 were written"),
    (7, Counter({"read": 1, "normalize": 1}), "reject rows were written"),
    (7, Counter({"read": 1, "normalize": 2, "ghost": 1}), "unknown stages"),
])
def test_imbalance_fails_loudly(written, rejects, match):
    with pytest.raises(AccountingError, match=match):
        verify(["read", "normalize"], GOOD, written, rejects)


def test_chain_break_is_caught():
    broken = {**GOOD, "normalize": {"in": 8, "out": 6, "rejected": 2, "reasons": {"empty_instruction": 2}}}
    with pytest.raises(AccountingError, match="stage before put out 9"):
        verify(["read", "normalize"], broken, 6, Counter({"read": 1, "normalize": 2}))
