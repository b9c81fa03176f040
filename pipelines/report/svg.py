"""Small inline SVG charts (no scripts, no external fonts or files): bars, histograms, nested bars, lines."""
from __future__ import annotations

from html import escape
from typing import Any, Iterable

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
OTHER = "#c9ccd1"
FONT = 'font-family="sans-serif" font-size="12"'


def _svg(width: int, height: int, label: str, body: Iterable[str]) -> str:
    return (f'<svg class="chart" role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT}>'
            f'<title>{escape(label)}</title>' + "".join(body) + "</svg>")


def _num(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def bars(items: list[tuple[str, float]], label: str, width: int = 640, color: str = PALETTE[0]) -> str:
    """Horizontal bars, one per (label, value)."""
    row, left = 22, min(260, 12 + 7 * max((len(k) for k, _ in items), default=4))
    top = max((v for _, v in items), default=0) or 1
    span = width - left - 80
    body = []
    for i, (name, value) in enumerate(items):
        y = i * row + 4
        w = max(1.0, span * value / top) if value else 0
        body.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(name)}</text>'
                    f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
                    f'<title>{escape(name)}: {_num(value)}</title></rect>'
                    f'<text x="{left + w + 4:.1f}" y="{y + 14}">{_num(value)}</text>')
    return _svg(width, max(row, len(items) * row + 8), label, body)


def histogram(hist: dict[str, Any], label: str, unit: str, width: int = 300, height: int = 150,
              color: str = PALETTE[0]) -> str:
    counts, edges = hist.get("counts") or [], hist.get("edges") or []
    pad_l, pad_b, pad_t = 40, 30, 8
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    top = max(counts, default=0) or 1
    n = len(counts) or 1
    body = [f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" stroke="#555"/>',
            f'<text x="{pad_l - 4}" y="{pad_t + 10}" text-anchor="end">{_num(top)}</text>',
            f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end">0</text>']
    for i, c in enumerate(counts):
        h = plot_h * c / top
        x = pad_l + i * plot_w / n
        last = i == n - 1
        rng = f"{edges[i]}+" if last else f"{edges[i]}-{edges[i + 1] - 1}"
        body.append(f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{max(1.0, plot_w / n - 1):.1f}" '
                    f'height="{h:.1f}" fill="{color}"><title>{rng} {unit}: {c:,}</title></rect>')
    if edges:
        body.append(f'<text x="{pad_l}" y="{height - 12}">0</text>'
                    f'<text x="{width - 8}" y="{height - 12}" text-anchor="end">{edges[-2]}+ {escape(unit)}</text>')
    return _svg(width, height, label, body)


def nested_bars(verbs: list[dict[str, Any]], label: str, width: int = 760) -> str:
    """One bar per verb, split into its top nouns (colours) and the rest (grey), as in the papers."""
    row, left = 24, 90
    top = max((v["count"] for v in verbs), default=0) or 1
    span = width - left - 60
    body = []
    for i, verb in enumerate(verbs):
        y = i * row + 4
        body.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" font-weight="bold">'
                    f'{escape(verb["verb"])}</text>')
        x, shown = float(left), 0
        for j, noun in enumerate(verb["nouns"]):
            w = span * noun["count"] / top
            shown += noun["count"]
            body.append(_segment(x, y, w, row - 6, PALETTE[j % len(PALETTE)], noun["noun"], noun["count"], verb["verb"]))
            x += w
        rest = verb["count"] - shown
        if rest > 0:
            w = span * rest / top
            body.append(_segment(x, y, w, row - 6, OTHER, "other", rest, verb["verb"]))
            x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + 15}">{verb["count"]:,}</text>')
    return _svg(width, max(row, len(verbs) * row + 8), label, body)


def _segment(x: float, y: float, w: float, h: int, color: str, name: str, count: int, verb: str) -> str:
    text = ""
    if w > 7 * len(name) + 6:
        text = f'<text x="{x + 4:.1f}" y="{y + 13}" fill="#fff">{escape(name)}</text>'
    return (f'<rect x="{x:.1f}" y="{y}" width="{max(w, 0.5):.1f}" height="{h}" fill="{color}" stroke="#fff">'
            f'<title>{escape(verb)} {escape(name)}: {count:,}</title></rect>{text}')


def lines(series: dict[str, list[tuple[float, float]]], label: str, x_unit: str, y_unit: str,
          width: int = 640, height: int = 220) -> str:
    """One line per series over a shared x axis (e.g. rows per second over elapsed seconds)."""
    pad_l, pad_b, pad_t, pad_r = 56, 30, 10, 130
    plot_w, plot_h = width - pad_l - pad_r, height - pad_b - pad_t
    xs = [x for pts in series.values() for x, _ in pts] or [0]
    ys = [y for pts in series.values() for _, y in pts] or [0]
    x_max, y_max = max(xs) or 1, max(ys) or 1
    body = [f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" stroke="#555"/>',
            f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + plot_h}" stroke="#555"/>',
            f'<text x="{pad_l - 4}" y="{pad_t + 10}" text-anchor="end">{_num(round(y_max, 1))}</text>',
            f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end">0</text>',
            f'<text x="{pad_l + plot_w}" y="{height - 10}" text-anchor="end">{_num(round(x_max, 1))} {escape(x_unit)}</text>',
            f'<text x="{pad_l}" y="{height - 10}">{escape(y_unit)}</text>']
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{pad_l + plot_w * x / x_max:.1f},{pad_t + plot_h - plot_h * y / y_max:.1f}" for x, y in pts)
        body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}">'
                    f'<title>{escape(name)}</title></polyline>'
                    f'<text x="{pad_l + plot_w + 6}" y="{pad_t + 14 + 16 * i}" fill="{color}">{escape(name)}</text>')
    return _svg(width, height, label, body)
