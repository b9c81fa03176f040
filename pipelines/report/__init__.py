"""`instructpipe report OUTPUT`: one self-contained HTML page about a release (docs/report.md).

Built from the manifest and the files it lists, so the page is the same for the same release; the
runner writes it beside every release (see `publish_report`).
"""
from __future__ import annotations

import hashlib
from typing import Any, Optional

from operators import storage
from pipelines.lineage import lineage
from pipelines.report import data, page
from pipelines.report.scan import scan_release
from pipelines.report.verbs import DEFAULT_SAMPLE, diversity  # noqa: F401 (the CLI default)
from pipelines.report.verbs import preload as preload_parser  # noqa: F401 (the runner starts it)

REPORT = "report.html"
REPORT_DIR = "reports"


def build_report(root: str, manifest: dict[str, Any], verb_sample: Optional[int] = DEFAULT_SAMPLE) -> str:
    """The HTML of the release under `root` described by `manifest` (its files may still be staged)."""
    scan = scan_release(root, manifest, verb_sample)
    info = lineage(manifest)
    sections = [page.identity(manifest, info),
                page.funnel(data.funnel(manifest, scan.examples), manifest.get("counts") or {}),
                page.lengths(data.lengths(scan.length_values())),
                page.languages(data.language_mix(scan.published, scan.rejected)),
                page.duplicates(data.duplicates(manifest, scan.pairs, scan.kept))]
    sections += [page.verbs(diversity(s.ids, s.texts, group, verb_sample, total=s.rows))
                 for group, s in sorted(scan.verbs.items())] or [page.verbs(None)]
    feedback = manifest.get("feedback") or {}  # operators/feedback/summary.py: scores per source, pairwise per judge
    if feedback.get("scores"):
        sections.append(page.scores(feedback["scores"]))
    if feedback.get("pairwise"):
        sections.append(page.pairwise(feedback["pairwise"]))
    if isinstance(manifest.get("llm"), dict) and manifest["llm"]:
        sections.append(page.llm_usage(manifest["llm"], info))
    series = throughput_series(manifest.get("timeline"))
    if series:
        sections.append(page.throughput(series))
    return page.document(f"{manifest.get('name', 'release')}: instructpipe report", sections)


def throughput_series(timeline: Any) -> dict[str, list[tuple[float, float]]]:
    """Rows per second out of each stage between consecutive progress samples."""
    points = (timeline or {}).get("points") if isinstance(timeline, dict) else None
    if not isinstance(points, list) or len(points) < 2:
        return {}
    series: dict[str, list[tuple[float, float]]] = {}
    for before, after in zip(points, points[1:]):
        dt = float(after["t"]) - float(before["t"])
        if dt <= 0:
            continue
        for stage, out in (after.get("rows") or {}).items():
            rate = (out - (before.get("rows") or {}).get(stage, 0)) / dt
            series.setdefault(stage, []).append((float(after["t"]), max(0.0, rate)))
    return series


def write_report(output_uri: str, manifest: dict[str, Any], out: Optional[str] = None,
                 verb_sample: Optional[int] = DEFAULT_SAMPLE) -> str:
    """`instructpipe report`: write the page to `out` (default OUTPUT/report.html); returns its URI."""
    target = out or storage.join(output_uri, REPORT)
    storage.write_bytes(target, build_report(output_uri, manifest, verb_sample).encode("utf-8"))
    return target


def stage_report(output_uri: str, staging_uri: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Build the page from the staged release; write it under a content-named path in staging and
    return its manifest entry (publish.py moves it into place before the commit)."""
    html = build_report(staging_uri, manifest).encode("utf-8")
    sha = hashlib.sha256(html).hexdigest()
    path = f"{REPORT_DIR}/report-{sha[:12]}.html"
    storage.write_bytes(storage.join(staging_uri, path), html)
    return {"path": path, "bytes": len(html), "sha256": sha, "format": "html"}


def listed(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    entry = manifest.get("report")
    return [entry] if isinstance(entry, dict) and entry.get("path") else []


def copy_to_root(output_uri: str, manifest: dict[str, Any]) -> None:
    """`OUTPUT/report.html`: the committed release's page under the name people open (like README.md,
    rewritten by the next run if a kill left it stale; removed if the release has no report)."""
    target = storage.join(output_uri, REPORT)
    source = storage.join(output_uri, listed(manifest)[0]["path"]) if listed(manifest) else None
    if source is None or not storage.exists(source):
        if storage.exists(target):
            storage.delete(target)
        return
    html = storage.read_bytes(source)
    if not storage.exists(target) or storage.read_bytes(target) != html:
        storage.write_bytes(target, html)
