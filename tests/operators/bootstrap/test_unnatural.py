"""Unnatural Instructions' open fourth example: parsing and the per-generation filters."""
import pytest

from operators.base import StageContext
from operators.bootstrap.seeds import parse_seeds
from operators.bootstrap.unnatural import UnnaturalConfig, UnnaturalSource, example_text
from operators.llm.client import Outcome
from tests.support.llm_fixtures import endpoint_settings
from tests.support.shared_data import seed_tasks


@pytest.fixture
def source(fake_openai):
    op = UnnaturalSource(UnnaturalConfig(seeds="x", target=10),
                         StageContext("unnatural", "t", {"endpoint": endpoint_settings(fake_openai)}))
    op.start(parse_seeds((str(i), t) for i, t in enumerate(seed_tasks())))
    op._seen = set()
    yield op
    op.service.close()


def test_prompt_shows_three_and_leaves_the_fourth_open(source):
    prompt = source.prompts(0)[0]
    text = prompt.request.messages[0]["content"]
    assert text.count("Constraints:") == 3 and text.rstrip().endswith("Example 4:") and len(prompt.shown) == 3


def test_fields_copies_and_duplicates(source):
    prompt = source.prompts(0)[0]
    good = example_text(4, "Count the vowels in the sentence.", "An apple a day.", "Answer with a number.")
    first = source.parse(Outcome(content=good.split(":", 1)[1], finish_reason="stop"), prompt)[0]
    assert first.reason is None and first.instruction == "Count the vowels in the sentence. Answer with a number."
    assert first.input == "An apple a day." and first.extra == {"constraints": "Answer with a number."}
    again = source.parse(Outcome(content=good, finish_reason="stop"), prompt)[0]
    assert again.reason == "duplicate"
    missing = source.parse(Outcome(content="Instruction: Do it.\nInput: x", finish_reason="stop"), prompt)[0]
    assert missing.reason == "missing_field" and missing.detail == {"missing": ["constraints"]}
    copy = example_text(4, prompt.shown[0], "y", "z")
    assert source.parse(Outcome(content=copy, finish_reason="stop"), prompt)[0].reason == "copy_of_demonstration"
