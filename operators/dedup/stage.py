"""The global `dedup` stage: exact + MinHash-LSH near-duplicate removal over the whole dataset.

apply(ds):
1. `prepare` on every block (Ray tasks): normalise, sign, exact key, node key; empty -> reject.
   The result is materialised once, so upstream stages never run twice.
2. Signed rows (plus rows of earlier releases' indexes, `against`) become bucket rows: one per
   LSH band and one for the exact key; Ray Data groups them by bucket (`groupby().map_groups`).
3. Each bucket yields exact edges and candidate pairs; candidates are joined with both
   signatures (`Dataset.join`) and kept only if every key field reaches the threshold.
4. The driver collects the verified edges only (ids, no texts), runs union-find and picks the
   smallest node key of each component as keeper (input order; see components.py).
5. A last map over the materialised rows marks removed rows `exact_duplicate`/`near_duplicate`.
Rows rejected by earlier stages pass through untouched; every row comes out exactly once.
"""
from __future__ import annotations

import logging
import time
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from operators.base import Operator, OperatorConfig
from operators.dedup import batches
from operators.dedup.components import Edge
from operators.dedup.removals import removal_table
from operators import storage
from operators.dedup.index import EXACT_KEY_VERSION, INDEX_DIRNAME, INDEX_SCHEMA, index_uri_for, write_index
from operators.dedup.lsh import lsh_params
from operators.dedup.minhash import MinHasher
from operators.dedup.release import index_rows, load_releases
from operators.registry import register

log = logging.getLogger(__name__)


class DedupConfig(OperatorConfig):
    fields: tuple[str, ...] = ("instruction", "input")
    combined: bool = False  # False: every field must be a near-duplicate; True: fields joined
    exact: bool = True
    near: bool = True
    numbers: bool = True  # near-duplicates must contain the same numbers in the same order
    threshold: float = Field(0.7, gt=0, le=1)
    num_perm: int = Field(128, ge=8, le=1024)
    seed: int = 1
    ngram: int = Field(5, ge=1, le=32)
    unit: Literal["char", "word"] = "char"
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    keep: Literal["first", "longest_output"] = "first"
    against: tuple[str, ...] = ()  # URIs of earlier releases' dedup indexes
    max_bucket: int = Field(64, ge=2)  # representatives above which a bucket is paired by window
    window: int = Field(32, ge=1)
    batch_size: int = Field(4096, ge=1)
    num_partitions: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self):
        if not self.fields:
            raise ValueError("fields must name at least one column")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        return self


@register
class Dedup(Operator):
    name = "dedup"
    Config = DedupConfig
    kind = "global"
    input_columns = ("id", "instruction")
    output_columns = ()

    def __init__(self, config=None, context=None):
        super().__init__(config, context)
        cfg = self.config
        self.hasher = MinHasher(cfg.num_perm, cfg.seed, cfg.ngram, cfg.unit)
        self.num_fields = 1 if cfg.combined else len(cfg.fields)
        self.bands, self.rows = lsh_params(cfg.threshold, cfg.num_perm, self.num_fields, cfg.bands, cfg.rows)
        self.removed: pa.Table | None = None
        self._nodes = None

    @property
    def params(self) -> dict:
        cfg = self.config
        return {"num_perm": cfg.num_perm, "seed": cfg.seed, "ngram": cfg.ngram, "unit": cfg.unit,
                "fields": list(cfg.fields), "combined": cfg.combined, "bands": self.bands,
                "rows": self.rows, "threshold": cfg.threshold, "scheme": "affine32", "exact_key": EXACT_KEY_VERSION}

    def __call__(self, batch: pa.Table) -> pa.Table:
        raise TypeError("dedup is a global stage: use apply(dataset)")

    def apply(self, ds):
        import ray
        cfg = self.config
        prep = ds.map_batches(batches.prepare, batch_format="pyarrow", batch_size=cfg.batch_size,
                              fn_kwargs={"fields": cfg.fields, "combined": cfg.combined,
                                         "hasher": self.hasher, "keep": cfg.keep, "stage": self.stage})
        started = time.perf_counter()
        prep = prep.materialize()
        nodes = prep.map_batches(_signed_nodes, batch_format="pyarrow").materialize()
        log.info("dedup: signed %d rows in %.1fs", nodes.count(), time.perf_counter() - started)
        self._nodes = nodes
        releases, stored_edges = load_releases(cfg.against, self.params)
        everything = nodes.union(*releases) if releases else nodes
        edges = stored_edges + self._edges(everything, nodes.count() + sum(r.count() for r in releases))
        self.removed = removal_table(edges)
        log.info("dedup: %d verified edges, %d rows removed, %.1fs", len(edges), self.removed.num_rows,
                 time.perf_counter() - started)
        removed_ref = ray.put(self.removed)
        return prep.map_batches(_mark, batch_format="pyarrow",
                                fn_kwargs={"removed": removed_ref, "stage": self.stage})

    def _partitions(self, rows: int) -> int:
        return self.config.num_partitions or max(1, min(64, rows // 50_000 + 1))

    def _edges(self, nodes, count: int) -> list[Edge]:
        if count < 2:  # nothing to compare (e.g. every row was rejected upstream): no shuffle at all
            return []
        cfg = self.config
        parts = self._partitions(count)
        bucket_rows = nodes.map_batches(
            batches.buckets, batch_format="pyarrow",
            fn_kwargs={"bands": self.bands, "rows": self.rows, "num_fields": self.num_fields,
                       "num_perm": cfg.num_perm, "exact": cfg.exact, "near": cfg.near})
        pairs = bucket_rows.groupby("bucket", num_partitions=parts).map_groups(
            batches.pairs, batch_format="pyarrow",
            fn_kwargs={"exact": cfg.exact, "max_bucket": cfg.max_bucket, "window": cfg.window})
        started = time.perf_counter()
        pairs = _concat(_tables(pairs), batches.PAIR_SCHEMA)  # ids only: small
        log.info("dedup: %d pairs from buckets in %.1fs", pairs.num_rows, time.perf_counter() - started)
        found = [pairs.filter(pairs.column("verified"))]
        candidates = pairs.filter(pc.invert(pairs.column("verified"))).select(["a", "b"])
        candidates = candidates.group_by(["a", "b"]).aggregate([])  # one pair may share many bands
        if candidates.num_rows:
            found += _tables(self._verify(candidates, nodes, parts))
        return [Edge(a, b, s, e) for t in found for a, b, e, s in zip(
            t.column("a").to_pylist(), t.column("b").to_pylist(), t.column("exact").to_pylist(),
            t.column("similarity").to_pylist())]

    def _verify(self, candidates, nodes, parts):
        """Attach both signatures to each candidate pair by two groupby lookups (a, then b) over the
        pairs plus the signatures of the nodes named in any pair, and verify on the second."""
        import ray
        import ray.data
        wanted = ray.put(set(candidates.column("a").to_pylist()) | set(candidates.column("b").to_pylist()))
        sigs = nodes.map_batches(batches.sig_rows, batch_format="pyarrow", fn_kwargs={"wanted": wanted})
        sigs = sigs.materialize()
        cfg = self.config
        candidates = ray.data.from_arrow(candidates).repartition(parts)
        with_a = candidates.map_batches(batches.side_rows, batch_format="pyarrow", fn_kwargs={"side": "a"})
        with_a = with_a.union(sigs).groupby("k", num_partitions=parts).map_groups(
            batches.attach, batch_format="pyarrow", fn_kwargs={"side": "a"})
        return with_a.union(sigs).groupby("k", num_partitions=parts).map_groups(
            batches.attach, batch_format="pyarrow",
            fn_kwargs={"side": "b", "threshold": cfg.threshold, "num_fields": self.num_fields,
                       "num_perm": cfg.num_perm, "numbers": cfg.numbers})

    def index_dataset(self):
        """Index rows of this run (a Ray Dataset) for `write_index`; available after apply()."""
        if self._nodes is None or self.removed is None:
            raise RuntimeError("index_dataset() is available after apply() has run")
        import ray
        removed_ref = ray.put(self.removed)
        ds = self._nodes.map_batches(index_rows, batch_format="pyarrow", fn_kwargs={
            "removed": removed_ref, "bands": self.bands, "rows": self.rows,
            "num_fields": self.num_fields, "num_perm": self.config.num_perm})
        return ds

    def write_index(self, uri: str) -> str:
        """Save this run's index (signatures, band keys, published flags) as Parquet at `uri`."""
        return write_index(self.index_dataset(), uri, self.params)

    def write_artifacts(self, output_uri: str) -> list[dict]:
        """Called by the runner while publishing: the index replaces any earlier one beside the data."""
        uri = index_uri_for(output_uri)
        if storage.exists(uri):
            storage.delete(uri)
        self.write_index(uri)
        return [{"kind": "dedup_index", "stage": self.stage, "path": INDEX_DIRNAME}]


def _tables(ds) -> list[pa.Table]:
    import ray
    return [ray.get(ref) for ref in ds.to_arrow_refs()]


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables([t.cast(schema) for t in tables if t.num_rows] or [schema.empty_table()])


def _signed_nodes(batch: pa.Table) -> pa.Table:
    batch = batch.filter(pc.is_valid(batch.column(batches.NODE)))
    return batch.select(list(batches.INTERNAL))


def _mark(batch: pa.Table, removed, stage: str) -> pa.Table:
    import ray
    table = ray.get(removed) if isinstance(removed, ray.ObjectRef) else removed
    return batches.mark(batch, table, stage)


__all__ = ["Dedup", "DedupConfig", "INDEX_SCHEMA"]
