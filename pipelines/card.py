"""Human-readable views of a manifest: the dataset card and the summary table."""
from __future__ import annotations

from typing import Any

import yaml

from pipelines.lineage import lineage_markdown

FIELD_DOCS = {
    "id": "stable hash of the normalised instruction, input and language",
    "instruction": "the task",
    "input": "optional context for the task (empty string when none)",
    "output": "the response",
    "lang": "language code of the row (en, zh, ...)",
    "source": "input file and row (`path:row`, `#n` for the n-th Self-Instruct instance)",
    "meta": "JSON object: lineage (stages passed, parent id), model, usage, scores",
}


def summary_table(manifest: dict[str, Any]) -> str:
    rows = [("stage", "in", "out", "rejected", "reasons")]
    for s in manifest["stages"]:
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(s["reasons"].items(), key=lambda x: -x[1]))
        rows.append((s["name"], str(s["in"]), str(s["out"]), str(s["rejected"]), reasons or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i]) for i in range(4))
                     + "  " + r[4])
        if n == 0:
            lines.append("-" * (sum(widths) + 8 + len("reasons")))
    c = manifest["counts"]
    lines.append(f"total: input {c['input']}, output {c['output']}, rejected {c['rejected']}; "
                 f"{len(manifest['shards'])} shard file(s), {len(manifest['rejects'])} reject file(s)")
    for key, value in (manifest.get("llm") or {}).items():
        lines.append(f"llm {key}: {value}")
    local = manifest.get("local_llm")
    if local:
        lines.append(f"local model: {local['model']} (llama.cpp, {local['threads']} thread(s), "
                     f"n_ctx {local['n_ctx']}, started in {local['startup_s']} s)")
    return "\n".join(lines)


def release_root(manifest: dict[str, Any]) -> str:
    """ROOT of a refresh release, from its (redacted) config's output: ROOT/releases/v=N."""
    uri = str(((manifest.get("config") or {}).get("output") or {}).get("uri") or "")
    suffix = f"releases/v={manifest['release']['version']}"
    trimmed = uri.rstrip("/")
    return trimmed[:-len(suffix)].rstrip("/") if trimmed.endswith(suffix) else uri


def load_latest_line(root: str, fmt: str) -> str:
    """The one line that loads the full dataset `latest.json` names, locally or on S3 (fsspec)."""
    builder = "parquet" if fmt == "parquet" else "json"
    return (f'import json, datasets, fsspec; root = "{root}"; ds = datasets.load_dataset("{builder}", '
            f'data_files=[f"{{root}}/{{p}}" for p in json.load(fsspec.open(f"{{root}}/latest.json").open())'
            f'["data_files"]["{fmt}"]], split="train")')


def release_section(manifest: dict[str, Any]) -> str:
    """What a refresh release adds to the dataset (docs/refresh.md), or nothing for a plain run."""
    release = manifest.get("release")
    if not isinstance(release, dict):
        return ""
    dataset, new = manifest.get("dataset") or {}, manifest["counts"]["output"]
    total = int(dataset.get("rows", new))
    shards = dataset.get("shards") or manifest["shards"]
    fmt = shards[0].get("format", "jsonl") if shards else "jsonl"
    parent = release.get("parent")
    root = release_root(manifest)
    s3_note = " (`fsspec` reads `s3://` with `s3fs` installed)" if "://" in root else ""
    return f"""
## Release
Release **v={release['version']}** (previous: {f'v={parent}' if parent else 'none, the first release'}).

| rows | |
|---|---|
| new in this release | {new} |
| skipped as processed by earlier releases (`skipped_seen`) | {release.get('skipped_seen', 0)} |
| carried by reference from earlier releases (their shards, not copied) | {total - new} |
| in the dataset | {total} |

The full dataset is what `ROOT/latest.json` lists; load the latest release with `datasets`{s3_note}:

```python
{load_latest_line(root, fmt)}
```
"""


def dataset_card(manifest: dict[str, Any]) -> str:
    c = manifest["counts"]
    files = "\n".join(f"- `{s['path']}` ({s['rows']} rows, {s['bytes']} bytes)" for s in manifest["shards"])
    sources = "\n".join(f"- `{i['uri']}` ({i['format']}, lang `{i['lang'] or '-'}`)" for i in manifest["inputs"])
    fields = "\n".join(f"| `{name}` | {kind} | {FIELD_DOCS.get(name, '')} |"
                       for name, kind in manifest["schema"].items())
    config = yaml.safe_dump(manifest["config"], sort_keys=False, allow_unicode=True)
    return f"""# {manifest['name']}

Instruction data produced by instructpipe {manifest['versions']['instructpipe']} (run `{manifest['run_id']}`,
config `{manifest['config_hash'][:12]}`). `_manifest.json` is the commit point and lists every file.

## Counts
{c['output']} rows published, {c['rejected']} rejected (kept whole under `rejects/`), {c['input']} read.
{release_section(manifest)}
```
{summary_table(manifest)}
```

## Report
[`report.html`](report.html): funnel with rejected examples, lengths, language mix, duplicates,
verb-noun diversity (open it in any browser; it loads nothing from the network).

## Lineage
{lineage_markdown(manifest)}

## Fields
| field | type | meaning |
|---|---|---|
{fields}

## Files
{files or '- (none)'}

Load with `datasets.load_dataset("json", data_files="data/*.jsonl.gz")` (or `"parquet"`).

## Sources
{sources}

## Config
```yaml
{config}```
"""
