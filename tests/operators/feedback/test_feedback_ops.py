"""generate_candidates, judge and compare against the fake server (real HTTP, no Ray)."""
import json
import statistics

import pytest

from operators.base import StageContext, run_operator
from operators.feedback.candidates import GenerateCandidates
from operators.feedback.compare import Compare
from operators.feedback.judge import Judge
from operators.schema import make_record, records_to_table
from tests.support.feedback_server import REAL_ANSWERS, FeedbackAnswers, degrade, hidden_score
from tests.support.llm_fixtures import CANARY_KEY, endpoint_settings
from tests.support.openai_server import FakeOpenAI

MODELS = {"gpt4": "gpt-4", "davinci003": "text-davinci-003", "opt_iml": "opt-iml-1.3b", "judge": "gpt-4"}


@pytest.fixture(scope="module")
def real_rows():
    rows = json.loads(REAL_ANSWERS.read_text(encoding="utf-8"))
    return [r for r in rows if r["instruction"].strip()][:12]


def serve(first_bias=0.0, **faults):
    answers = FeedbackAnswers(first_bias=first_bias)
    return FakeOpenAI(answer_fn=answers, expected_key=CANARY_KEY, **faults), answers


def settings(server, tmp_path):
    return {"endpoint": None, "output_uri": str(tmp_path),
            "endpoints": {n: endpoint_settings(server, model=m, cache_uri=None) for n, m in MODELS.items()}}


def apply(op_class, config, table, tmp_path, server, stage=None):
    op = op_class(op_class.Config.model_validate(config),
                  StageContext(stage=stage or op_class.name, run_id="r", settings=settings(server, tmp_path)))
    out, count = run_operator(op, table)
    return out, count


def table(rows):
    return records_to_table([make_record(r["instruction"], r.get("input", ""), source=f"t:{i}")
                             for i, r in enumerate(rows)])


def live(out):
    return [r for r in out.to_pylist() if r["reason"] is None]


def test_candidates_from_named_endpoints_and_judged_scores_follow_the_rule(real_rows, tmp_path):
    server, _ = serve()
    with server:
        cands, count = apply(GenerateCandidates, {"endpoints": ["gpt4", "davinci003", "opt_iml"]},
                             table(real_rows), tmp_path, server)
        assert (count.rows_in, count.rows_out, count.rejected) == (12, 12, 0)
        first = cands.to_pylist()[0]["candidates"]
        assert [c["source"] for c in first] == ["gpt4", "davinci003", "opt_iml"]
        assert first[0]["response"] == real_rows[0]["output"]
        assert first[1]["response"] == degrade(real_rows[0]["output"], "text-davinci-003")
        assert first[0]["usage"]["completion_tokens"] > 0 and first[0]["finish_reason"] == "stop"
        for name in ("gpt4", "davinci003", "opt_iml"):  # each named endpoint caches in its own folder
            assert any((tmp_path / "_llm_cache" / name).iterdir())
        judged, count = apply(Judge, {"endpoint": "judge"}, cands, tmp_path, server)
        assert count.rows_out == 12
        scores = {s: [] for s in ("gpt4", "davinci003", "opt_iml")}
        for row in live(judged):
            for c in row["candidates"]:
                assert c["score"] == hidden_score(c["response"]) and c["score_reason"] is None
                scores[c["source"]].append(c["score"])
        means = {s: statistics.fmean(v) for s, v in scores.items()}
        assert means["gpt4"] > means["davinci003"] > means["opt_iml"]
        entries = json.loads(live(judged)[0]["meta"])["llm"]["judge"]
        assert len(entries) == 3 and {e["endpoint"] for e in entries} == {"endpoints.judge"}
        before = server.total
        apply(Judge, {"endpoint": "judge"}, cands, tmp_path, server)  # the same again: all from the cache
        assert server.total == before


def test_a_row_keeps_its_answers_when_one_endpoint_fails(real_rows, tmp_path):
    server, _ = serve()
    with server:
        rows = real_rows[:2] + [{"instruction": "[[fault:503]] never answered"}]
        out, count = apply(GenerateCandidates, {"endpoints": ["gpt4", "opt_iml"], "min_candidates": 2},
                           table(rows), tmp_path, server)
        assert (count.rows_in, count.rows_out, count.rejected) == (3, 2, 1)
        bad = [r for r in out.to_pylist() if r["reason"]][0]
        assert bad["reason"] == "too_few_candidates"
        assert json.loads(bad["detail"])["failures"] == {"gpt4": "retries_exhausted:503",
                                                         "opt_iml": "retries_exhausted:503"}
        assert all(c["response"] is None for c in bad["candidates"])


def test_samples_of_one_endpoint_are_distinct_requests(real_rows, tmp_path):
    server, _ = serve()
    with server:
        out, _ = apply(GenerateCandidates, {"endpoint": "gpt4", "samples": 3, "temperature": 0.7},
                       table(real_rows[:2]), tmp_path, server)
        assert [c["source"] for c in out.to_pylist()[0]["candidates"]] == ["gpt4#1", "gpt4#2", "gpt4#3"]
        assert server.total == 6


def test_unparsed_judge_replies_are_asked_once_more_then_null(tmp_path):
    server, _ = serve()
    with server:
        rows = [{"instruction": "Explain tides [[judge:unparsedx1]]"}, {"instruction": "Name a colour [[judge:11]]"},
                {"instruction": "Say hi [[judge:unparsed]]"}]
        cands, _ = apply(GenerateCandidates, {"endpoints": ["gpt4"]}, table(rows), tmp_path, server)
        out, count = apply(Judge, {"endpoint": "judge", "samples": 2}, cands, tmp_path, server)
        got = {r["instruction"]: r for r in out.to_pylist()}
        retried = got[rows[0]["instruction"]]["candidates"][0]
        assert retried["score"] == hidden_score(retried["response"]) and retried["score_spread"] == 0
        for text in (rows[1]["instruction"], rows[2]["instruction"]):  # 11 is never clipped to 10
            assert got[text]["candidates"][0]["score"] is None
            assert got[text]["candidates"][0]["score_reason"] == "judge_unparsed"
            assert got[text]["reason"] == "judge_unparsed"
        assert (count.rows_out, count.rejected) == (1, 2)
        assert len(json.loads(got[rows[1]["instruction"]]["meta"])["llm"]["judge"]) == 4  # 2 samples x 2 tries


def test_every_pair_is_judged_in_both_orders(real_rows, tmp_path):
    server, answers = serve(first_bias=0.0)
    with server:
        cands, _ = apply(GenerateCandidates, {"endpoints": ["gpt4", "davinci003", "opt_iml"]},
                         table(real_rows[:6]), tmp_path, server)
        out, count = apply(Compare, {"endpoint": "judge"}, cands, tmp_path, server)
        assert count.rows_out == 6
        for row in out.to_pylist():
            responses = {c["source"]: c["response"] for c in row["candidates"]}
            assert len(row["comparisons"]) == 3
            for cmp in row["comparisons"]:
                a, b = responses[cmp["a"]], responses[cmp["b"]]
                assert answers.shown[(a, b)] >= 1 and answers.shown[(b, a)] >= 1
                expected = "a" if hidden_score(a) > hidden_score(b) else "b" if hidden_score(b) > hidden_score(a) \
                    else "tie"
                assert (cmp["ab"], cmp["ba"], cmp["result"]) == (expected, expected, expected)


def test_a_judge_that_always_prefers_the_first_answer_only_ties(real_rows, tmp_path):
    server, _ = serve(first_bias=1.0)
    with server:
        cands, _ = apply(GenerateCandidates, {"endpoints": ["gpt4", "opt_iml"]}, table(real_rows[:4]), tmp_path,
                         server)
        out, _ = apply(Compare, {"endpoint": "judge"}, cands, tmp_path, server)
        comparisons = [c for row in out.to_pylist() for c in row["comparisons"]]
        assert len(comparisons) == 4
        assert all(c["ab"] == "a" and c["ba"] == "b" and c["result"] == "inconsistent" for c in comparisons)


def test_critique_then_revision_become_chosen_and_rejected(real_rows, tmp_path):
    from operators.feedback.critique_revise import PRINCIPLES, CritiqueRevise
    from operators.feedback.layouts import items
    server, _ = serve()
    rows = [{"instruction": r["instruction"], "input": r["input"], "output": r["output"]} for r in real_rows[:4]]
    rows += [{"instruction": "Say hi [[revise:same]]", "output": "Hi."}, {"instruction": "Nothing yet", "output": ""}]
    batch = records_to_table([make_record(r["instruction"], r.get("input", ""), r["output"], source=f"t:{i}")
                              for i, r in enumerate(rows)])
    with server:
        out, count = apply(CritiqueRevise, {"endpoint": "judge"}, batch, tmp_path, server)
        assert (count.rows_in, count.rows_out, count.rejected) == (6, 4, 2)
        got = {r["instruction"]: r for r in out.to_pylist()}
        assert got["Say hi [[revise:same]]"]["reason"] == "revision_unchanged"
        assert got["Nothing yet"]["reason"] == "empty_output"
        for row in rows[:4]:
            kept = got[row["instruction"]]
            record = json.loads(kept["meta"])["critique_revise"]
            assert kept["output"] == row["output"] + " Sources: see the references above." == record["revision"]
            assert record["original"] == row["output"] and record["principle"] in PRINCIPLES
            assert record["critique"].startswith("The answer could")
            assert len(json.loads(kept["meta"])["llm"]["critique_revise"]) == 2  # critique, then revision
            (pair,) = items(kept, "pairs", "revisions")
            assert (pair["chosen"], pair["rejected"]) == (kept["output"], row["output"])
        again, _ = apply(CritiqueRevise, {"endpoint": "judge"}, batch, tmp_path, server)  # same principles
        assert [json.loads(r["meta"]).get("critique_revise", {}).get("principle") for r in again.to_pylist()] == \
            [json.loads(r["meta"]).get("critique_revise", {}).get("principle") for r in out.to_pylist()]
