"""The per-batch steps of the dedup stage as pure pyarrow functions (testable without Ray).

prepare  : live rows -> node key, exact key, signature, shingle sets (whole-column numpy/Arrow
           work, see minhash.py and columns.py); empty key text -> reject `empty_text`
verify   : candidate pairs with both signatures -> edges whose every field reaches the threshold
           (grouping into candidate pairs: graph.py)
mark     : rows + removal table -> rejects with reason/detail/stage, internal columns dropped
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.base import rejected_mask
from operators.dedup.columns import (binary_rows, exact_keys, fixed_rows, node_keys, pair_jaccard,
                                     scatter, sets_column, text_column)
from operators.dedup.minhash import MinHasher, minhash_and_sets
from operators.dedup.text import normalize_batch
from operators.schema import DETAIL, REASON, STAGE

NODE, EXACT, SIG, SETS = "_dd_node", "_dd_exact", "_dd_sig", "_dd_sets"
INTERNAL = (NODE, EXACT, SIG, SETS)
INTERNAL_TYPES = {NODE: pa.string(), EXACT: pa.binary(), SIG: pa.binary(), SETS: pa.binary()}
SET_LIMIT = 4096  # shingles per field kept for exact verification; longer fields use the estimate
PAIR_SCHEMA = pa.schema([("a", pa.string()), ("b", pa.string()), ("exact", pa.bool_()),
                         ("verified", pa.bool_()), ("similarity", pa.float64())])


def key_columns(batch: pa.Table, fields: tuple[str, ...], combined: bool) -> list[pa.Array]:
    """Normalised key texts, one string array per signed field (one field when `combined`)."""
    per_field = []
    for name in fields:
        raw = text_column(batch, name)
        norm = _normalized(raw)
        # text made only of symbols/punctuation still differs from an empty field
        stripped = pc.utf8_trim_whitespace(raw)
        symbols = pc.and_(pc.equal(norm, ""), pc.not_equal(stripped, ""))
        per_field.append(pc.if_else(symbols, pc.utf8_lower(stripped), norm))
    if combined:
        rows = zip(*(column.to_pylist() for column in per_field))
        return [pa.array([" ".join(t for t in parts if t) for parts in rows], pa.string())]
    return per_field


def _normalized(raw: pa.Array) -> pa.Array:
    """`normalize_batch` of a string column, skipping its empty values (e.g. most inputs)."""
    filled = np.flatnonzero(np.asarray(pc.not_equal(raw, ""), dtype=bool))
    if len(filled) == len(raw):
        return pa.array(normalize_batch(raw.to_pylist()), pa.string())
    texts = pa.array(normalize_batch(raw.take(pa.array(filled, pa.int64())).to_pylist()), pa.string())
    return pc.fill_null(scatter(texts, filled, len(raw)), "")


def _set_rows(batch: pa.Table, name: str, rows: np.ndarray, value) -> pa.Table:
    mask = np.zeros(batch.num_rows, dtype=bool)
    mask[rows] = True
    column = pc.if_else(pa.array(mask), pa.scalar(value, pa.string()), batch.column(name))
    return batch.set_column(batch.schema.get_field_index(name), name, column)


def prepare(batch: pa.Table, *, fields, combined, hasher: MinHasher, keep: str, stage: str) -> pa.Table:
    live = np.asarray(pc.invert(rejected_mask(batch)))
    for name in (REASON, DETAIL, STAGE):
        if name not in batch.column_names:
            batch = batch.append_column(name, pa.nulls(batch.num_rows, pa.string()))
    n = batch.num_rows
    idx = np.flatnonzero(live)
    sub = batch if len(idx) == n else batch.take(pa.array(idx, pa.int64()))
    texts = key_columns(sub, fields, combined)
    empty = np.ones(len(idx), dtype=bool)
    for column in texts:
        empty &= np.asarray(pc.equal(column, ""), dtype=bool)
    signed = idx[~empty]
    columns = {NODE: pa.nulls(n, pa.string()), EXACT: pa.nulls(n, pa.binary()),
               SIG: pa.nulls(n, pa.binary()), SETS: pa.nulls(n, pa.binary())}
    if len(signed):
        if empty.any():
            keep_rows = pa.array(np.flatnonzero(~empty), pa.int64())
            texts, sub = [column.take(keep_rows) for column in texts], sub.take(keep_rows)
        sigs, field_sets = [], []
        for column in texts:
            hashes, counts = hasher.shingle_hashes(column.to_pylist())
            sig, values, lens = minhash_and_sets(hashes, counts, hasher.num_perm, hasher.seed, SET_LIMIT)
            sigs.append(sig)
            field_sets.append((values, lens))
        sig = np.stack(sigs, axis=1)
        columns[NODE] = scatter(node_keys(sub, keep), signed, n)
        columns[EXACT] = scatter(exact_keys(texts), signed, n)
        columns[SIG] = scatter(binary_rows(sig, np.full(len(signed), sig[0].nbytes)), signed, n)
        columns[SETS] = scatter(sets_column(field_sets), signed, n)
    if empty.any():
        batch = _set_rows(_set_rows(batch, REASON, idx[empty], "empty_text"), STAGE, idx[empty], stage)
    for name, column in columns.items():
        batch = batch.append_column(name, column)
    return batch


def signatures(sig_column, num_fields: int, num_perm: int) -> np.ndarray:
    """(rows, fields, num_perm) uint32 from the binary signature column."""
    rows = fixed_rows(sig_column, num_fields * num_perm * 4)
    if rows is None:
        rows = np.frombuffer(b"".join(sig_column.to_pylist()), dtype=np.uint8).reshape(-1, num_fields * num_perm * 4)
    return rows.view("<u4").reshape(-1, num_fields, num_perm)


def exact_matrix(exact_column) -> np.ndarray:
    """(rows, 3) uint64: the 16-byte exact key and the 8-byte number key of every row."""
    rows = fixed_rows(exact_column, 24)
    if rows is None:
        rows = np.frombuffer(b"".join(exact_column.to_pylist()), dtype=np.uint8).reshape(-1, 24)
    return rows.view("<u8")


def verify(batch: pa.Table, *, threshold: float, num_fields: int, num_perm: int,
           exact_a: str = "exact_a", exact_b: str = "exact_b", numbers: bool = True) -> pa.Table:
    """Keep candidate pairs whose Jaccard reaches `threshold` in every field: exact Jaccard of the
    shingle-hash sets where both rows carry them, the signature estimate otherwise. With `numbers`,
    both rows must also contain the same numbers in the same order."""
    if not batch.num_rows:
        return PAIR_SCHEMA.empty_table()
    left = signatures(batch.column("sig_a"), num_fields, num_perm)
    right = signatures(batch.column("sig_b"), num_fields, num_perm)
    per_field = (left == right).mean(axis=2)
    if "sets_a" in batch.column_names:
        exact_jaccard, has = pair_jaccard(batch.column("sets_a"), batch.column("sets_b"), num_fields)
        per_field = np.where(has, exact_jaccard, per_field)
    similarity = per_field.min(axis=1)
    ok = similarity >= threshold - 1e-9
    keys_a, keys_b = exact_matrix(batch.column(exact_a)), exact_matrix(batch.column(exact_b))
    same = (keys_a[:, :2] == keys_b[:, :2]).all(axis=1)
    if numbers:  # tasks that differ in their numbers are different tasks
        ok &= keys_a[:, 2] == keys_b[:, 2]
    mask = pa.array(ok)
    return pa.table({"a": batch.column("a").filter(mask), "b": batch.column("b").filter(mask),
                     "exact": pa.array(same[ok], pa.bool_()),
                     "verified": pa.array(np.ones(int(ok.sum()), bool)),
                     "similarity": pa.array(np.round(similarity[ok], 4))}, schema=PAIR_SCHEMA)


def removal_table(removals) -> pa.Table:
    from operators.dedup.components import node_id
    details = []
    for r in removals:
        detail = {"duplicate_of": node_id(r.keeper), "similarity": round(float(r.similarity), 4)}
        if r.via:
            detail["via"] = node_id(r.via)
        details.append(json.dumps(detail, ensure_ascii=False, sort_keys=True))
    return pa.table({"node": pa.array([r.node for r in removals], pa.string()),
                     "reason": pa.array([r.reason for r in removals], pa.string()),
                     "detail": pa.array(details, pa.string())})


def mark(batch: pa.Table, removed: pa.Table, stage: str) -> pa.Table:
    """Reject the rows listed in `removed` (node, reason, detail); drop the internal columns."""
    pos = pc.index_in(batch.column(NODE), value_set=removed.column("node"))
    hit = pc.is_valid(pos)
    for name, values in ((REASON, removed.column("reason").take(pos)),
                         (DETAIL, removed.column("detail").take(pos)),
                         (STAGE, pa.scalar(stage, pa.string()))):
        column = pc.if_else(hit, values, batch.column(name))
        batch = batch.set_column(batch.schema.get_field_index(name), name, column)
    return batch.drop_columns([c for c in INTERNAL if c in batch.column_names])
