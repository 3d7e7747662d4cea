"""`backprop config show|validate|schema` and the CLI's error boundary, in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_show_lists_every_key_with_its_source(tmp_path: Path) -> None:
    (tmp_path / "backprop.config.json").write_text('{"gpu": {"maxTempC": 80}}', encoding="utf-8")
    result = run_cli("config", "show", "--json", cwd=tmp_path, env={"BACKPROP_MAX_PARALLEL": "3"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["settings"]["gpu"]["maxTempC"] == 80
    assert data["settings"]["gpu"]["minFreeVramMB"] == 2500
    assert data["settings"]["maxParallel"] == 3
    assert data["sources"]["gpu.maxTempC"] == f"project config {tmp_path / 'backprop.config.json'}"
    assert data["sources"]["maxParallel"] == "env BACKPROP_MAX_PARALLEL"
    assert data["sources"]["gpu.minFreeVramMB"] == "default"


def test_show_text_is_one_line_per_key(tmp_path: Path) -> None:
    result = run_cli("config", "show", "--store", "json", cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert any(line.split() == ["store", "json", "(flag", "--store)"] for line in lines)
    assert any(line.split()[:2] == ["gpu.maxTempC", "85"] for line in lines)


def test_show_text_aligns_every_source_even_after_a_long_home(tmp_path: Path) -> None:
    home = tmp_path / "a-home-with-a-rather-long-name" / "that-goes-on"
    result = run_cli("config", "show", "--home", str(home), cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert any(line.startswith("home ") and str(home) in line for line in lines)
    assert len({line.index(" (") for line in lines}) == 1, result.stdout


def test_invalid_project_config_exits_2_with_every_problem(tmp_path: Path) -> None:
    (tmp_path / "backprop.config.json").write_text(
        '{"maxRunMinute": 5, "gpu": {"count": "one"}}', encoding="utf-8"
    )
    result = run_cli("config", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("backprop: error: invalid configuration (2 problems):")
    assert "did you mean 'maxRunMinutes'?" in result.stderr
    assert "$.gpu.count: 'one' is not of type 'integer'" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_a_file(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"maxRunMinutes": 3}', encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"maxRunMinutes": -3}', encoding="utf-8")
    ok = run_cli("config", "validate", str(good), cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.strip() == f"{good}: valid"
    failed = run_cli("config", "validate", str(bad), cwd=tmp_path)
    assert failed.returncode == 2
    expected = f"{bad}: $.maxRunMinutes: -3 is out of range (allowed: number >= 0, <= 525600)"
    assert expected in failed.stderr
    missing = run_cli("config", "validate", str(tmp_path / "missing.json"), cwd=tmp_path)
    assert missing.returncode == 2 and "config file not found" in missing.stderr


def test_schema_is_the_shipped_json_schema(tmp_path: Path) -> None:
    result = run_cli("config", "schema", cwd=tmp_path)
    schema = json.loads(result.stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["additionalProperties"] is False
    assert schema["properties"]["maxRunMinutes"]["default"] == 10


def test_debug_shows_the_traceback_that_is_otherwise_hidden(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")
    plain = run_cli("config", "show", "--config", missing, cwd=tmp_path)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    debug = run_cli("--debug", "config", "show", "--config", missing, cwd=tmp_path)
    assert "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_version_and_unknown_command(tmp_path: Path) -> None:
    assert run_cli("--version").stdout.startswith("backprop, version ")
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "no such command 'frobnicate'" in result.stderr
