"""Settings that would defeat the governor (NaN, infinities, overflowing numbers) are refused
from every source, before anything starts, with one line naming the source, key and range."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli

MARKER_SCRIPT = """
import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "started"), "w").close()
"""


def _write_user_config(text: str) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "backprop" / "backprop.config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# (flags, environment, files to write in the project folder, user config, what the line says)
CASES = {
    "grace flag nan": (["--grace", "nan"], {}, {}, None, "flag --grace: $.stop.graceSeconds: nan"),
    "time box flag nan": (["-m", "nan"], {}, {}, None, "flag --max-run-minutes: $.maxRunMinutes"),
    "stall flag nan": (
        ["--stall-minutes", "nan"],
        {},
        {},
        None,
        "flag --stall-minutes: $.monitors.stallMinutes: nan",
    ),
    "free RAM flag nan": (
        ["--min-free-ram", "nan"],
        {},
        {},
        None,
        "flag --min-free-ram: $.minFreeRamGB: nan",
    ),
    "memory cap flag inf": (["-g", "inf"], {}, {}, None, "flag --gpu-memory-limit"),
    "temperature flag -inf": (["--gpu-max-temp", "-inf"], {}, {}, None, "flag --gpu-max-temp"),
    "time box flag overflowing": (["-m", "1e308"], {}, {}, None, "$.maxRunMinutes: 1e+308"),
    "negative GPU count": (["--gpus", "-1"], {}, {}, None, "flag --gpus: $.gpu.count: -1"),
    "environment nan": (
        [],
        {"BACKPROP_STOP__GRACE_SECONDS": "nan"},
        {},
        None,
        "env BACKPROP_STOP__GRACE_SECONDS: $.stop.graceSeconds: nan",
    ),
    "project JSON Infinity": (
        [],
        {},
        {"backprop.config.json": '{"maxRunMinutes": Infinity}'},
        None,
        "backprop.config.json: $.maxRunMinutes: inf is not a finite number",
    ),
    "pyproject TOML nan": (
        [],
        {},
        {"pyproject.toml": "[tool.backprop.stop]\ngraceSeconds = nan\n"},
        None,
        "pyproject.toml: $.stop.graceSeconds: nan is not a finite number",
    ),
    "explicit config -Infinity": (
        ["--config", "other.json"],
        {},
        {"other.json": '{"wait": {"timeoutMinutes": -Infinity}}'},
        None,
        "other.json: $.wait.timeoutMinutes: -inf is not a finite number",
    ),
    "user config NaN": (
        [],
        {},
        {},
        '{"governor": {"pollSeconds": NaN}}',
        "backprop.config.json: $.governor.pollSeconds: nan is not a finite number",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_non_finite_or_overflowing_setting_is_refused_before_anything_starts(
    case: str, tmp_path: Path
) -> None:
    flags, env, files, user_config, expected = CASES[case]
    (tmp_path / "train.py").write_text(MARKER_SCRIPT, encoding="utf-8")
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    if user_config is not None:
        _write_user_config(user_config)

    result = run_cli(
        "run", *flags, "train.py", env={"BACKPROP_GPU__PROBE": "none", **env}, cwd=tmp_path
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("backprop: error: invalid configuration: ")
    assert expected in lines[0]
    assert "(allowed: " in lines[0]
    assert not (tmp_path / "started").exists(), "the script ran"
    runs = Path(os.environ["BACKPROP_HOME"]) / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a run was recorded"


def test_config_validate_names_every_non_finite_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"maxRunMinutes": NaN, "stop": {"graceSeconds": Infinity}, "gpu": {"maxTempC": 1e999}}',
        encoding="utf-8",
    )
    result = run_cli("config", "validate", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid configuration (3 problems):" in result.stderr
    assert "$.maxRunMinutes: nan is not a finite number (allowed: number >= 0, <= 525600)" in (
        result.stderr
    )
    assert "$.stop.graceSeconds: inf is not a finite number" in result.stderr
    assert "$.gpu.maxTempC: inf is not a finite number (allowed: number > 0, <= 150)" in (
        result.stderr
    )


def test_finite_flags_still_work(tmp_path: Path) -> None:
    result = run_cli(
        "status", "--json", "--min-free-ram", "1.5", env={"BACKPROP_GPU__PROBE": "none"}
    )
    assert result.returncode == 0, result.stderr
    votes = json.loads(result.stdout)["admission"]["votes"]
    assert any(v["policy"] == "ram" and "1.5 GiB required" in v["reason"] for v in votes), votes


def test_a_word_where_a_number_belongs_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(MARKER_SCRIPT, encoding="utf-8")
    result = run_cli("run", "-p", "two", "train.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "backprop: error: invalid configuration: flag --max-parallel: $.maxParallel: 'two' is "
        "not of type 'integer' (allowed: integer >= 1)"
    )
