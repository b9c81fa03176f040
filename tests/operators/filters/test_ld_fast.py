"""The numpy langdetect detector gives langdetect's own probabilities, bit for bit."""
import random

import pytest
from langdetect import detector_factory

from operators.filters import ld_fast
from operators.filters.langid import ensure_seeded

TEXTS = [
    "Wo ist der Laden? Ich weiss es nicht.", "El cielo azul es tan hermoso.", "Nous avons passé un super moment.",
    "1. Amazon River\n2. Orinoco River\n3. Paraná River", "cos(π/3)", "Er mag Musik hören.",
    "Привет, как дела?", "这是一个测试。Mixed 文本 with English", "안녕하세요", "ok", "x" * 600,
]


def _probabilities(create, text, trials):
    detector = create()
    detector.n_trial = trials
    detector.set_max_text_length(500)
    detector.append(text)
    try:
        return [(p.lang, p.prob) for p in detector.get_probabilities()]
    except Exception as error:  # both must fail the same way on featureless text
        return type(error).__name__


@pytest.mark.parametrize("trials", [3, 7])
def test_same_probabilities_as_langdetect(trials):
    ensure_seeded()
    factory = detector_factory._factory
    rng = random.Random(5)
    texts = TEXTS + ["".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(1, 60))) for _ in range(20)]
    for text in texts:
        assert _probabilities(lambda: ld_fast.create(factory), text, trials) == \
            _probabilities(factory.create, text, trials), text
