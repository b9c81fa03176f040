"""The compiled kernels compute exactly what their numpy twins compute."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from operators.dedup import columns, graph, kernels, lsh, minhash, text

pytestmark = pytest.mark.skipif(not kernels.ENABLED, reason="numba kernels disabled")


@pytest.fixture
def numpy_twins(monkeypatch):
    """Call `run` once with the kernels and once with the numpy twins; return both results."""
    def both(run):
        fast = run()
        monkeypatch.setattr(kernels, "ENABLED", False)
        slow = run()
        monkeypatch.setattr(kernels, "ENABLED", True)
        return fast, slow
    return both


def _docs(rng, count=400, longest=300, alphabet=70000):
    lengths = rng.integers(0, longest, count)
    lengths[:6] = [0, 1, 4, 5, 6, 5000]  # empty, shorter than n, exactly n, one over a chunk
    return rng.integers(0, alphabet, int(lengths.sum())).astype(np.uint64), lengths


@pytest.mark.parametrize("n", [1, 3, 5])
def test_shingle_hashes(n):
    units, lengths = _docs(np.random.default_rng(n))
    fast, slow = kernels.shingle_hashes(units, lengths, n), text.hash_units_numpy(units, lengths, n)
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])


@pytest.mark.parametrize("num_perm,limit", [(128, 0), (128, 30), (128, 4096), (64, 4096), (7, 10)])
def test_minhash_and_sets(num_perm, limit, numpy_twins):
    hashes, counts = text.hash_units_numpy(*_docs(np.random.default_rng(num_perm + limit)), 5)
    fast, slow = numpy_twins(lambda: minhash.minhash_and_sets(hashes, counts, num_perm, 1, limit))
    for got, want in zip(fast, slow):
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("fields,bands,rows", [(1, 20, 6), (2, 9, 7), (3, 25, 5)])
def test_band_keys(fields, bands, rows, numpy_twins):
    sig = np.random.default_rng(fields).integers(0, 2 ** 32, (300, fields, 128), dtype=np.uint64).astype(np.uint32)
    fast, slow = numpy_twins(lambda: lsh.band_keys(sig, bands, rows))
    assert np.array_equal(fast, slow)


def test_exact_key_hash(numpy_twins):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, 60000).astype(np.uint8)
    begin = np.sort(rng.integers(0, 50000, 700))
    end = begin + rng.integers(0, 5000, 700) * (rng.random(700) < 0.9)
    fast, slow = numpy_twins(lambda: columns._chunked_hash(data, begin, end))
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])


def _set_column(rng, fields=2, rows=800, longest=40):
    per_field = []
    for _ in range(fields):
        lens = rng.integers(-1, longest, rows)
        per_field.append((rng.integers(0, 50, int(np.maximum(lens, 0).sum())).astype(np.uint32), lens))
    return per_field


@pytest.mark.parametrize("longest", [40, 400])  # short sets are insertion-sorted, long ones not
def test_set_rows_and_pair_jaccard(longest, numpy_twins):
    rng = np.random.default_rng(9)
    per_field = _set_column(rng, longest=longest)
    sets, slow = numpy_twins(lambda: columns.sets_column(per_field))
    assert sets.equals(slow)
    left, right = (pa.array(rng.integers(0, 800, 3000)) for _ in range(2))
    fast, slow = numpy_twins(lambda: columns.pair_jaccard(sets.take(left), sets.take(right), 2))
    assert np.array_equal(fast[1], slow[1]) and np.array_equal(fast[0], slow[0])


def test_bucket_pairs(numpy_twins):
    rng = np.random.default_rng(11)
    for trial in range(200):
        size = int(rng.integers(1, 400))
        keys = rng.integers(0, int(rng.integers(1, 60)), size).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        ranks = rng.choice(5 * size, size, replace=False).astype(np.int64)
        bucket, window = int(rng.integers(2, 20)), int(rng.integers(1, 6))
        fast, slow = numpy_twins(lambda: graph.group_pairs(keys, ranks, bucket, window))
        assert set(map(tuple, fast.tolist())) == set(map(tuple, slow.tolist())), trial
