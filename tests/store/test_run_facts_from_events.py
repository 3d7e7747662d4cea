"""``environment`` and ``init`` events (sent by the SDK under ``backprop run``) update the run
record in every store, and stay on record as events."""

from __future__ import annotations

from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.records import RunRecord, RunStatus

STORES = ["sqlite", "json"]


@pytest.mark.parametrize("store_name", STORES)
def test_environment_and_init_events_update_the_run(store_name: str, tmp_path: Path) -> None:
    store = get_plugins().store_class(store_name)(tmp_path / "home")
    store.create_run(
        RunRecord(id="r1", status=RunStatus.RUNNING, created_at=0.0, tags={"host": "a"})
    )
    environment = {"python": "3.11.7", "packages": {"torch": "2.3.0"}, "git": {"dirty": False}}
    store.append_events(
        "r1",
        [
            Event("init", 1.0, None, {"name": "baseline", "project": "p1", "tags": {"lr": "0.1"}}),
            Event("environment", 2.0, None, {"data": environment}),
            Event("metrics", 3.0, 1, {"step": 1, "data": {"loss": 0.5}}),
        ],
    )
    run = store.get_run("r1")
    assert run.environment == environment
    assert (run.name, run.project) == ("baseline", "p1")
    assert run.tags == {"host": "a", "lr": "0.1"}
    assert run.last_metrics == {"loss": 0.5}
    assert [e.event.kind for e in store.events("r1")] == ["init", "environment", "metrics"]
    assert [r.id for r in store.list_runs()] == ["r1"]
    assert store.resolve("baseline").id == "r1"

    # A later init keeps the name the run already has, updates the project, merges the tags.
    store.append_events(
        "r1", [Event("init", 4.0, None, {"name": "other", "project": "p2", "tags": {"b": "2"}})]
    )
    run = store.get_run("r1")
    assert (run.name, run.project) == ("baseline", "p2")
    assert run.tags == {"host": "a", "lr": "0.1", "b": "2"}
    assert run.environment == environment


@pytest.mark.parametrize("store_name", STORES)
def test_malformed_init_and_environment_change_nothing(store_name: str, tmp_path: Path) -> None:
    store = get_plugins().store_class(store_name)(tmp_path / "home")
    store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=0.0, name="kept"))
    store.append_events(
        "r1",
        [
            Event("init", 1.0, None, {"name": 5, "project": None, "tags": "not-a-mapping"}),
            Event("environment", 2.0, None, {"data": "not-a-mapping"}),
        ],
    )
    run = store.get_run("r1")
    assert (run.name, run.project, run.tags, run.environment) == ("kept", None, {}, {})
    assert len(store.events("r1")) == 2


def test_process_start_time_matches_psutil_for_live_processes() -> None:
    import os
    import subprocess
    import sys

    import psutil

    from backprop_core.store.process_identity import TOLERANCE_S, process_start_time

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for pid in (os.getpid(), child.pid, 1):
            assert (
                abs(process_start_time(pid) - psutil.Process(pid).create_time()) < TOLERANCE_S / 10
            )
    finally:
        child.kill()
        child.wait()
