"""Someone else's ``experiments.json`` where the JSON store keeps its index (the Node tool uses the
same name): every command stops in one line that says how to import it, and the file is never
moved or changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

NODE_FILE = {
    "exp-1": {
        "id": "exp-1",
        "scriptPath": "/srv/train.js",
        "status": "completed",
        "startTime": "2025-01-01T10:00:00Z",
        "endTime": "2025-01-01T10:05:00Z",
        "lastStep": 500,
        "lastLoss": 0.12,
    }
}


@pytest.mark.parametrize(
    "command",
    [["list"], ["list", "--json"], ["show", "exp-1"], ["gc", "--dry-run"], ["run", "train.py"]],
    ids=lambda c: " ".join(c),
)
def test_a_node_tool_file_in_the_home_is_never_moved(command: list[str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    index = home / "experiments.json"
    raw = json.dumps(NODE_FILE, indent=2).encode()
    index.write_bytes(raw)
    (tmp_path / "train.py").write_text("print('trained')\n")
    env = {"BACKPROP_HOME": str(home), "BACKPROP_STORE": "json", "BACKPROP_GPU__PROBE": "none"}

    result = run_cli(*command, env=env, cwd=tmp_path)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"backprop: error: {index} is the Node tool's experiments.json")
    assert "backprop import FILE" in lines[0]
    assert "trained" not in result.stdout
    assert index.read_bytes() == raw
    assert [p.name for p in home.glob("experiments.json*")] == ["experiments.json"]


def test_other_json_in_the_home_is_left_alone_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    index = home / "experiments.json"
    index.write_text('{"some": "settings of another program"}')
    env = {"BACKPROP_HOME": str(home), "BACKPROP_STORE": "json"}
    result = run_cli("list", env=env)
    assert result.returncode == 1
    assert "is a JSON file but not a backprop JSON store" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert index.read_text() == '{"some": "settings of another program"}'
    assert not list(home.glob("experiments.json.corrupt-*"))


def test_the_hint_works_once_the_file_is_moved_out(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "experiments.json").write_text(json.dumps(NODE_FILE))
    env = {"BACKPROP_HOME": str(home), "BACKPROP_STORE": "json"}
    moved = tmp_path / "node-experiments.json"
    (home / "experiments.json").rename(moved)
    imported = run_cli("import", str(moved), env=env)
    assert imported.returncode == 0, imported.stderr
    (run,) = json.loads(run_cli("list", "--json", env=env).stdout)
    assert run["last_step"] == 500 and run["status"] == "completed"
