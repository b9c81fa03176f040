"""The Alpaca method's prompt, parser and the shared per-candidate checks (no server needed)."""
import pytest

from operators.bootstrap.alpaca import AlpacaConfig, AlpacaSource, format_task, parse_item
from operators.bootstrap.checks import CandidateChecks, check_instruction
from operators.bootstrap.seeds import SeedTask, parse_seeds
from operators.base import StageContext
from operators.llm.client import Outcome
from tests.support.llm_fixtures import endpoint_settings
from tests.support.shared_data import BELLE_ZH_SEEDS, SELF_INSTRUCT_SEEDS, seed_tasks


@pytest.fixture
def source(fake_openai):
    cfg = AlpacaConfig(seeds="x", target=10, prompts_per_round=4)
    op = AlpacaSource(cfg, StageContext("alpaca", "t", {"endpoint": endpoint_settings(fake_openai)}))
    op.start(parse_seeds((str(i), t) for i, t in enumerate(seed_tasks())))
    yield op
    op.service.close()


def test_prompts_are_reproducible_per_round_and_differ_between_rounds(source):
    first, again, other = source.prompts(0), source.prompts(0), source.prompts(1)
    assert [p.request for p in first] == [p.request for p in again]
    assert [p.examples for p in first] != [p.examples for p in other]
    text = first[0].request.messages[0]["content"]
    assert "numbering from 4 to 20" in text and text.count("Instruction:") == 3
    assert first[0].request.params == {"temperature": 1.0, "top_p": 1.0, "max_tokens": 3072}


def test_parser_reads_items_and_drops_the_truncated_last_one(source):
    items = [format_task(4, "Name three rivers in Africa.", "", "Nile, Congo, Niger."),
             format_task(5, "Reverse the word.", "stressed", "desserts"),
             "6. Instruction: missing the rest",
             format_task(7, "Explain tides in one", "", "")]
    parsed = source.parse(Outcome(content="\n###\n".join(items), finish_reason="length"))
    assert [(c.instruction, c.input, c.output, c.reason) for c in parsed[:2]] == [
        ("Name three rivers in Africa.", "", "Nile, Congo, Niger.", None),
        ("Reverse the word.", "stressed", "desserts", None)]
    assert parsed[2].reason == "unparseable" and parsed[3].reason == "truncated"
    assert source.parse(Outcome(content=items[0], finish_reason="stop"))[0].reason is None
    assert parse_item("1. Input:\nx\n1. Instruction: y\n1. Output:\nz").reason == "unparseable"


@pytest.mark.parametrize("text,reason", [
    ("Sort these numbers.", "too_short"),
    ("word " * 151, "too_long"),
    ("Draw a cat sitting on a wall.", "blacklist:draw"),
    ("Make a flowchart of the process.", "blacklist:flowchart"),
    ("Write a program that prints the primes.", "write_a_program"),
    ('"Quote" the following text please now.', "starts_with_punctuation"),
    ("Élaborez une liste de cinq choses.", "non_ascii_start"),
    ("Mapping the genome is a hard task.", None),  # "map" only as a whole word
])
def test_candidate_checks(text, reason):
    assert check_instruction(text, "en", AlpacaConfig(seeds="x", target=1).checks)[0] == reason


def test_chinese_checks_count_characters():
    cfg = CandidateChecks()
    assert check_instruction("写诗", "zh", cfg)[0] == "too_short"
    assert check_instruction("请画出一张中国地图并标出省会", "zh", cfg)[0].startswith("blacklist:")
    assert check_instruction("请解释为什么天空是蓝色的", "zh", cfg)[0] is None


def test_seed_schemas():
    tasks = parse_seeds((str(i), t) for i, t in enumerate(seed_tasks()))
    assert len(tasks) == 175 and sum(t.is_classification for t in tasks) > 0
    zh = parse_seeds((str(i), t) for i, t in enumerate(seed_tasks(BELLE_ZH_SEEDS)))
    assert len(zh) == 175 and zh[0].instances
    alpaca = parse_seeds([("a:1", {"instruction": "Add 2 and 3.", "input": "", "output": "5"}), ("a:2", {"x": 1})])
    assert alpaca == [SeedTask("a:1", "Add 2 and 3.", (("", "5"),), False)]
    assert SELF_INSTRUCT_SEEDS.exists()
