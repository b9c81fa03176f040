"""Every built-in operator is found under its config name, importing only its own module."""
import subprocess
import sys

import pytest

from operators.registry import BUILTIN_MODULES, get_operator
from tests.pipelines.cli_helpers import REPO


@pytest.mark.parametrize("name", sorted(BUILTIN_MODULES))
def test_builtin_names_resolve_to_their_class(name):
    op = get_operator(name)
    assert op.name == name and op.__module__ == BUILTIN_MODULES[name]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: .*dedup.*normalize"):
        get_operator("no_such_operator")


def test_looking_up_a_filter_does_not_import_the_llm_client():
    probe = "import sys; from operators.registry import get_operator; get_operator('normalize'); " \
            "print('operators.llm.client' in sys.modules, 'operators.dedup.stage' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
