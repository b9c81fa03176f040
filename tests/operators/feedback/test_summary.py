"""The score and pairwise statistics; the paper's own ratings through the same code."""
from operators.feedback.summary import pairwise_summary, score_bin, score_summary
from pipelines.feedback_summary import main, summarise
from tests.support.shared_data import SHARED

CMP_SCORES = SHARED / "gpt4-llm-samples" / "cmp_data_scores.json"


def test_the_papers_means_come_out_of_its_data():
    plot = summarise(str(CMP_SCORES))
    assert {s: round(m, 2) for s, m in plot["mean"].items()} == {"gpt4": 8.94, "text-davinci-003": 8.72,
                                                               "icm-1.3b": 4.23}
    for source in plot["sources"]:
        assert sum(plot["counts"][source]) == plot["n"][source] > 50_000
    assert plot["mode"]["gpt4"] == 9 and plot["mode_share"]["gpt4"] > 0.85  # "very centralized"
    assert {r["source"] for r in plot["rows"]} == set(plot["sources"]) and len(plot["rows"]) == 30


def test_the_cli_writes_the_json(tmp_path, capsys):
    assert main([str(CMP_SCORES), "--out", str(tmp_path / "s.json")]) == 0
    assert "gpt4 8.94" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.json")]) == 2


def test_histogram_bins_and_unscored():
    assert [score_bin(x) for x in (1, 1.4, 7.5, 9.49, 10)] == [1, 1, 8, 9, 10]
    s = score_summary({"m": [9, 9, 7.5, None]})["m"]
    assert (s["n"], s["scored"], s["unscored"], s["mean"]) == (4, 3, 1, 8.5)
    assert s["histogram"]["counts"] == [0] * 7 + [1, 2, 0]


def cmp(a, b, ab, ba, a_chars=10, b_chars=20, judge="judge"):
    result = "judge_unparsed" if ab is None or ba is None else ab if ab == ba else "inconsistent"
    return {"a": a, "b": b, "ab": ab, "ba": ba, "result": result, "judge": judge, "a_chars": a_chars,
            "b_chars": b_chars}


def test_pairwise_statistics():
    items = [cmp("x", "y", "a", "a"),          # x wins both orders
             cmp("x", "y", "a", "b"),          # each order prefers the first shown: inconsistent
             cmp("x", "y", "tie", "tie"),      # a real tie
             cmp("x", "y", None, "b")]         # unreadable: left out of the rates
    s = pairwise_summary(items)["judge"]
    assert (s["pairs"], s["readable_pairs"]) == (4, 3)
    assert s["consistency_rate"] == round(2 / 3, 4)
    assert s["first_position_win_rate"] == round(4 / 7, 4)  # of 7 readable single verdicts, 4 chose the first
    assert s["win_rates"] == {"x": round((1 + 0.5 + 0.5) / 3, 4), "y": round((0.5 + 0.5) / 3, 4)}
    assert s["longer_answer_win_rate"] == round((0 + 0.5 + 0.5) / 3, 4)  # y is the longer answer
    assert s["results"] == {"a": 1, "inconsistent": 1, "judge_unparsed": 1, "tie": 1}
