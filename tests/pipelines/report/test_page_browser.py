"""The report of a real run, opened from disk in headless Chromium: no failed loads, no console
errors, every section and chart present, a screenshot that is not blank."""
from __future__ import annotations

import json

from operators.feedback.summary import pairwise_summary, score_summary
from pathlib import Path

import pytest
import yaml

from pipelines.report import write_report
from tests.pipelines.cli_helpers import cli
from tests.pipelines.helpers import published_rows, run
from tests.support import browser

REPO = Path(__file__).resolve().parents[3]
PROBE = """JSON.stringify({
  sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
  charts: Object.fromEntries([...document.querySelectorAll('section[id]')].map(
      s => [s.id, [...s.querySelectorAll('svg.chart')].filter(c => c.getBoundingClientRect().width > 0).length])),
  images: document.images.length,
  reasons: document.querySelectorAll('details.reason').length,
  examples: [...document.querySelectorAll('details.reason')].map(d => d.querySelectorAll('.ex').length),
  pairs: document.querySelectorAll('.pair').length,
  verbs: [...document.querySelectorAll('svg[aria-label^="top root verbs"] text[font-weight=bold]')].map(t => t.textContent),
  height: document.body.scrollHeight})"""
ALWAYS = ["identity", "funnel", "lengths", "languages", "duplicates", "verbs"]


@pytest.fixture(scope="module")
def release(ray_session, tmp_path_factory) -> Path:
    """One real run of the curate config on the shipped sample (every stage rejects something)."""
    tmp_path = tmp_path_factory.mktemp("report")
    raw = yaml.safe_load((REPO / "configs" / "curate.yaml").read_text())
    raw["inputs"] = [{"uri": str(REPO / "pipelines" / "seeds" / "curate_sample.jsonl")}]
    raw["output"]["uri"] = str(tmp_path / "curate")
    raw["card"] = {"license": "cc-by-4.0"}
    run(raw)
    return tmp_path / "curate"


def visit(page: Path) -> dict:
    result = browser.load(page, PROBE)
    assert browser.problems(result["events"]) == []
    assert [u for u in browser.requested_urls(result["events"]) if not u.startswith(("file:", "data:"))] == []
    width, height, colours = browser.png_pixels(result["thumbnail"])
    assert width > 0 and height > 0 and len(colours) > 20, "the screenshot is blank"
    (page.parent / "screenshot.png").write_bytes(result["png"])  # under tmp_path, never committed
    return json.loads(result["probe"])


def test_report_of_a_curate_run_renders_in_chromium(release):
    out = release
    manifest = json.loads((out / "_manifest.json").read_text())
    listed = out / manifest["report"]["path"]
    assert (out / "report.html").read_bytes() == listed.read_bytes()  # the copy under the name people open
    seen = visit(out / "report.html")
    # one verb-noun chart per language group: the sample's Chinese rows are detected (lang: auto)
    verbs = ["verbs"] * len({r["lang"] == "zh" for r in published_rows(out)})
    assert seen["sections"] == ALWAYS[:-1] + verbs + (["throughput"] if "timeline" in manifest else [])
    assert all(seen["charts"][s] >= 1 for s in ALWAYS[1:]), seen["charts"]  # every section but the run's identity
    assert seen["charts"]["lengths"] == 3 * len(verbs)  # instruction, input, output per language
    reasons = sum(len(s["reasons"]) for s in manifest["stages"])
    assert seen["reasons"] == reasons and all(1 <= n <= 3 for n in seen["examples"])
    assert seen["pairs"] == 2  # the sample's one exact and one near duplicate, each with the row kept
    assert seen["verbs"] and seen["images"] == 0


def test_optional_sections_render_when_the_manifest_has_them(release, tmp_path):
    out = release
    manifest = json.loads((out / "_manifest.json").read_text())
    manifest["llm"] = {"generate_response": {"requests": 12, "cached": 3, "prompt_tokens": 900,
                                             "completion_tokens": 2400, "cost_usd": 0.171}}
    manifest["timeline"] = {"sample_s": 1.0, "points": [{"t": t, "rows": {"read": 10 * t, "dedup": 6 * t}}
                                                        for t in range(6)]}
    comparisons = [{"judge": "judge", "a": "gpt4", "b": "davinci003", "ab": ab, "ba": ba, "result": result,
                    "a_chars": 300, "b_chars": 200} for ab, ba, result in [("a", "b", "a"), ("a", "a", "inconsistent")]]
    manifest["feedback"] = {"scores": score_summary({"gpt4": [8, 9, 9, 10], "davinci003": [7, 8, 8, 9, None]}),
                            "pairwise": pairwise_summary(comparisons)}  # the manifest's own summariser
    page = tmp_path / "enriched" / "report.html"
    write_report(str(out), manifest, str(page))
    seen = visit(page)
    verbs = ["verbs"] * len({r["lang"] == "zh" for r in published_rows(out)})
    assert seen["sections"] == ALWAYS[:-1] + verbs + ["scores", "pairwise", "llm", "throughput"]
    assert "license</b>: cc-by-4.0" in page.read_text()
    assert seen["charts"]["scores"] == 2 and seen["charts"]["llm"] == 1 and seen["charts"]["throughput"] == 1


def test_report_command_rebuilds_the_listed_page_without_ray(release, tmp_path):
    manifest = json.loads((release / "_manifest.json").read_text())
    code, ray_imported, out, err = cli("report", str(release), "--out", str(tmp_path / "again.html"))
    assert code == 0 and not ray_imported, err[-2000:]
    assert out.strip() == str(tmp_path / "again.html")
    # the same page as the one built from the staged files before the commit
    assert (tmp_path / "again.html").read_bytes() == (release / manifest["report"]["path"]).read_bytes()
    code, _, _, err = cli("report", str(tmp_path))
    assert code == 2 and "no _manifest.json" in err
