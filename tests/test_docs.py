"""README.md and docs/: every relative link resolves, every documented `run`/`validate` line validates."""
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from tests.pipelines.cli_helpers import REPO, cli

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
COMMAND = re.compile(r"(?:^|&&\s*|\s)((?:[A-Z_]+=\S*\s+)*)(?:instructpipe|python -m pipelines)\s+(run|validate)\s+(.*)$")
LOCAL_EXTRA_MISSING = 'pip install -e ".[local]"'


def code_lines(page: Path) -> list[str]:
    """Lines of fenced code blocks, with `\\` continuations joined and comments cut; ```text blocks
    show output, not commands."""
    lines, fenced, output, pending = [], False, False, ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced, output = not fenced, line.strip() == "```text"
            continue
        if not fenced or output:
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        lines.append(re.sub(r"\s+#\s.*$", "", line))
    return lines


def documented_commands() -> list[tuple[str, str]]:
    """(first page showing it, command line), each distinct command once."""
    found: dict[str, str] = {}
    for page in PAGES:
        for line in code_lines(page):
            match = COMMAND.search(line)
            if match and "CONFIG" not in match.group(3):
                found.setdefault(" ".join(match.group(0).split()), page.name)
    return [(page, line) for line, page in found.items()]


def test_relative_links_resolve():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken


def test_readme_is_short_and_links_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 250
    for page in (REPO / "docs").glob("*.md"):
        assert f"(docs/{page.name})" in readme, page.name


def test_the_readme_shows_commands():
    assert sum(1 for page, _ in documented_commands() if page == "README.md") >= 5


@pytest.mark.parametrize("page,line", documented_commands())
def test_documented_command_validates(page, line, tmp_path):
    match = COMMAND.search(line)
    env = dict(item.split("=", 1) for item in match.group(1).split())
    env.setdefault("OPENAI_API_KEY", "sk-docs-test")
    args = ["validate"] + [arg for arg in _placeholders(shlex.split(match.group(3)), tmp_path)
                           if arg != "--json"]
    if "--address" in args:
        at = args.index("--address")
        del args[at:at + 2]
    code, ray_imported, _, err = cli(*args, env=env)
    assert not ray_imported
    if importlib.util.find_spec("llama_cpp") is None and LOCAL_EXTRA_MISSING in err:
        assert code == 2 and len(err.strip().splitlines()) == 3  # loaded; only the optional extra is missing
        return
    assert code == 0, f"{page}: {line}\n{err}"


def _placeholders(args: list[str], tmp_path: Path) -> list[str]:
    """Example inputs (`alpaca_data.json`) that are not in the repo become a small Alpaca file."""
    out = list(args)
    for i, arg in enumerate(out[:-1]):
        if arg == "--input" and "://" not in out[i + 1] and not (REPO / out[i + 1]).exists():
            stand_in = tmp_path / Path(out[i + 1]).name
            stand_in.write_text('{"instruction": "Say hi.", "input": "", "output": "Hi."}\n')
            out[i + 1] = str(stand_in)
    return out
