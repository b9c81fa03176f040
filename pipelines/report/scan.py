"""One pass over a release's files, a file at a time: what the report needs, in memory bounded by the
largest file, the verb sample and, for the length histograms, one count per distinct length.

Rejects are read first (example rows per reason, duplicate pairs and the ids of the rows they kept);
then the shards, where the kept rows are looked up as they pass; a keeper that a later stage rejected
is found by a second look at the rejects, for those few ids only.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators import storage
from pipelines.report.data import (COLUMNS, DEDUP_REASONS, EXAMPLES_PER_REASON, REJECT_COLUMNS, guess_lang,
                                   json_object, read_table, text_length)
from pipelines.report.verbs import smallest_ids

FIELDS = ("instruction", "input", "output")


@dataclass
class VerbSample:
    """The `limit` rows with the smallest ids (ids are hashes: a uniform, reproducible sample)."""
    limit: Optional[int]
    ids: list = field(default_factory=list)
    texts: list = field(default_factory=list)
    rows: int = 0

    def add(self, ids: list, texts: list) -> None:
        self.rows += len(ids)
        self.ids, self.texts = smallest_ids(self.ids + ids, self.texts + texts, self.limit)


@dataclass
class ReleaseScan:
    verb_limit: Optional[int]
    lengths: dict = field(default_factory=lambda: defaultdict(lambda: {f: Counter() for f in FIELDS}))  # length -> rows
    published: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=lambda: defaultdict(list))  # (stage, reason) -> rows
    pairs: dict = field(default_factory=lambda: {r: [] for r in DEDUP_REASONS})
    kept: dict = field(default_factory=dict)  # id -> the row a duplicate was kept for
    verbs: dict = field(default_factory=dict)  # "en" | "zh" -> VerbSample

    def add_rejects(self, table: pa.Table) -> None:
        self.rejected.update(lang or "und" for lang in table.column("lang").to_pylist())
        cols = ["stage", "reason", "instruction", "input", "output", "source", "detail"]
        for row in table.select(cols).to_pylist():
            key = (row["stage"] or "", row["reason"] or "")
            if len(self.examples[key]) < EXAMPLES_PER_REASON:
                self.examples[key].append(row)
            pairs = self.pairs.get(row["reason"])
            if pairs is not None and len(pairs) < EXAMPLES_PER_REASON:
                detail = json_object(row["detail"])
                pairs.append({"removed": {k: row[k] for k in ("reason", "instruction", "input", "detail")},
                              "kept_id": detail.get("duplicate_of"), "similarity": detail.get("similarity")})

    def add_rows(self, table: pa.Table) -> None:
        langs = [lang or guess_lang(text) for lang, text in zip(table.column("lang").to_pylist(),
                                                                table.column("instruction").to_pylist())]
        self.published.update(lang or "und" for lang in table.column("lang").to_pylist())
        for name in FIELDS:
            per: dict[str, list[int]] = defaultdict(list)
            for lang, text in zip(langs, table.column(name).to_pylist()):
                if name != "input" or text:
                    per[lang].append(text_length(text, lang))
            for lang, values in per.items():
                distinct, counts = np.unique(np.asarray(values, dtype=np.int64), return_counts=True)
                self.lengths[lang][name].update(dict(zip(distinct.tolist(), counts.tolist())))
        self.add_verbs(langs, table)
        self.find_kept(table)

    def add_verbs(self, langs: list[str], table: pa.Table) -> None:
        groups: dict[str, tuple[list, list]] = {}
        for lang, ident, text in zip(langs, table.column("id").to_pylist(), table.column("instruction").to_pylist()):
            ids, texts = groups.setdefault("zh" if lang.startswith("zh") else "en", ([], []))
            ids.append(ident)
            texts.append(text)
        for group, (ids, texts) in groups.items():
            self.verbs.setdefault(group, VerbSample(self.verb_limit)).add(ids, texts)

    def wanted(self) -> set:
        return {p["kept_id"] for pairs in self.pairs.values() for p in pairs if p["kept_id"]} - set(self.kept)

    def find_kept(self, table: pa.Table) -> None:
        wanted = self.wanted()
        if not wanted:
            return
        hit = table.filter(pc.is_in(table.column("id"), pa.array(sorted(wanted), pa.string())))
        for row in hit.select(["id", "instruction", "input"]).to_pylist():
            self.kept.setdefault(row["id"], row)

    def length_values(self) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """lang -> field -> (sorted distinct lengths, rows of each), as `data.lengths` takes them."""
        return {lang: {f: (np.array(sorted(c), np.int64), np.array([c[v] for v in sorted(c)], np.int64))
                       for f, c in fields.items()} for lang, fields in sorted(self.lengths.items())}


def scan_release(root: str, manifest: dict[str, Any], verb_limit: Optional[int]) -> ReleaseScan:
    scan = ReleaseScan(verb_limit)
    each(reject_tables(root, manifest), scan.add_rejects)
    each(shard_tables(root, manifest), scan.add_rows)
    if scan.wanted():
        each(reject_tables(root, manifest), scan.find_kept)
    return scan


def each(tables: Iterator[pa.Table], add) -> None:
    """add(table) for every file; then the file's freed Arrow memory goes back to the system, so that a
    release of many files costs what one file costs (the pool would otherwise keep the pages of each)."""
    for table in tables:
        add(table)
        del table
        pa.default_memory_pool().release_unused()


def shard_tables(root: str, manifest: dict[str, Any]) -> Iterator[pa.Table]:
    """Every published row, a shard at a time, from one format of the listed shards (Parquet reads fastest)."""
    formats = {s.get("format", "jsonl") for s in manifest.get("shards", [])}
    fmt = "parquet" if "parquet" in formats else "jsonl"
    for shard in manifest.get("shards", []):
        if shard.get("format", "jsonl") == fmt:
            yield read_table(storage.join(root, shard["path"]), fmt, COLUMNS)


def reject_tables(root: str, manifest: dict[str, Any]) -> Iterator[pa.Table]:
    for entry in manifest.get("rejects", []):
        yield read_table(storage.join(root, entry["path"]), entry.get("format", "jsonl"), REJECT_COLUMNS)
