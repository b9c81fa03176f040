import json

from operators.llm.accounting import llm_totals, merge, without_run_fields


def meta(stage, **entry):
    return json.dumps({"llm": {stage: entry}})


def test_totals_per_stage_count_paid_and_cached_rows():
    rows = [meta("generate_response", usage={"prompt_tokens": 10, "completion_tokens": 5}, cost_usd=0.5,
                 attempts=2, cached=False),
            meta("generate_response", usage={"prompt_tokens": 10, "completion_tokens": 5}, cost_usd=0.5,
                 attempts=0, cached=True),
            json.dumps({"llm": {"generate_response": {"attempts": 3, "cost_usd": 0.0, "usage": {}},
                                "translate": {"usage": {"prompt_tokens": 1, "completion_tokens": 1},
                                              "cost_usd": 0.25, "attempts": 1}}}),
            None, "{}"]
    totals = llm_totals(rows)
    assert totals["generate_response"] == {"requests": 2, "attempts": 5, "cached": 1, "prompt_tokens": 10,
                                           "completion_tokens": 5, "cost_usd": 0.5, "answers_prompt_tokens": 20,
                                           "answers_completion_tokens": 10, "answers_cost_usd": 1.0}
    assert merge(totals, totals)["translate"]["cost_usd"] == 0.5
    assert merge(totals, totals)["generate_response"]["answers_cost_usd"] == 2.0


def test_published_meta_leaves_out_the_facts_of_one_run():
    fresh = meta("generate_response", model="m", usage={"completion_tokens": 5}, cost_usd=0.5, latency_s=1.25,
                 attempts=2, cached=False)
    hit = meta("generate_response", model="m", usage={"completion_tokens": 5}, cost_usd=0.5, latency_s=0.0,
               attempts=0, cached=True)
    assert without_run_fields(fresh) == without_run_fields(hit)
    assert json.loads(without_run_fields(fresh))["llm"]["generate_response"] == {
        "model": "m", "usage": {"completion_tokens": 5}, "cost_usd": 0.5}
    assert without_run_fields('{"stages": ["read"]}') == '{"stages": ["read"]}'
