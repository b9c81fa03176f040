"""The global `dedup` stage: exact + MinHash-LSH near-duplicate removal over the whole dataset.

apply(ds, engine):
1. `prepare` on every block (Ray Data tasks): normalise, sign, exact key, node key; empty -> reject.
   The result is materialised once, so upstream stages never run twice.
2. Per block, the key rows of every signed row (node, exact key, band keys: no signatures), split
   into band groups; rows of earlier releases' indexes (`against`) that share a band key or an exact
   key with a row of this run join as pinned nodes (pinned.py: one pyarrow read per index file).
3. Per band group, one task groups buckets by sorting whole columns (graph.py) into exact edges and
   candidate pairs; the blocks hand over the signatures of the candidates only; one task verifies.
   One group unless the key rows would not fit in `group_memory_mb`: then several, each with a share
   of the bands, so no task (and never the driver) holds every band key or every candidate pair.
4. The driver receives the verified edges (ids only), computes components and keepers
   (removals.py: smallest node key of each component, i.e. input order).
5. A last map over the materialised rows marks removed rows `exact_duplicate`/`near_duplicate`.
Rows rejected by earlier stages pass through untouched; every row comes out exactly once.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from operators.base import Operator, OperatorConfig
from operators import storage
from operators.registry import register

# The dedup modules (numba kernels, scipy, pyarrow.dataset) are imported where they are used, so that
# `validate` can load this config without them.

KEY_ROW_OVERHEAD = 160  # bytes of a key row besides its band keys: node key, exact key, Arrow offsets

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
    batch_rows: int = Field(4096, ge=1)  # rows per prepare task (the name every stage uses)
    band_groups: int | None = Field(None, ge=1)  # None: as few as fit in group_memory_mb
    group_memory_mb: int = Field(2048, ge=1)  # key rows one band-group task may hold

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
        from operators.dedup.lsh import lsh_params
        from operators.dedup.minhash import MinHasher
        cfg = self.config
        self.hasher = MinHasher(cfg.num_perm, cfg.seed, cfg.ngram, cfg.unit)
        self.num_fields = 1 if cfg.combined else len(cfg.fields)
        self.bands, self.rows = lsh_params(cfg.threshold, cfg.num_perm, self.num_fields, cfg.bands, cfg.rows)
        self.removed: pa.Table | None = None
        self._prep = None

    @property
    def params(self) -> dict:
        from operators.dedup.index import EXACT_KEY_VERSION
        cfg = self.config
        return {"num_perm": cfg.num_perm, "seed": cfg.seed, "ngram": cfg.ngram, "unit": cfg.unit,
                "fields": list(cfg.fields), "combined": cfg.combined, "bands": self.bands,
                "rows": self.rows, "threshold": cfg.threshold, "scheme": "affine32", "exact_key": EXACT_KEY_VERSION}

    def __call__(self, batch: pa.Table) -> pa.Table:
        raise TypeError("dedup is a global stage: use apply(dataset)")

    def apply(self, ds, engine):
        from operators.dedup import batches
        from operators.dedup.removals import removal_table
        cfg = self.config
        prep = ds.map_batches(batches.prepare, batch_format="pyarrow", batch_size=cfg.batch_rows,
                              fn_kwargs={"fields": cfg.fields, "combined": cfg.combined,
                                         "hasher": self.hasher, "keep": cfg.keep, "stage": self.stage})
        started = time.perf_counter()
        prep, blocks = engine.blocks(prep)  # upstream stages run exactly once
        self._prep = prep
        pinned, stored_edges, pinned_rows = self._pinned(engine, blocks)
        edges = stored_edges + self._edges(engine, blocks + pinned, prep.count() + pinned_rows)
        self.removed = removal_table(edges)
        log.info("dedup: %d verified edges, %d rows removed, %.1fs", len(edges), self.removed.num_rows,
                 time.perf_counter() - started)
        return prep.map_batches(batches.mark, batch_format="pyarrow",
                                fn_kwargs={"removed": self.removed, "stage": self.stage})

    def _pinned(self, engine, blocks: list) -> tuple[list, list, int]:
        """(node blocks of the earlier releases' rows that can meet this run's rows, the stored links
        among them, how many rows): one pyarrow read per index file (pinned.py), no dataset pass."""
        from operators.dedup import pinned
        if not self.config.against:
            return [], [], 0
        files = pinned.index_files(self.config.against, self.params)
        if not files:
            return [], [], 0
        params = {"bands": self.bands, "rows": self.rows, "num_fields": self.num_fields,
                  "num_perm": self.config.num_perm, "near": self.config.near}
        keys = engine.map(_key_rows, blocks, groups=[(0, self.bands)], **params)
        probe = engine.reduce(pinned.probe, keys)
        found = engine.map(pinned.matches, files, probe, outputs=3, **params)
        links, counts = engine.get([f[1] for f in found]), engine.get([f[2] for f in found])
        return [f[0] for f in found], pinned.link_edges(files, links), sum(counts)

    def band_groups(self, rows: int) -> int:
        """Band groups: one (everything in one task) unless the key rows would not fit in one."""
        cfg = self.config
        if cfg.band_groups is not None:
            return min(cfg.band_groups, self.bands)
        row_bytes = KEY_ROW_OVERHEAD + 8 * self.bands
        return min(self.bands, max(1, math.ceil(rows * row_bytes / (cfg.group_memory_mb * 2**20))))

    def _edges(self, engine, blocks: list, rows: int) -> list:
        """Key rows per band group -> candidates in one task per group -> signatures of the candidates
        gathered from the blocks -> verified in one task per group. Only edges reach the driver."""
        from operators.dedup import graph
        if rows < 2 or not blocks:
            return []
        cfg = self.config
        groups = graph.band_slices(self.bands, self.band_groups(rows))
        keys = engine.map(_key_rows, blocks, outputs=len(groups), groups=groups, bands=self.bands,
                          rows=self.rows, num_fields=self.num_fields, num_perm=cfg.num_perm, near=cfg.near)
        if len(groups) == 1:
            keys = [[k] for k in keys]
        found = []
        for g in range(len(groups)):
            pairs = engine.reduce(graph.candidates, [k[g] for k in keys], exact=cfg.exact, near=cfg.near,
                                  first_group=g == 0, max_bucket=cfg.max_bucket, window=cfg.window)
            sigs = engine.map(_sig_rows, blocks, pairs)
            found.append(engine.reduce(_verified, sigs, pairs, threshold=cfg.threshold,
                                       num_fields=self.num_fields, num_perm=cfg.num_perm, numbers=cfg.numbers))
        return graph.to_edges(engine.get(found))

    def index_dataset(self):
        """Index rows of this run (a Ray Dataset) for `write_index`; available after apply()."""
        from operators.dedup import batches
        from operators.dedup.release import index_rows
        if self._prep is None or self.removed is None:
            raise RuntimeError("index_dataset() is available after apply() has run")
        nodes = self._prep.map_batches(_signed, batch_format="pyarrow", fn_kwargs={"columns": batches.INTERNAL})
        ds = nodes.map_batches(index_rows, batch_format="pyarrow", fn_kwargs={
            "removed": self.removed, "bands": self.bands, "rows": self.rows,
            "num_fields": self.num_fields, "num_perm": self.config.num_perm})
        return ds

    def write_index(self, uri: str) -> str:
        """Save this run's index (signatures, band keys, published flags) as Parquet at `uri`."""
        from operators.dedup.index import write_index
        return write_index(self.index_dataset(), uri, self.params)

    def write_artifacts(self, output_uri: str) -> list[dict]:
        """Called by the runner while publishing: the index replaces any earlier one beside the data."""
        from operators.dedup.index import INDEX_DIRNAME, index_uri_for
        uri = index_uri_for(output_uri)
        if storage.exists(uri):
            storage.delete(uri)
        self.write_index(uri)
        return [{"kind": "dedup_index", "stage": self.stage, "path": INDEX_DIRNAME}]


def _signed(block: pa.Table, columns) -> pa.Table:
    from operators.dedup import batches
    if batches.NODE not in block.column_names:  # an empty block without the stage's columns
        return pa.table({name: pa.array([], batches.INTERNAL_TYPES[name]) for name in columns})
    table = block.select(list(columns))
    return table.filter(pc.is_valid(table.column(batches.NODE))) if table.column(batches.NODE).null_count else table


def _key_rows(block: pa.Table, *, groups, **params):
    from operators.dedup import batches, graph
    nodes = _signed(block, batches.INTERNAL)
    keys = [graph.key_rows(nodes, band_range=band_range, **params) for band_range in groups]
    return keys if len(keys) > 1 else keys[0]


def _sig_rows(block: pa.Table, pairs: pa.Table) -> pa.Table:
    from operators.dedup import graph
    return graph.sig_rows(_signed(block, graph.SIG_COLUMNS), pairs)


def _verified(sigs: list[pa.Table], pairs: pa.Table, **params) -> pa.Table:
    from operators.dedup import graph
    return graph.verified(pairs, sigs, **params)


__all__ = ["Dedup", "DedupConfig"]
