"""How a progress sample is shown: a rich table on a terminal, compact `key=value` lines elsewhere."""
from __future__ import annotations

from typing import Any, Optional


def _eta_text(eta: dict[str, Any]) -> str:
    if eta.get("stage") is None:
        return "0s"
    seconds = eta.get("seconds")
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def top_reasons(stage: dict[str, Any], n: int = 3) -> list[tuple[str, int]]:
    return sorted((stage.get("reasons") or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def cost_text(llm: dict[str, Any], budget: dict[str, Any]) -> str:
    cap = budget.get("max_cost_usd")
    return f"${llm['spent_usd']:.4f}" + (f" of ${cap:g}" if cap is not None else " (no budget)")


def requests_text(llm: dict[str, Any], budget: dict[str, Any]) -> str:
    cap = budget.get("max_requests")
    return f"{llm['requests']:,}" + (f" of {cap:,}" if cap is not None else "")


def compact_lines(snap: dict[str, Any], budget: dict[str, Any], final: bool = False) -> list[str]:
    tag = "progress-final" if final else "progress"
    lines = []
    for s in snap["stages"]:
        reasons = ",".join(f"{r}:{n}" for r, n in top_reasons(s)) or "-"
        lines.append(f"{tag} t={snap['t']:.0f}s stage={s['name']} in={s['in']} out={s['out']} "
                     f"rejected={s['rejected']} rows_per_s={snap['rates'].get(s['name'], 0.0):.1f} top_reasons={reasons}")
    llm, eta = snap["llm"], snap["eta"]
    cap = budget.get("max_cost_usd")
    lines.append(f"{tag} t={snap['t']:.0f}s eta={_eta_text(eta)} bound_by={eta.get('stage') or '-'} "
                 f"llm_requests={llm['requests']} in_flight={llm.get('in_flight', 0)} tokens={llm['tokens']} "
                 f"cost_usd={llm['spent_usd']:.4f} "
                 f"budget_usd={'-' if cap is None else format(cap, 'g')}")
    return lines


def live_table(snap: dict[str, Any], budget: dict[str, Any]):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    table = Table(title=f"instructpipe · {snap['t']:.0f} s", title_justify="left", expand=False)
    for name, justify in (("stage", "left"), ("in", "right"), ("out", "right"), ("rejected", "right"),
                          ("rows/s", "right"), ("top reject reasons", "left")):
        table.add_column(name, justify=justify)
    bound: Optional[str] = snap["eta"].get("stage")
    for s in snap["stages"]:
        reasons = ", ".join(f"{r} {n:,}" for r, n in top_reasons(s)) or "-"
        style = "bold yellow" if s["name"] == bound else None
        table.add_row(s["name"], f"{s['in']:,}", f"{s['out']:,}", f"{s['rejected']:,}",
                      f"{snap['rates'].get(s['name'], 0.0):,.1f}", reasons, style=style)
    llm = snap["llm"]
    footer = Text(f"ETA {_eta_text(snap['eta'])} (bound by {bound or '-'}) · LLM requests "
                  f"{requests_text(llm, budget)} ({llm.get('in_flight', 0):,} in flight) · tokens {llm['tokens']:,} · cost {cost_text(llm, budget)}")
    return Group(table, footer)
