"""Settings files that cannot be used: a one-line error when they are meant for backprop, and
no effect at all when they are someone else's (a pyproject.toml without ``[tool.backprop]``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli

LATIN1 = "[project]\nname = 'caf\xe9'\n".encode("latin-1")


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("backprop: error: ") and "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("where", ["here", "ancestor"])
def test_someone_elses_non_utf8_pyproject_is_ignored(where: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(LATIN1)
    cwd = tmp_path if where == "here" else tmp_path / "a" / "b"
    cwd.mkdir(parents=True, exist_ok=True)
    result = run_cli("config", "show", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sources"]["maxRunMinutes"] == "default"
    Path(os.environ["BACKPROP_HOME"]).mkdir(parents=True, exist_ok=True)  # list never makes one
    assert run_cli("list", cwd=cwd).returncode == 0


def test_non_utf8_pyproject_with_our_table_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(LATIN1 + b"[tool.backprop]\nmaxRunMinutes = 5\n")
    deep = tmp_path / "src"
    deep.mkdir()
    result = run_cli("config", "show", cwd=deep)
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert str(tmp_path / "pyproject.toml") in line and "not UTF-8" in line


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("backprop.config.json", '{"gpu": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("backprop.config.json", '{"x": ' + '{"x": ' * 500 + "1" + "}" * 501),
        ("pyproject.toml", "[tool.backprop]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ],
    ids=["json-beyond-the-parser", "json-within-the-parser", "toml"],
)
def test_deeply_nested_config_is_one_line(name: str, text: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = run_cli("config", "show", cwd=tmp_path)
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert f"{tmp_path / name}: nested too deeply" in line
