"""The per-batch steps of the dedup stage as pure pyarrow functions (testable without Ray).

prepare  : live rows -> node key, exact key, signature, shingle sets (whole-column numpy/Arrow
           work, see minhash.py and columns.py); empty key text -> reject `empty_text`
buckets  : signed nodes -> one row per (band key | exact bucket)
pairs    : one bucket -> exact edges (star on the first row) + candidate pairs between exact classes
verify   : candidate pairs with both signatures -> edges whose every field reaches the threshold
mark     : rows + removal table -> rejects with reason/detail/stage, internal columns dropped
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.base import rejected_mask
from operators.dedup.components import is_pinned
from operators.dedup.lsh import band_keys
from operators.dedup.columns import (binary_rows, exact_keys, fixed_rows, node_keys, pair_jaccard,
                                     scatter, sets_column, text_column)
from operators.dedup.minhash import MinHasher, minhash_and_sets
from operators.dedup.text import normalize_batch
from operators.schema import DETAIL, REASON, STAGE

NODE, EXACT, SIG, SETS = "_dd_node", "_dd_exact", "_dd_sig", "_dd_sets"
INTERNAL = (NODE, EXACT, SIG, SETS)
SET_LIMIT = 4096  # shingles per field kept for exact verification; longer fields use the estimate
EXACT_BAND = -1
LOOKUP_SCHEMA = pa.schema([("k", pa.string()), ("a", pa.string()), ("b", pa.string()),
                           ("sig_a", pa.binary()), ("sets_a", pa.binary()), ("exact", pa.binary()),
                           ("sig", pa.binary()), ("sets", pa.binary())])
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


def buckets(nodes: pa.Table, *, bands: int, rows: int, num_fields: int, num_perm: int,
            exact: bool, near: bool) -> pa.Table:
    """One row per (node, band) plus one per node for its exact bucket: bucket, band, node, exact."""
    parts = []
    names, exact_keys = nodes.column(NODE), nodes.column(EXACT)
    if near and nodes.num_rows:
        keys = band_keys(signatures(nodes.column(SIG), num_fields, num_perm), bands, rows)
        take = pa.array(np.repeat(np.arange(nodes.num_rows), bands), pa.int64())
        parts.append(pa.table({"bucket": pa.array(keys.reshape(-1).view(np.int64)),
                               "band": pa.array(np.tile(np.arange(bands, dtype=np.int16), nodes.num_rows)),
                               "node": names.take(take), "exact": exact_keys.take(take)}))
    if exact and nodes.num_rows:
        parts.append(pa.table({"bucket": pa.array(exact_matrix(exact_keys)[:, 0].view(np.int64)),
                               "band": pa.array(np.full(nodes.num_rows, EXACT_BAND, np.int16)),
                               "node": names, "exact": exact_keys}))
    if not parts:
        return pa.table({"bucket": pa.array([], pa.int64()), "band": pa.array([], pa.int16()),
                         "node": pa.array([], pa.string()), "exact": pa.array([], pa.binary())})
    return pa.concat_tables(parts)


def pairs(group: pa.Table, *, exact: bool, max_bucket: int, window: int) -> pa.Table:
    """Edges from one bucket. Exact bucket: star edges inside each exact class. Band bucket:
    candidate pairs between exact-class representatives (all pairs up to `max_bucket`
    representatives, beyond that each with its `window` successors and with the first)."""
    rows = sorted(zip(group.column("node").to_pylist(), group.column("exact").to_pylist()))
    is_exact_bucket = group.column("band")[0].as_py() == EXACT_BAND
    out_a, out_b, out_exact, out_verified = [], [], [], []
    firsts: dict[bytes, str] = {}
    reps: list[str] = []
    for node, key in rows:
        key = key[:16]
        first = firsts.get(key) if exact else None
        if first is None:
            firsts[key] = node
            reps.append(node)
        elif is_exact_bucket and not (is_pinned(first) and is_pinned(node)):
            out_a.append(first), out_b.append(node), out_exact.append(True), out_verified.append(True)
    if not is_exact_bucket:
        n = len(reps)
        for i in range(n):
            stop = n if n <= max_bucket else min(n, i + 1 + window)
            others = range(i + 1, stop) if i or n <= max_bucket else range(1, n)
            for j in others:
                if not (is_pinned(reps[i]) and is_pinned(reps[j])):
                    out_a.append(reps[i]), out_b.append(reps[j])
                    out_exact.append(False), out_verified.append(False)
    return pa.table([pa.array(out_a, pa.string()), pa.array(out_b, pa.string()),
                     pa.array(out_exact, pa.bool_()), pa.array(out_verified, pa.bool_()),
                     pa.array([1.0 if v else None for v in out_verified], pa.float64())],
                    schema=PAIR_SCHEMA)


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


def side_rows(batch: pa.Table, *, side: str) -> pa.Table:
    """Rows for the signature lookup of one pair side: key = that side's node, sig column null."""
    n = batch.num_rows
    cols = {"k": batch.column(side)}
    for name in LOOKUP_SCHEMA.names[1:]:
        cols[name] = batch.column(name) if name in batch.column_names else pa.nulls(n, LOOKUP_SCHEMA.field(name).type)
    return pa.table(cols, schema=LOOKUP_SCHEMA)


def sig_rows(batch: pa.Table, *, wanted=None) -> pa.Table:
    """Signature rows (k = node) for the nodes in `wanted` (an ObjectRef or set), for the lookup."""
    import ray
    wanted = ray.get(wanted) if isinstance(wanted, ray.ObjectRef) else wanted
    if wanted is not None:
        keep = [n in wanted for n in batch.column(NODE).to_pylist()]
        batch = batch.filter(pa.array(keep, pa.bool_()))
    n = batch.num_rows
    return pa.table({"k": batch.column(NODE), "a": pa.nulls(n, pa.string()), "b": pa.nulls(n, pa.string()),
                     "sig_a": pa.nulls(n, pa.binary()), "sets_a": pa.nulls(n, pa.binary()),
                     "exact": batch.column(EXACT), "sig": batch.column(SIG), "sets": batch.column(SETS)},
                    schema=LOOKUP_SCHEMA)


def attach(group: pa.Table, *, side: str, **verify_args) -> pa.Table:
    """One lookup group (a node's signature row + the pairs naming it): fill in the signature.
    Side "a": pairs come out with `sig_a`/`exact`; side "b": they are verified (see `verify`)."""
    is_sig = pc.is_null(group.column("a")).to_numpy(zero_copy_only=False)
    own = np.flatnonzero(is_sig)
    pairs_ = group.filter(pa.array(~is_sig))
    if not len(own) or not pairs_.num_rows:
        return LOOKUP_SCHEMA.empty_table() if side == "a" else PAIR_SCHEMA.empty_table()
    first = int(own[0])
    sig, key, sets = (group.column(c)[first].as_py() for c in ("sig", "exact", "sets"))
    n = pairs_.num_rows
    if side == "a":
        return pa.table({"k": pairs_.column("b"), "a": pairs_.column("a"), "b": pairs_.column("b"),
                         "sig_a": pa.array([sig] * n, pa.binary()), "sets_a": pa.array([sets] * n, pa.binary()),
                         "exact": pa.array([key] * n, pa.binary()), "sig": pa.nulls(n, pa.binary()),
                         "sets": pa.nulls(n, pa.binary())}, schema=LOOKUP_SCHEMA)
    both = pa.table({"a": pairs_.column("a"), "b": pairs_.column("b"), "sig_a": pairs_.column("sig_a"),
                     "sig_b": pa.array([sig] * n, pa.binary()), "exact_a": pairs_.column("exact"),
                     "exact_b": pa.array([key] * n, pa.binary()), "sets_a": pairs_.column("sets_a"),
                     "sets_b": pa.array([sets] * n, pa.binary())})
    return verify(both, **verify_args)


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
