"""The code stays lint-clean, formatted and type-checked (ruff and mypy as configured)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_check_is_clean() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_format_is_clean() -> None:
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    pytest.importorskip("mypy")
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_is_far_over_400_lines() -> None:
    too_long = [
        f"{path.relative_to(REPO)}: {n} lines"
        for path in [*REPO.glob("src/**/*.py"), *REPO.glob("plugins/**/*.py")]
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 450
    ]
    assert not too_long, too_long


def test_core_never_imports_click_outside_cli() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in REPO.glob("src/backprop_core/**/*.py")
        if "cli" not in path.relative_to(REPO / "src" / "backprop_core").parts
        and any(
            line.startswith(("import click", "from click"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert not offenders, offenders
