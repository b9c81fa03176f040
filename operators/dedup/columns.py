"""Whole-column helpers of the dedup stage: node keys and exact keys with Arrow compute, binary
columns built from and read as flat numpy buffers, and exact Jaccard of many shingle-set pairs at
once. No Python object per shingle or per row.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import kernels, kernels_pairs
from operators.dedup.components import LIVE, _LINE_WIDTH, _MAX_LEN, _SEP, live_node, node_key
from operators.dedup.minhash import NO_SET, _within
from operators.dedup.text import _K1, _K2, _fmix64 as fmix64


def text_column(batch: pa.Table, name: str) -> pa.Array:
    if name not in batch.column_names:
        return pa.array([""] * batch.num_rows, pa.string())
    column = batch.column(name)
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return pc.fill_null(column.cast(pa.string()), "")


def node_keys(batch: pa.Table, keep: str) -> pa.Array:
    """`live_node(node_key(source, id, keep, output))` for every row, with Arrow compute."""
    source, ids = text_column(batch, "source"), text_column(batch, "id")
    # "path:line": split at the last colon (a split at an earlier one leaves a colon in the line)
    parts = pc.split_pattern(source, ":", max_splits=1, reverse=True)
    two = np.asarray(pc.equal(pc.list_value_length(parts), 2), dtype=bool)
    split = parts.filter(pa.array(two))
    rows = np.flatnonzero(two)
    path_part, line_part = (pc.fill_null(scatter(pc.list_element(split, k), rows, len(source)), "") for k in (0, 1))
    matched = pc.and_(pc.not_equal(path_part, ""), pc.match_substring_regex(line_part, "^[0-9]+$"))
    path = pc.if_else(matched, path_part, source)
    line = pc.utf8_ltrim(pc.if_else(matched, line_part, "0"), "0")
    line = pc.utf8_lpad(pc.if_else(pc.equal(line, ""), "0", line), _LINE_WIDTH, "0")
    head = pa.array([LIVE] * len(source), pa.string())
    if keep != "first":
        length = pc.min_element_wise(pc.utf8_length(text_column(batch, "output")), _MAX_LEN)
        rank = pc.utf8_lpad(pc.cast(pc.subtract(_MAX_LEN, length), pa.string()), _LINE_WIDTH, "0")
        head = pc.binary_join_element_wise(head, rank, "")
        head = pc.binary_join_element_wise(head, "", _SEP)
    keys = pc.binary_join_element_wise(pc.binary_join_element_wise(head, path, ""), line, ids, _SEP)
    odd = np.flatnonzero(~np.asarray(pc.string_is_ascii(source), dtype=bool))
    if len(odd):  # non-ASCII sources: Python's notion of a digit line number
        keys = keys.to_pylist()
        src, idl, out = source.to_pylist(), ids.to_pylist(), text_column(batch, "output").to_pylist()
        for i in odd.tolist():
            keys[i] = live_node(node_key(src[i], idl[i], keep, out[i]))
        keys = pa.array(keys, pa.string())
    return keys


def exact_keys(fields: list[pa.Array]) -> pa.Array:
    """24 bytes per row of normalised field texts: a 128-bit hash of the texts joined by \\x1f (the
    exact key) and a 64-bit hash of each field's numbers in order (the number key); see
    `text.exact_key` for the same function on one row."""
    texts = pc.binary_join_element_wise(*fields, "\x1f")
    numbers = [pc.utf8_trim(pc.replace_substring_regex(f, r"[^\p{Nd}]+", " "), " ") for f in fields]
    numbers = pc.binary_join_element_wise(*numbers, "\x1f")
    keys = np.empty((len(texts), 3), dtype=np.uint64)
    keys[:, 0], keys[:, 1] = _chunked_hash(*flat_binary(texts))
    keys[:, 2] = _chunked_hash(*flat_binary(numbers))[0]
    return binary_rows(keys.astype("<u8"), np.full(len(texts), 24))


def _chunked_hash(data, begin, end, chunk_bytes: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """bytes_hash128 over runs of rows of about chunk_bytes each, so every pass stays in cache."""
    if kernels.ENABLED:
        longest = int((end - begin).max(initial=0))
        return kernels.bytes_hash128(data, begin, end, _coefficients(1, longest), _coefficients(2, longest),
                                     np.uint64(_K2))
    first, second = np.empty(len(begin), np.uint64), np.empty(len(begin), np.uint64)
    cuts = np.searchsorted(np.cumsum(end - begin), np.arange(chunk_bytes, int((end - begin).sum()) + 1, chunk_bytes))
    edges = np.unique(np.concatenate(([0], cuts + 1, [len(begin)])).clip(0, len(begin)))
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist()):
        first[lo:hi], second[lo:hi] = bytes_hash128(data, begin[lo:hi], end[lo:hi])
    return first, second


_COEFFICIENTS: dict[int, np.ndarray] = {}


def _coefficients(salt: int, length: int) -> np.ndarray:
    """Odd pseudo-random 64-bit coefficient of every byte position (grown by doubling, cached)."""
    table = _COEFFICIENTS.get(salt)
    if table is None or len(table) < length:
        size = 1 << max(10, int(length - 1).bit_length())
        table = _COEFFICIENTS[salt] = fmix64(np.arange(size, dtype=np.uint64) * np.uint64(_K1) + np.uint64(salt)) | np.uint64(1)
    return table


def bytes_hash128(data: np.ndarray, begin: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of the bytes data[begin[i]:end[i]] of every row: sums of (byte + 1) times
    a pseudo-random odd coefficient of its position, one coefficient table per hash, mixed with
    the length; see `text.exact_key` for the same function on one row."""
    lens = end - begin
    if len(begin) and (begin[1:] == end[:-1]).all():  # rows back to back: no gather
        values = data[begin[0]:end[-1]]
    else:
        values = data[np.repeat(begin, lens) + _within(lens)]
    values = values.astype(np.uint64) + np.uint64(1)
    pos = _within(lens)
    ends = np.cumsum(lens)
    size = lens.astype(np.uint64) * np.uint64(_K2)
    out = []
    for salt in (1, 2):
        sums = np.concatenate((np.zeros(1, np.uint64), np.cumsum(values * _coefficients(salt, int(lens.max(initial=0)))[pos])))
        out.append(fmix64((sums[ends] - sums[ends - lens]) ^ size ^ np.uint64(salt)))
    return out[0], out[1]


def binary_rows(values: np.ndarray, row_bytes: np.ndarray) -> pa.Array:
    """A binary array whose row i is the next row_bytes[i] bytes of `values`."""
    offsets = np.concatenate(([0], np.cumsum(row_bytes))).astype(np.int32)
    data = np.ascontiguousarray(values).view(np.uint8)
    return pa.Array.from_buffers(pa.binary(), len(row_bytes), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def scatter(values: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    """Length-n array with values[i] at rows[i] and nulls elsewhere."""
    if len(rows) == n:  # rows are sorted and unique: all of them
        return values
    where = np.full(n, -1, dtype=np.int64)
    where[rows] = np.arange(len(rows))
    return values.take(pa.array(where, mask=where < 0))


def flat_binary(column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data buffer bytes, start and end offset of every row; end = start for a null row)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.type != pa.binary():
        arr = arr.cast(pa.binary())
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    valid = np.asarray(arr.is_valid(), dtype=bool)
    return data, offsets[:-1], np.where(valid, offsets[1:], offsets[:-1])


def fixed_rows(column, width: int) -> np.ndarray | None:
    """(rows, width) uint8 view of a binary column whose rows all have `width` bytes, else None."""
    data, begin, ends = flat_binary(column)
    if len(begin) and not ((ends - begin == width).all() and (np.diff(begin) == width).all()):
        return None
    first = int(begin[0]) if len(begin) else 0
    return data[first:first + width * len(begin)].reshape(len(begin), width)


def sets_column(per_field: list[tuple[np.ndarray, np.ndarray]]) -> pa.Array:
    """Binary rows of `fields x (uint32 length or NO_SET, set values)` from flat sets."""
    lens = np.stack([l for _, l in per_field], axis=1)  # (rows, fields), -1 = NO_SET
    if kernels.ENABLED:
        sizes = [len(values) for values, _ in per_field]
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        words, row_words = kernels.set_rows(np.ascontiguousarray(lens, np.int64),
                                            np.concatenate([v for v, _ in per_field]).astype(np.uint32),
                                            starts, NO_SET)
        return binary_rows(words, row_words * 4)
    sizes = 1 + np.maximum(lens, 0)
    row_len = sizes.sum(axis=1)
    out = np.empty(int(row_len.sum()), dtype=np.uint32)
    pos = np.concatenate(([0], np.cumsum(row_len)[:-1])) + np.cumsum(sizes, axis=1).T - sizes.T
    for f, (values, flen) in enumerate(per_field):
        out[pos[f]] = np.where(flen < 0, NO_SET, flen).astype(np.uint32)
        size = np.maximum(flen, 0)
        out[np.repeat(pos[f] + 1, size) + _within(size)] = values
    return binary_rows(out, row_len * 4)


def parse_set_column(column, num_fields: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint32 data, value starts (rows, fields), lengths (rows, fields); -1: no set or null row)."""
    data, begin, ends = flat_binary(column)
    rows = len(ends)
    words = np.frombuffer(data[:len(data) // 4 * 4].tobytes(), dtype=np.uint32) if len(data) else \
        np.empty(0, np.uint32)
    pos = begin // 4
    end = ends // 4
    vstart = np.zeros((rows, num_fields), np.int64)
    lens = np.full((rows, num_fields), -1, np.int64)
    for f in range(num_fields):
        ok = pos < end
        head = np.where(ok, words[np.minimum(pos, max(len(words) - 1, 0))], NO_SET) if len(words) else \
            np.full(rows, NO_SET, np.uint32)
        has = ok & (head != NO_SET)
        lens[has, f] = head[has]
        vstart[:, f] = pos + 1
        pos = pos + 1 + np.where(has, head, 0).astype(np.int64)
    return words, vstart, lens


def pair_jaccard(sets_a, sets_b, num_fields: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Jaccard per (pair, field) of two set columns and a mask of where both sides have a set.
    A stored set may repeat values (shingles in text order); each side is de-duplicated here."""
    wa, sa, la = parse_set_column(sets_a, num_fields)
    wb, sb, lb = parse_set_column(sets_b, num_fields)
    if kernels.ENABLED:
        jac, has = kernels_pairs.pair_jaccard(wa, sa.ravel(), la.ravel(), wb, sb.ravel(), lb.ravel())
        return jac.reshape(la.shape), has.reshape(la.shape)
    return _pair_jaccard_numpy(wa, sa, la, wb, sb, lb)


def _pair_jaccard_numpy(wa, sa, la, wb, sb, lb) -> tuple[np.ndarray, np.ndarray]:
    has = (la >= 0) & (lb >= 0)
    seg = np.flatnonzero(has.ravel())
    ids = np.arange(len(seg), dtype=np.uint64) << np.uint64(32)
    sides = []
    for words, starts, lens in ((wa, sa, la), (wb, sb, lb)):
        size = lens.ravel()[seg]
        keys = np.repeat(ids, size) | words[np.repeat(starts.ravel()[seg], size) + _within(size)].astype(np.uint64)
        keys.sort()  # (numpy's hash-based np.unique is far slower on these keys)
        sides.append(keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys)
    (ka, kb), size = sides, len(seg)
    na, nb = (np.bincount((k >> np.uint64(32)).astype(np.int64), minlength=size) for k in sides)
    at = np.minimum(np.searchsorted(kb, ka), max(len(kb) - 1, 0))
    same = ka[kb[at] == ka] >> np.uint64(32) if len(kb) else np.empty(0, np.uint64)
    inter = np.bincount(same.astype(np.int64), minlength=size)
    union = na + nb - inter
    jac = np.zeros(has.size)
    jac[seg] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return jac.reshape(has.shape), has
