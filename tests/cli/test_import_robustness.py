"""`backprop import` of unusual Node-tool files: each record is imported whole or rejected with
one line naming it, and the store stays readable by `list`, `show` and the viewer."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from backprop_core.plugin.manager import get_plugins
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus
from tests.conftest import run_cli

GOOD = {"id": "good", "status": "completed", "startTime": 1731000000000, "lastStep": 7}
GOOD["lastLoss"] = 0.5
DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture(params=["sqlite", "json"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("BACKPROP_STORE", request.param)
    s = get_plugins().store_class(request.param)(Path(os.environ["BACKPROP_HOME"]))
    s.home.ensure()
    yield s
    s.close()


def unusual_file(path: Path) -> Path:
    records = {
        "huge-start": {"id": "huge-start", "status": "completed", "startTime": 1e40},
        "nan-start": {"id": "nan-start", "status": "completed", "startTime": float("nan")},
        "huge-step": {"id": "huge-step", "status": "failed", "lastStep": 10**23, "lastLoss": 1},
        "ckpt-number": {"id": "ckpt-number", "status": "completed", "checkpoints": 5},
        "ckpt-entry": {"id": "ckpt-entry", "checkpoints": ["a.pt", 7]},
        "ckpt-step": {"id": "ckpt-step", "checkpoints": [{"path": "a.pt", "step": 2**64}]},
        "a-number": 5,
        "a-list": [1, 2],
        "good": GOOD,
    }
    text = json.dumps(records, allow_nan=True)
    # One more record, nested deeper than any JSON decoder goes.
    text = text[:-1] + ', "too-deep": {"id": "too-deep", "extra": ' + DEEP + "}}"
    path.write_text(text)
    return path


def imported(path: Path) -> dict[str, list[str]]:
    result = run_cli("import", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, list[str]] = json.loads(result.stdout)
    return report


def test_unusual_records_are_rejected_one_by_one(store: Store, tmp_path: Path) -> None:
    source = unusual_file(tmp_path / "experiments.json")
    first = imported(source)
    assert first["imported"] == ["good"]
    rejected = {line.split("'")[1]: line for line in first["problems"]}
    assert set(rejected) == {
        "huge-start",
        "nan-start",
        "huge-step",
        "ckpt-number",
        "ckpt-entry",
        "ckpt-step",
        "a-number",
        "a-list",
        "too-deep",
    }
    assert "startTime 1e+40 is not a time" in rejected["huge-start"]
    assert "lastStep 100000000000000000000000 is not a step" in rejected["huge-step"]
    assert '"checkpoints" is 5, not a list' in rejected["ckpt-number"]
    assert "nested too deeply" in rejected["too-deep"]
    assert all("\n" not in line for line in first["problems"])
    assert [r.id for r in store.list_runs()] == ["good"]
    assert store.get_run("good").last_step == 7

    text = run_cli("import", str(source))
    assert text.returncode == 0 and text.stderr.count("backprop: warning: record") == 9
    again = imported(source)
    assert again["imported"] == [] and again["skipped"] == ["good"] and len(again["problems"]) == 9
    for args in (("list",), ("show", "good"), ("list", "--json")):
        assert run_cli(*args).returncode == 0


def test_a_run_an_older_version_half_imported_is_imported_again(
    store: Store, tmp_path: Path
) -> None:
    store.create_run(
        RunRecord(
            id="good", status=RunStatus.COMPLETED, created_at=1.0, tags={"imported-from": "node"}
        )
    )
    source = tmp_path / "experiments.json"
    source.write_text(json.dumps({"good": GOOD}))
    assert imported(source)["imported"] == ["good"]
    assert store.get_run("good").session_count == 1 and len(store.sessions("good")) == 1


def test_times_no_calendar_shows_do_not_break_list_show_or_the_viewer(store: Store) -> None:
    """Records an older version imported as they were: shown, never a crash."""
    from backprop_core.viewer import create_app

    store.create_run(
        RunRecord(
            id="odd-times",
            status=RunStatus.COMPLETED,
            created_at=1e37,
            started_at=1e37,
            ended_at=float("nan"),
            last_step=10**23,
        )
    )
    for args in (("list",), ("show", "odd-times"), ("show", "odd-times", "--json")):
        result = run_cli(*args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    settings = Settings.from_config(
        {"gpu": {"probe": "none"}, "store": store.name}, store.home.root
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        for url in ("/", "/runs/odd-times", "/api/runs", "/api/runs/odd-times"):
            assert client.get(url).status_code == 200, url
