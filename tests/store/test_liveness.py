"""Which runs `backprop list` marks lost: by heartbeat everywhere, by pid only where the pid can
be checked, and always by the run's latest session (docs/store.md, "Liveness")."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from backprop_core.settings import Settings
from backprop_core.store.contract import Store
from backprop_core.store.opening import open_store
from backprop_core.store.process_identity import here
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from tests.conftest import run_cli


@pytest.fixture(params=["sqlite", "json"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    home = tmp_path / "home"
    s = open_store(Settings(home=home, store=request.param), reconcile=False)
    yield s
    s.close()


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A real process that stays alive for the test."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def supervisor(pid: int, started: float | None = None, **where: Any) -> dict[str, Any]:
    """Session fields for a supervisor ``pid`` here (or where ``where`` says)."""
    scope = here()
    fields: dict[str, Any] = {
        "supervisor_pid": pid,
        "supervisor_started": started if started is not None else time.time() - 5,
        "host": scope.host,
        "boot_id": scope.boot_id,
        "pid_namespace": scope.pid_namespace,
    }
    if started is None:
        try:
            fields["supervisor_started"] = psutil.Process(pid).create_time()
        except psutil.Error:
            pass
    fields.update(where)
    return fields


def add(store: Store, run_id: str, *sessions: dict[str, Any]) -> None:
    t0 = time.time() - 600
    store.create_run(RunRecord(id=run_id, status=RunStatus.RUNNING, created_at=t0, started_at=t0))
    for number, fields in enumerate(sessions, start=1):
        store.add_session(SessionRecord(run_id, number, RunStatus.RUNNING, t0, **fields))


def listed(store: Store) -> dict[str, dict[str, Any]]:
    env = {"BACKPROP_HOME": str(store.home.root), "BACKPROP_STORE": store.name}
    result = run_cli("list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {r["id"]: r for r in json.loads(result.stdout)}


def test_liveness_judges_the_latest_session_not_an_earlier_one(
    store: Store, live_pid: int, dead_pid: int
) -> None:
    now = time.time()
    # A resumed run: session 1's supervisor died without recording its end, session 2 runs.
    add(
        store,
        "20260101-000000-rsmd",
        {**supervisor(dead_pid), "heartbeat_at": now - 3600},
        {**supervisor(live_pid), "heartbeat_at": now},
    )
    # The other way round: only the latest session's supervisor counts.
    add(
        store,
        "20260101-000000-ltst",
        {**supervisor(live_pid), "heartbeat_at": now},
        {**supervisor(dead_pid), "heartbeat_at": now},
    )
    runs = listed(store)
    assert runs["20260101-000000-rsmd"]["status"] == "running"
    assert runs["20260101-000000-ltst"]["status"] == "lost"
    assert [s.status for s in store.sessions("20260101-000000-rsmd")] == [RunStatus.RUNNING] * 2


def test_a_pid_from_another_host_or_namespace_is_never_checked_here(
    store: Store, dead_pid: int
) -> None:
    now = time.time()
    me = psutil.Process()
    add(  # another machine whose supervisor pid happens to be a live process here
        store,
        "20260101-000000-hsil",
        {**supervisor(me.pid, me.create_time(), host="gpu-node-7"), "heartbeat_at": now - 300},
    )
    add(  # another machine, beating, whose pid does not exist here
        store,
        "20260101-000000-hliv",
        {**supervisor(dead_pid, host="gpu-node-7", boot_id="other-boot"), "heartbeat_at": now},
    )
    add(  # a container on this host (another PID namespace), beating
        store,
        "20260101-000000-nliv",
        {**supervisor(dead_pid, pid_namespace=1), "heartbeat_at": now - 10},
    )
    runs = listed(store)
    assert runs["20260101-000000-hliv"]["status"] == "running"
    assert runs["20260101-000000-nliv"]["status"] == "running"
    silent = runs["20260101-000000-hsil"]
    assert silent["status"] == "lost" and "heartbeat" in silent["reason"]
    # It ended when it was last heard from, not when someone looked.
    assert silent["ended_at"] == pytest.approx(now - 300)
    [session] = store.sessions("20260101-000000-hsil")
    assert session.status is RunStatus.LOST and session.ended_at == pytest.approx(now - 300)
    assert session.active_seconds == pytest.approx(now - 300 - session.started_at)


def test_a_dead_supervisor_here_is_lost_at_once_without_waiting_for_the_heartbeat(
    store: Store, dead_pid: int
) -> None:
    beat = time.time() - 2
    add(store, "20260101-000000-dead", {**supervisor(dead_pid), "heartbeat_at": beat})
    run = listed(store)["20260101-000000-dead"]
    assert run["status"] == "lost" and run["ended_at"] == pytest.approx(beat)
    assert "gone" in run["reason"]


def test_sessions_recorded_before_heartbeats_are_judged_by_pid_on_their_own_host_only(
    store: Store, dead_pid: int
) -> None:
    legacy = {"supervisor_pid": dead_pid, "supervisor_started": time.time() - 60}
    add(store, "20260101-000000-lgcy", {**legacy, "host": here().host})
    add(store, "20260101-000000-lgel", {**legacy, "host": "gpu-node-7"})
    runs = listed(store)
    assert runs["20260101-000000-lgcy"]["status"] == "lost"
    assert runs["20260101-000000-lgel"]["status"] == "running"


def test_a_pulled_run_is_left_to_the_host_it_was_pulled_from(store: Store, dead_pid: int) -> None:
    """A pulled run's supervisor ran on its host: neither a silent heartbeat nor a pid that
    means something else here makes it lost; the next pull brings its state."""
    old = time.time() - 3600
    for run_id, fields in (
        ("20260101-000000-psil", {"host": "gpu-box", "heartbeat_at": old}),
        ("20260101-000000-pdead", {"heartbeat_at": old}),  # recorded as if on this host
    ):
        t0 = time.time() - 7200
        store.create_run(
            RunRecord(
                id=run_id, status=RunStatus.RUNNING, created_at=t0, started_at=t0, origin="gpu-box"
            )
        )
        store.add_session(
            SessionRecord(run_id, 1, RunStatus.RUNNING, t0, **{**supervisor(dead_pid), **fields})
        )
    runs = listed(store)
    assert runs["20260101-000000-psil"]["status"] == "running"
    assert runs["20260101-000000-pdead"]["status"] == "running"
