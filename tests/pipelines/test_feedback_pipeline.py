"""configs/gpt4_feedback.yaml and configs/pairwise.yaml through the real runner on a local Ray,
against the fake server answering per model (real GPT-4 answers, degraded ones) and judging by a hidden rule."""
import json
from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.feedback_summary import summarise
from pipelines.runner import run_pipeline
from tests.pipelines.helpers import check_balance, check_manifest_files, published_rows
from tests.support.feedback_server import REAL_ANSWERS, FeedbackAnswers, hidden_score
from tests.support.llm_fixtures import CANARY_KEY, CANARY_KEY_ENV
from tests.support.openai_server import FakeOpenAI

pytestmark = pytest.mark.usefixtures("ray_session")
REPO = Path(__file__).resolve().parents[2]


def write_input(tmp_path: Path, n: int) -> str:
    rows = [r for r in json.loads(REAL_ANSWERS.read_text(encoding="utf-8")) if r["instruction"].strip()][:n]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"instruction": r["instruction"], "input": r["input"]}) + "\n"
                            for r in rows + [{"instruction": "[[fault:503]] nobody answers", "input": ""}]))
    return str(path)


def run(config: str, tmp_path: Path, server: FakeOpenAI, n: int = 20) -> dict:
    overrides = [f"endpoints.*.base_url={server.url}", f"endpoints.*.api_key_env={CANARY_KEY_ENV}",
                 "endpoints.*.max_cost_usd=null", "endpoints.*.rpm=null", "endpoints.*.tpm=null",
                 "endpoints.*.num_actors=1", "endpoints.*.concurrency_per_actor=16", "endpoints.*.max_retries=1",
                 "endpoints.*.backoff_base_s=0.05", "endpoints.*.timeout_s=5", "ray.batch_rows=8"]
    cfg, raw = load_config(str(REPO / "configs" / config), overrides, [write_input(tmp_path, n)],
                           str(tmp_path / "out"))
    return run_pipeline(cfg, raw)


def export(tmp_path: Path, manifest: dict, name: str) -> list:
    entry = next(e for e in manifest["exports"] if e["path"].endswith(name))
    return json.loads((tmp_path / "out" / entry["path"]).read_text(encoding="utf-8"))


def test_gpt4_feedback_scores_exports_and_a_free_rerun(tmp_path):
    with FakeOpenAI(latency_s=0.01, answer_fn=FeedbackAnswers(), expected_key=CANARY_KEY) as server:
        manifest = run("gpt4_feedback.yaml", tmp_path, server)
        check_balance(manifest, 20 + 1, tmp_path / "out")  # 20 real instructions and one nobody answers
        check_manifest_files(tmp_path / "out", manifest)
        assert manifest["counts"] == {"input": 21, "output": 20, "rejected": 1}
        rejects = published_rows(tmp_path / "out", "rejects")
        assert [(r["stage"], r["reason"]) for r in rejects] == [("generate_candidates", "too_few_candidates")]
        rows = published_rows(tmp_path / "out")
        for row in rows:
            assert [c["source"] for c in row["candidates"]] == ["gpt4", "davinci003", "opt_iml"]
            assert all(c["score"] == hidden_score(c["response"]) for c in row["candidates"])
        scores = manifest["feedback"]["scores"]
        assert scores["gpt4"]["mean"] > scores["davinci003"]["mean"] > scores["opt_iml"]["mean"]
        assert sum(scores["gpt4"]["histogram"]["counts"]) == scores["gpt4"]["scored"] == 20
        assert set(manifest["llm_endpoints"]) == {f"endpoints.{n}" for n in ("gpt4", "davinci003", "opt_iml", "judge")}
        assert manifest["llm_endpoints"]["endpoints.judge"]["requests"] == 60
        v2 = export(tmp_path, manifest, "comparison_data_v2.json")
        assert len(v2) == 20 and {"user_input", "responses_and_scores"} == set(v2[0])
        assert [s["score"] for s in v2[0]["responses_and_scores"]] == sorted(
            (s["score"] for s in v2[0]["responses_and_scores"]), reverse=True)
        for item in export(tmp_path, manifest, "comparison_data_v1.json"):
            assert hidden_score(item["completion_a"]) >= hidden_score(item["completion_b"]) + 1
        plot = summarise(str(tmp_path / "out"))  # the code that summarises the paper's ratings
        assert plot["mean"] == {s: v["mean"] for s, v in scores.items()} and len(plot["rows"]) == 30
        paid = server.total
        again = run("gpt4_feedback.yaml", tmp_path, server)
        assert server.total == paid + 3 * 2  # only the failing row (3 endpoints x 2 attempts): the rest is cached
        assert again["shards"] == manifest["shards"] and again["exports"] == manifest["exports"]
        assert again["llm"]["judge"]["requests"] == 0 and again["llm"]["judge"]["cached"] == 60


def test_pairwise_with_an_always_first_judge_gives_only_ties_and_no_pairs(tmp_path):
    with FakeOpenAI(latency_s=0.01, answer_fn=FeedbackAnswers(first_bias=1.0), expected_key=CANARY_KEY) as server:
        manifest = run("pairwise.yaml", tmp_path, server, n=8)
        check_balance(manifest, 8 + 1, tmp_path / "out")
        stats = manifest["feedback"]["pairwise"]["judge"]
        assert stats["pairs"] == 8 and stats["consistency_rate"] == 0.0
        assert stats["first_position_win_rate"] == 1.0 and stats["results"] == {"inconsistent": 8}
        assert stats["win_rates"] == {"a": 0.5, "b": 0.5}
        assert export(tmp_path, manifest, "preference_pairs.json") == []
        assert export(tmp_path, manifest, "preference_pairs_chat.json") == []


def test_critique_revise_pairs_balance(tmp_path):
    with FakeOpenAI(latency_s=0.01, answer_fn=FeedbackAnswers(), expected_key=CANARY_KEY) as server:
        manifest = run("critique_revise.yaml", tmp_path, server, n=6)
        check_balance(manifest, 6 + 1, tmp_path / "out")
        assert manifest["counts"] == {"input": 7, "output": 6, "rejected": 1}
        rows = published_rows(tmp_path / "out")
        pairs = export(tmp_path, manifest, "revision_pairs.json")
        assert sorted((p["chosen"], p["rejected"]) for p in pairs) == sorted(
            (r["output"], json.loads(r["meta"])["critique_revise"]["original"]) for r in rows)
        assert len(export(tmp_path, manifest, "revision_pairs_chat.json")) == 6
        assert set(manifest["llm_endpoints"]) == {"endpoints.answer", "endpoints.reviser"}
        assert manifest["llm_endpoints"]["endpoints.reviser"]["requests"] == 12  # a critique and a revision each
