"""Where a release came from, read from its manifest: inputs, the stage chain with counts, the models
and prompts of LLM stages (template name and a hash of the prompt text), licence fields of `card:`."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

from operators.registry import get_operator


def stage_configs(config: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(stage name, op, options) for each entry of the config's `stages:` list."""
    out, seen = [], {}
    for entry in config.get("stages") or []:
        entry = {entry: {}} if isinstance(entry, str) else entry
        if isinstance(entry, dict) and len(entry) == 1:
            op, options = next(iter(entry.items()))
            seen[op] = seen.get(op, 0) + 1  # as pipelines/config.py names repeated stages
            name = op if seen[op] == 1 else f"{op}_{seen[op]}"
            out.append((str(name), str(op), options if isinstance(options, dict) else {}))
    return out


def prompt_identity(op: str, options: dict[str, Any]) -> Optional[dict[str, Any]]:
    """Template name and sha256 of the prompt text an LLM stage sends (None: not an LLM stage)."""
    from operators.llm.operator import LLMOperator
    try:
        cls = get_operator(op)
    except Exception:
        return None
    if not issubclass(cls, LLMOperator):
        return None
    try:
        cfg = cls.Config.model_validate(options)
    except Exception:
        cfg = None
    template = getattr(cfg, "template", None)
    system = getattr(cfg, "system_prompt", None)
    texts: list[str] = []
    if template:
        from operators.llm.prompts import TEMPLATES
        texts = list(TEMPLATES.get(template, ()))
    if system is None and op == "translate":
        from operators.translate_qa.reply import SYSTEM_PROMPT
        system = SYSTEM_PROMPT
    payload = json.dumps({"op": op, "template": template, "texts": texts, "system": system}, ensure_ascii=False)
    return {"template": template or f"{op} built-in", "system_prompt": system is not None,
            "sha256": hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]}


def models_and_prompts(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    config = manifest.get("config") or {}
    endpoint = config.get("endpoint") if isinstance(config.get("endpoint"), dict) else {}
    used = manifest.get("llm") or {}
    out = []
    for name, op, options in stage_configs(config):
        prompt = prompt_identity(op, options)
        if prompt is None:
            continue
        out.append({"stage": name, "op": op, "model": options.get("model") or endpoint.get("model"),
                    "endpoint": endpoint.get("base_url"), **prompt,
                    "requests": (used.get(name) or {}).get("requests")})
    source = config.get("source")
    if isinstance(source, dict) and source.get("method"):
        options = {k: v for k, v in source.items() if k != "method"}
        out.insert(0, {"stage": source["method"], "op": source["method"],
                       "model": options.get("model") or endpoint.get("model"), "endpoint": endpoint.get("base_url"),
                       "template": f"{source['method']} built-in", "system_prompt": False, "sha256": None,
                       "requests": None})
    return out


def licence(manifest: dict[str, Any]) -> dict[str, Any]:
    card = (manifest.get("config") or {}).get("card")
    return {k: v for k, v in card.items() if v not in (None, "")} if isinstance(card, dict) else {}


def lineage(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "inputs": manifest.get("inputs") or [],
        "stages": [{"name": s.get("name"), "in": s.get("in"), "out": s.get("out"), "rejected": s.get("rejected")}
                   for s in manifest.get("stages") or []],
        "llm": models_and_prompts(manifest),
        "licence": licence(manifest),
    }


def lineage_markdown(manifest: dict[str, Any]) -> str:
    info = lineage(manifest)
    chain = " → ".join(f"{s['name']} ({s['in']} in, {s['out']} out)" for s in info["stages"]) or "-"
    lines = [f"Stage chain: {chain}.", ""]
    if info["llm"]:
        lines += ["| stage | model | prompt template | prompt sha256 |", "|---|---|---|---|"]
        lines += [f"| {m['stage']} | `{m['model'] or '-'}` | {m['template']} | `{m['sha256'] or '-'}` |"
                  for m in info["llm"]]
        lines.append("")
    if info["licence"]:
        lines += [f"- **{key}**: {value}" for key, value in info["licence"].items()]
    else:
        lines.append("- **license**: not stated (set `card.license` in the config)")
    return "\n".join(lines)
