"""Self-Instruct's prompts, list parser and instance clean-up (the fake server only builds the service)."""
import pytest

from operators.base import StageContext
from operators.bootstrap.instances import clean_instances, parse_instances
from operators.bootstrap.seeds import parse_seeds
from operators.bootstrap.self_instruct import SelfInstructConfig, SelfInstructSource
from operators.llm.client import Outcome
from tests.support.llm_fixtures import endpoint_settings
from tests.support.shared_data import seed_tasks


@pytest.fixture
def source(fake_openai):
    op = SelfInstructSource(SelfInstructConfig(seeds="x", target=10),
                            StageContext("self_instruct", "t", {"endpoint": endpoint_settings(fake_openai)}))
    op.start(parse_seeds((str(i), t) for i, t in enumerate(seed_tasks())))
    yield op
    op.service.close()


def test_eight_examples_six_from_seeds_two_generated(source):
    first = source.prompts(0)
    assert len(first) == 5 and all(len(p.examples) == 8 for p in first)
    assert not any(e.startswith("generated:") for p in first for e in p.examples)
    assert first[0].request.params == {"temperature": 0.7, "top_p": 0.5, "presence_penalty": 2.0, "max_tokens": 1024}
    source.generated.extend(["Name a colour.", "Add two numbers together please.", "Spell the word backwards."])
    later = source.prompts(1)
    assert all(sum(e.startswith("generated:") for e in p.examples) == 2 for p in later)
    assert "continuing from 9" in later[0].request.messages[0]["content"]


def test_list_parser_joins_continuations_and_drops_the_cut_item(source):
    text = "9. Name three rivers.\n10. Describe a cat\nin two sentences.\n11. Explain the"
    parsed = source.parse(Outcome(content=text, finish_reason="length"))
    assert [c.instruction for c in parsed[:2]] == ["Name three rivers.", "Describe a cat in two sentences."]
    assert parsed[2].reason == "truncated"
    assert source.parse(Outcome(content="just prose", finish_reason="stop"))[0].reason == "unparseable"


def test_instances_input_first_and_output_first():
    text = "Example 1:\nInput: 2 + 2\nOutput: 4\nExample 2:\nInput: <noinput>\nOutput: 7"
    assert parse_instances(text, False) == [("2 + 2", "4"), ("", "7")]
    labelled = "Class label: Positive\nInput: Great food.\nClass label: Negative\nInput: Cold soup."
    assert parse_instances(labelled, True) == [("Great food.", "Positive"), ("Cold soup.", "Negative")]


def test_clean_up_as_the_reference_fine_tuning_preparation():
    assert clean_instances([("a", "a"), ("b", ""), ("c:", "x"), ("d", "ok")], 5) == ([("d", "ok")], None)
    assert clean_instances([("x", "1"), ("x", "2")], 5)[1] == "conflicting_instances"
    assert clean_instances([("", "1"), ("", "2")], 5) == ([("", "1"), ("", "2")], None)  # empty inputs may differ
    assert clean_instances([("a", "a")], 5) == ([], "no_instances")
    assert len(clean_instances([(str(i), f"o{i}") for i in range(9)], 5)[0]) == 5
