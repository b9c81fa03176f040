import json

from operators.llm.accounting import llm_totals, merge


def meta(stage, **entry):
    return json.dumps({"llm": {stage: entry}})


def test_totals_per_stage_count_paid_and_cached_rows():
    rows = [meta("generate_response", usage={"prompt_tokens": 10, "completion_tokens": 5}, cost_usd=0.5,
                 attempts=2, cached=False),
            meta("generate_response", usage={"prompt_tokens": 10, "completion_tokens": 5}, cost_usd=0.0,
                 attempts=0, cached=True),
            json.dumps({"llm": {"generate_response": {"attempts": 3, "cost_usd": 0.0, "usage": {}},
                                "translate": {"usage": {"prompt_tokens": 1, "completion_tokens": 1},
                                              "cost_usd": 0.25, "attempts": 1}}}),
            None, "{}"]
    totals = llm_totals(rows)
    assert totals["generate_response"] == {"requests": 2, "attempts": 5, "cached": 1, "prompt_tokens": 10,
                                           "completion_tokens": 5, "cost_usd": 0.5}
    assert merge(totals, totals)["translate"]["cost_usd"] == 0.5
