"""Whole-column helpers equal their one-row reference functions (no Ray)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from operators.dedup import batches
from operators.dedup.columns import exact_keys, node_keys, pair_jaccard, parse_set_column, sets_column
from operators.dedup.components import live_node, node_key
from operators.dedup.minhash import MinHasher, fmix32, minhash_and_sets, set_jaccard
from operators.dedup.text import exact_key, normalize_batch

SOURCES = ["a.jsonl:12", "b:c.jsonl:007", "x:1:b", ":5", "", None, "p:", "dir/ü.json:3", "p:0000000000000042",
           "::5", "a:+5", "a: 5", "p:q:r:", "a:١٢", "no colon"]


def test_node_keys_equal_reference():
    n = len(SOURCES)
    t = pa.table({"id": [f"id{i}" for i in range(n)], "source": SOURCES,
                  "output": ["o" * i if i % 3 else None for i in range(n)]})
    for keep in ("first", "longest_output"):
        want = [live_node(node_key(s, f"id{i}", keep, t.column("output")[i].as_py())) for i, s in enumerate(SOURCES)]
        assert node_keys(t, keep).to_pylist() == want


def test_exact_keys_equal_reference():
    a = normalize_batch(["Median of 2, 5, 4, 7", "Median of 2 5 4 7!", "数 12 与 3", "", "x"])
    b = normalize_batch(["", "", "四 5", "only input 9", "y"])
    got = exact_keys([pa.array(a), pa.array(b)]).to_pylist()
    assert got == [exact_key([x, y]) for x, y in zip(a, b)]
    assert got[0] == got[1]


def test_flat_sets_and_pair_jaccard_equal_reference():
    texts = normalize_batch(["give three tips for staying healthy", "give three tips for staying fit",
                             "ab", "", "x" * 50])
    hashes, counts = MinHasher().shingle_hashes(texts)
    _, values, lens = minhash_and_sets(hashes, counts, 128, 1, limit=30)
    assert lens[4] == -1 and lens[3] == 0 and lens[2] == 1 and lens[1] == counts[1]
    column = sets_column([(values, lens), (values, lens)])
    words, starts, got_lens = parse_set_column(column, 2)
    assert (got_lens[:, 0] == lens).all() and (got_lens[:, 1] == lens).all()
    sets, pos = [], 0
    for count in counts.tolist():
        sets.append(np.unique(fmix32(hashes[pos:pos + count].astype(np.uint32))))
        pos += count
    left, right = [0, 0, 1, 2, 3], [1, 2, 2, 4, 3]
    jac, has = pair_jaccard(column.take(pa.array(left)), column.take(pa.array(right)), 2)
    for row, (i, j) in enumerate(zip(left, right)):
        if lens[i] >= 0 and lens[j] >= 0:
            assert has[row].all() and jac[row, 0] == set_jaccard(sets[i], sets[j]) == jac[row, 1]
        else:
            assert not has[row].any()


def test_signature_column_round_trips():
    sig = MinHasher().sign(["one", "two", "three"])
    t = pa.table({"id": ["1", "2", "3"], "instruction": ["one", "two", "three"]})
    out = batches.prepare(t, fields=("instruction",), combined=False, hasher=MinHasher(), keep="first",
                          stage="dedup")
    assert np.array_equal(batches.signatures(out.column(batches.SIG), 1, 128)[:, 0], sig)
