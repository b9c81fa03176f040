"""`translate`: instruction and input (optionally output) into the target language, with QA.

Each row's fields go out as one JSON object (kept apart, `response_format: json_object` where the
endpoint supports it) through the generation issue's LLM service: response cache, cluster-wide rate
limits, retries and budget. Fields without language (code, numbers, empty) are copied, not sent.
A translated row gets a new id (`record_id` of the translated text with the target language), `lang`
= target and `meta.translated_from` = the source id, `meta.translation` = "translated".
Rows whose instruction is already in the target language pass through unchanged (only `lang` is set)
with `meta.translation = "source_already_target"`, without a request.
Rejects: the client's reasons (`api_error:400`, `retries_exhausted:503`, `budget_exhausted`, ...),
`truncated`, `translation_refused`, `invalid_json`, and the QA reasons of operators/translate_qa/checks.py
(`empty`, `untranslated`, `wrong_language`, `traditional`, `lost_code`, `lost_url`, `lost_number`,
`lost_placeholder`, `lost_lines`, `length_ratio`). A rejected row that got a translation carries it
(so the rejects show what failed); otherwise it keeps its source text.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from operators.base import StageContext
from operators.llm.endpoint import LLMStageConfig
from operators.filters.langid import UND, ensure_seeded, identify, normalize_lang
from operators.llm.client import Outcome
from operators.llm.operator import LLMOperator, Verdict
from operators.llm.service import Request
from operators.registry import register
from operators.schema import record_id
from operators.translate_qa.checks import TranslationQAConfig, all_code, check_row
from operators.translate_qa.reply import parse_reply, refusal, request_text, system_prompt, wants_json_mode

FIELDS = ("instruction", "input", "output")
CHANGED = ("id", "instruction", "input", "output", "lang")


class TranslateConfig(LLMStageConfig):
    target: str = "zh"  # any language the language check knows; "zh" = Simplified Chinese
    source: Optional[str] = "en"  # language of the rows; None: detected per row
    fields: tuple[Literal["instruction", "input", "output"], ...] = ("instruction", "input")
    untranslated_output: Literal["clear", "keep"] = "clear"  # `output` when it is not translated
    response_format: Literal["auto", "json_object", "none"] = "auto"  # auto: json_object unless the model lacks it
    model: Optional[str] = None  # None: endpoint.model (GPT-4-LLM translated with a cheaper model)
    system_prompt: Optional[str] = None  # {source} and {target} are filled in with language names
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(2048, ge=1)
    seed: Optional[int] = None
    qa: TranslationQAConfig = TranslationQAConfig()


@register
class Translate(LLMOperator):
    name = "translate"
    Config = TranslateConfig
    input_columns = ("id", "instruction", "meta")
    output_columns = ("id", "instruction", "input", "output", "lang", "meta")

    def __init__(self, config: TranslateConfig | None = None, context: StageContext | None = None):
        super().__init__(config, context)
        ensure_seeded()
        self.target = normalize_lang(self.config.target)

    def params(self) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
        if cfg.seed is not None:
            params["seed"] = cfg.seed
        if wants_json_mode(cfg.response_format, self.endpoint.model):
            params["response_format"] = {"type": "json_object"}
        return params

    def format_input(self, row: dict[str, Any]) -> Optional[Request]:
        row["_plan"] = plan = self._plan(row)
        if not plan["send"]:
            return None
        return Request(self._messages(plan["source_lang"], plan["send"]), self.params())

    def format_output(self, row: dict[str, Any], outcome: Optional[Outcome]) -> Verdict:
        reason, detail, meta = self._finish(row, row.pop("_plan"), outcome)
        return reason, detail, {**{name: row[name] for name in CHANGED}, "meta": meta}

    def _plan(self, row: dict[str, Any]) -> dict[str, Any]:
        """Which fields go out; `passthrough` when the instruction is already in the target language."""
        cfg = self.config
        found = {name: identify(row[name])[0] for name in cfg.fields if row[name] and row[name].strip()}
        source_lang = normalize_lang(cfg.source) if cfg.source else found.get("instruction", UND)
        if found.get("instruction") == self.target:
            return {"passthrough": True, "send": {}, "source_lang": source_lang}
        send = {name: row[name] for name, lang in found.items()
                if lang not in (UND, self.target) and not all_code(row[name])}
        return {"passthrough": False, "send": send, "source_lang": "" if source_lang == UND else source_lang}

    def _messages(self, source_lang: str, send: dict[str, str]) -> list[dict[str, str]]:
        prompt = system_prompt(source_lang, self.target, self.config.system_prompt)
        return [{"role": "system", "content": prompt}, {"role": "user", "content": request_text(send)}]

    def _finish(self, row: dict[str, Any], plan: dict[str, Any], outcome: Optional[Outcome]):
        """(reason, detail, meta update); `row` is updated in place with the translation."""
        if plan["passthrough"]:
            row["lang"] = self.target
            return None, None, {"translation": "source_already_target"}
        meta: dict[str, Any] = {"translated_from": row["id"]}
        if outcome is not None:
            if outcome.reason:
                return outcome.reason, outcome.detail or None, meta
            if outcome.finish_reason == "length":
                return "truncated", {"finish_reason": "length", "max_tokens": self.config.max_tokens}, meta
        send = plan["send"]
        translated = parse_reply(outcome.content, list(send)) if outcome is not None else {}
        if translated is None:
            phrase = refusal(outcome.content or "")
            if phrase:
                return "translation_refused", {"phrase": phrase}, meta
            return "invalid_json", {"reply_chars": len(outcome.content or ""), "keys": list(send)}, meta
        for name, text in translated.items():
            phrase = refusal(text, send[name])
            if phrase:
                return "translation_refused", {"field": name, "phrase": phrase}, meta
        verdict = check_row(send, translated, self.target, self.config.qa, plan["source_lang"])
        self._apply(row, translated)
        meta["translation"] = "translated" if send else "no_language"
        if verdict.converted:
            meta["converted_t2s"] = list(verdict.converted)
        return verdict.reason, verdict.detail, meta

    def _apply(self, row: dict[str, Any], translated: dict[str, str]) -> None:
        for name, text in translated.items():
            row[name] = text
        if "output" not in self.config.fields and self.config.untranslated_output == "clear":
            row["output"] = ""
        row["lang"] = self.target
        row["id"] = record_id(row["instruction"], row["input"], self.target)

