"""The report's HTML: one self-contained page (inline CSS and SVG, no scripts, nothing fetched)."""
from __future__ import annotations

import json
from html import escape
from typing import Any, Iterable

import yaml

from pipelines.report import svg
from pipelines.report.data import length_unit

CSS = """
body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.4;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top;font-size:13px}th{background:#f4f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0}figcaption{font-size:12px;color:#555}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:12px}details{margin:.3em 0}
.ex{font-size:12px;color:#333;max-width:1000px;white-space:pre-wrap;word-break:break-word}
.muted{color:#666;font-size:13px}
"""


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="n">{value:,}</td>' if isinstance(value, int) else f'<td class="n">{value:,.4g}</td>'
    return f"<td>{escape('' if value is None else str(value))}</td>"


def _clip(text: Any, limit: int = 300) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + " …"


def section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{escape(title)}</h2>{body}</section>'


def identity(manifest: dict[str, Any], lineage: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items())
    inputs = _table(("input", "format", "lang", "bytes"), ((i.get("uri"), i.get("format"), i.get("lang") or "-",
                                                            i.get("bytes")) for i in lineage["inputs"]))
    models = _table(("stage", "model", "prompt template", "prompt sha256"),
                    ((m["stage"], m["model"], m["template"], m["sha256"]) for m in lineage["llm"])) \
        if lineage["llm"] else ""
    licence = "".join(f"<li><b>{escape(k)}</b>: {escape(str(v))}</li>" for k, v in lineage["licence"].items())
    config = yaml.safe_dump(manifest.get("config") or {}, sort_keys=False, allow_unicode=True)
    return section("identity", "Run", (
        f"<p>run <code>{escape(str(manifest.get('run_id')))}</code>, config "
        f"<code>{escape(str(manifest.get('config_hash', ''))[:12])}</code>; {escape(versions)}</p>"
        f"{inputs}{models}<ul>{licence or '<li>license not stated (config <code>card.license</code>)</li>'}</ul>"
        f"<details><summary>config</summary><pre>{escape(config)}</pre></details>"))


def funnel(stages: list[dict[str, Any]], counts: dict[str, Any]) -> str:
    chart = svg.bars([(s["name"], s["out"]) for s in stages], "rows out of each stage")
    table = _table(("stage", "in", "out", "rejected"), ((s["name"], s["in"], s["out"], s["rejected"]) for s in stages))
    reasons = []
    for s in stages:
        for r in s["reasons"]:
            examples = "".join(
                f'<div class="ex">• {escape(_clip(e.get("instruction")))}'
                f'{(" | input: " + escape(_clip(e.get("input"), 120))) if e.get("input") else ""}'
                f'{(" → " + escape(_clip(e.get("output"), 160))) if e.get("output") else ""}'
                f' <span class="muted">({escape(str(e.get("source") or ""))}; {escape(_clip(e.get("detail"), 160))})'
                f'</span></div>' for e in r["examples"])
            reasons.append(f'<details class="reason"><summary><b>{escape(s["name"])}</b> / {escape(r["reason"])}: '
                           f'{r["count"]:,}</summary>{examples or "<p class=muted>no rows in the reject files</p>"}'
                           f'</details>')
    rejected = svg.bars([(f'{s["name"]}: {r["reason"]}', r["count"]) for s in stages for r in s["reasons"]],
                        "rejected rows per stage and reason", color=svg.PALETTE[3]) if reasons else ""
    return section("funnel", "Funnel", (
        f"<p>{counts.get('input', 0):,} rows in, {counts.get('output', 0):,} published, "
        f"{counts.get('rejected', 0):,} rejected.</p>{chart}{table}<h3>Rejects by reason</h3>{rejected}"
        f"{''.join(reasons) or '<p>nothing was rejected</p>'}"))


def lengths(per_lang: dict[str, dict[str, Any]]) -> str:
    parts = []
    for lang, fields in per_lang.items():
        unit = length_unit(lang)
        figures = "".join(
            f"<figure>{svg.histogram(h, f'{lang} {field} length', unit, color=svg.PALETTE[i])}"
            f"<figcaption>{escape(field)} ({escape(unit)}): n={h['n']:,}"
            f"{', median ' + format(h['median'], 'g') + ', max ' + str(h['max']) if h['n'] else ''}</figcaption></figure>"
            for i, (field, h) in enumerate(fields.items()))
        parts.append(f"<h3>{escape(lang)}</h3><div class='grid'>{figures}</div>")
    return section("lengths", "Lengths", "<p class=muted>published rows; English in words, Chinese in characters; "
                   "inputs: non-empty ones only</p>" + ("".join(parts) or "<p>no rows</p>"))


def languages(mix: list[dict[str, Any]]) -> str:
    chart = svg.bars([(m["lang"], m["published"]) for m in mix], "published rows per language")
    return section("languages", "Language mix", chart + _table(("lang", "published", "rejected"),
                                                                ((m["lang"], m["published"], m["rejected"]) for m in mix)))


def duplicates(dups: dict[str, Any]) -> str:
    counts = dups["counts"]
    chart = svg.bars([("exact", counts["exact_duplicate"]), ("near", counts["near_duplicate"])],
                     "duplicates removed, exact vs near", color=svg.PALETTE[1])
    pairs = []
    for reason, items in dups["pairs"].items():
        for p in items:
            kept = p.get("kept") or {}
            sim = f" (similarity {p['similarity']})" if p.get("similarity") is not None else ""
            pairs.append(f'<div class="ex pair">• <b>{escape(reason)}</b>{escape(sim)}: removed '
                         f'“{escape(_clip(p["removed"].get("instruction")))}” — kept '
                         f'“{escape(_clip(kept.get("instruction", "(kept row not found)")))}”</div>')
    return section("duplicates", "Duplicates", chart + ("".join(pairs) or "<p>no duplicates removed</p>"))


def verbs(div: dict[str, Any] | None) -> str:
    if div is None:
        return section("verbs", "Verb-noun diversity", "<p>no instructions</p>")
    sampled = f" (a sample of {div['parsed']:,} of {div['rows']:,})" if div["parsed"] < div["rows"] else ""
    chart = svg.nested_bars(div["verbs"], "top root verbs and their direct-object nouns")
    return section("verbs", "Verb-noun diversity", (
        f"<p>The {len(div['verbs'])} most common root verbs of the instructions and their 4 most common "
        f"direct-object nouns, parsed with {escape(div['parser'])}{sampled}. "
        f"<b>{div['no_pair_share']:.1%}</b> of the parsed instructions have no verb-noun pair "
        f"(questions, noun phrases, verbs without an object).</p>{chart}"
        f"<p class=muted>{escape('; '.join(_verb_line(v) for v in div['verbs']))}</p>"))


def _verb_line(verb: dict[str, Any]) -> str:
    return f"{verb['verb']} {verb['count']:,}: " + ", ".join(f"{n['noun']} {n['count']:,}" for n in verb["nouns"])


def llm_usage(usage: dict[str, Any], lineage: dict[str, Any]) -> str:
    models = {m["stage"]: m["model"] for m in lineage["llm"]}
    rows = [(stage, models.get(stage), u.get("requests"), u.get("cached"), u.get("prompt_tokens"),
             u.get("completion_tokens"), u.get("cost_usd")) for stage, u in usage.items() if isinstance(u, dict)]
    chart = svg.bars([(f"{r[0]} ({r[1] or '-'})", float(r[6] or 0)) for r in rows], "cost in USD per stage and model",
                     color=svg.PALETTE[2])
    return section("llm", "Tokens and cost", chart + _table(
        ("stage", "model", "requests", "cached", "prompt tokens", "completion tokens", "cost USD"), rows))


def throughput(series: dict[str, list[tuple[float, float]]]) -> str:
    return section("throughput", "Throughput over time",
                   svg.lines(series, "rows per second per stage over the run", "s", "rows/s"))


def scores(per_source: dict[str, Any]) -> str:
    """`feedback.scores`: per source a 1..10 histogram (`bins`, `counts`) and its statistics."""
    parts = []
    for source, value in per_source.items():
        hist = value.get("histogram") or {}
        pairs = [(str(b), float(c)) for b, c in zip(hist.get("bins", []), hist.get("counts", []))]
        chart = svg.bars(pairs, f"judge scores of {source}") if any(c for _, c in pairs) else ""
        stats = {k: v for k, v in value.items() if isinstance(v, (int, float, str))}
        parts.append(f"<h3>{escape(str(source))}</h3>{chart}" + (_table(stats.keys(), [stats.values()]) if stats else ""))
    return section("scores", "Judge scores", "".join(parts))


def pairwise(stats: Any) -> str:
    flat = list(_flatten(stats))
    return section("pairwise", "Pairwise comparisons", _table(("statistic", "value"), flat) if flat
                   else f"<pre>{escape(json.dumps(stats, ensure_ascii=False, indent=1))}</pre>")


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list):
        yield prefix, json.dumps(value, ensure_ascii=False)[:300]
    else:
        yield prefix, value


def document(title: str, sections: list[str]) -> str:
    nav = "".join(f'<a href="#{s.split(chr(34))[1]}">{s.split("<h2>")[1].split("</h2>")[0]}</a> · ' for s in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<link rel="icon" href="data:,"><meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body><h1>{escape(title)}</h1><nav class="muted">{nav.rstrip(" · ")}</nav>{"".join(sections)}</body></html>')
