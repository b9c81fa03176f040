import pytest

from operators.feedback.prompts import parse_score, parse_verdict


@pytest.mark.parametrize("reply, score", [
    ("7", 7.0), ("7.5\nGood detail.", 7.5), ("[[7]]", 7.0), ("Rating: 7\nok", 7.0), ("rating: [[8]] fine", 8.0),
    ("Score: 7/10", 7.0), ("I would give it 6/10.", 6.0), ("**9**\nexcellent", 9.0), ("10\n", 10.0),
    ("Rating: 1", 1.0)])
def test_scores_read_in_every_style(reply, score):
    assert parse_score(reply) == score


@pytest.mark.parametrize("reply", ["11", "0", "Rating: 11", "[[12]]", "15/10", "no idea", "", None,
                                   "It is a decent answer overall.\n8"])
def test_out_of_range_or_missing_is_unparsed_never_clipped(reply):
    assert parse_score(reply) is None


def test_verdict_is_the_last_bracketed_letter():
    assert parse_verdict("A is longer but [[B]] is right") == "B"
    assert parse_verdict("first [[A]] then, on reflection, [[C]]") == "C"
    assert parse_verdict("A is better") is None and parse_verdict(None) is None
