"""The narrow interface whole-dataset stages use to spread work over the blocks of a dataset.

A global operator's `apply(ds, engine)` sees block handles, not Ray: `blocks` materialises a dataset
once and hands out its blocks; `map` runs a function on every block (one Ray task each, several
outputs per task when asked); `reduce` runs one function over many blocks in one task. Handles are
Ray object references, so data moves between workers through the object store, never the driver,
unless `get` is called.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import ray


def _call_map(fn: Callable, kwargs: dict[str, Any], block, *extra):
    return fn(block, *extra, **kwargs)


def _call_reduce(fn: Callable, kwargs: dict[str, Any], count: int, *args):
    return fn(list(args[:count]), *args[count:], **kwargs)


class RayEngine:
    """`num_cpus` per task; several outputs of one task come back as separate handles."""

    def __init__(self, num_cpus: float = 1):
        self.num_cpus = num_cpus

    def blocks(self, ds) -> tuple[Any, list]:
        """(the materialised dataset, handles of its blocks in order)."""
        materialized = ds.materialize()
        # not to_arrow_refs(): on an empty result it runs the plan again to fetch a schema
        return materialized, [ref for bundle in materialized.iter_internal_ref_bundles()
                              for ref in bundle.block_refs]

    def map(self, fn: Callable, blocks: Sequence, *extra, outputs: int = 1, **kwargs) -> list:
        """fn(block, *extra, **kwargs) per block; with `outputs` > 1, a list of `outputs` handles each."""
        task = ray.remote(num_cpus=self.num_cpus, num_returns=outputs)(_call_map)
        return [task.remote(fn, kwargs, block, *extra) for block in blocks]

    def reduce(self, fn: Callable, blocks: Sequence, *extra, **kwargs):
        """fn([tables of every block], *extra, **kwargs) in one task; one handle."""
        task = ray.remote(num_cpus=self.num_cpus)(_call_reduce)
        return task.remote(fn, kwargs, len(blocks), *blocks, *extra)

    def put(self, value: Any):
        return ray.put(value)

    def get(self, handles):
        return ray.get(handles)
