"""Docs move with the code: the CLI reference is generated from the commands' help, the hook
reference from the hookspecs' docstrings."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_cli_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_cli_docs.py"), "--check"], cwd=REPO
    )
    assert result.returncode == 0, "docs/cli.md is stale: run python scripts/gen_cli_docs.py"


def test_hook_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_hook_docs.py"), "--check"], cwd=REPO
    )
    assert result.returncode == 0, (
        "the hook reference in docs/plugins.md is stale: run python scripts/gen_hook_docs.py"
    )


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = readme.split("```bash\n")[1:3]
    assert blocks[0].startswith("pip install -e . && backprop run examples/quickstart.py")
    test_command = blocks[1].split("\n", 1)[0]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert any(line.startswith(test_command) for line in ci.splitlines()), (
        "the README's test command must be exactly what .ci/run runs"
    )
