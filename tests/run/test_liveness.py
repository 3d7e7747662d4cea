"""Liveness with real supervisors: other PID namespaces and hosts, killed and frozen supervisors,
and the commands that wait on a run (`logs -f`, `stop`, the viewer's live stream)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

import httpx
import psutil
import pytest

from backprop_core.settings.model import Settings
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunStatus, SessionRecord
from tests.conftest import wait_for

from .conftest import Bp

TICKER = """
    import itertools, time
    for step in itertools.count():
        print(f"step {step}", flush=True)
        time.sleep(0.05)
"""
FAST_BEAT = {"BACKPROP_LIVENESS__HEARTBEAT_SECONDS": "0.2"}
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


def _can_unshare() -> bool:
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_unshare = pytest.mark.skipif(
    not _can_unshare(), reason="needs unshare (util-linux) and root for PID namespaces"
)


def latest(bp: Bp, run_id: str) -> SessionRecord | None:
    """The run's latest session, read without reconciling anything."""
    with open_store(Settings.from_config({}, home=bp.home), reconcile=False) as store:
        sessions = store.sessions(run_id)
    return sessions[-1] if sessions else None


def live_run(bp: Bp, host: str | None = None) -> str:
    """The id of the run being supervised, once its session has a heartbeat and output."""

    def ready() -> str | None:
        with open_store(Settings.from_config({}, home=bp.home), reconcile=False) as store:
            runs = store.list_runs()
            if not runs or not store.sessions(runs[0].id):
                return None
            session = store.sessions(runs[0].id)[-1]
        beating = session.heartbeat_at is not None and session.heartbeat_at > session.started_at
        log = bp.home / "runs" / runs[0].id / "session-1.log"
        printed = log.exists() and log.stat().st_size > 0
        right_host = host is None or session.host == host
        return runs[0].id if beating and printed and right_host else None

    return str(wait_for(ready, timeout=90, what="a live, beating run"))


def listed(bp: Bp, *wrap: str, **env: str) -> dict[str, Any]:
    """``backprop list --json`` (optionally run under ``wrap``), as {id: run}."""
    result = subprocess.run(
        [*wrap, *bp.argv("list", "--json")],
        cwd=bp.work,
        env={**bp.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {r["id"]: r for r in json.loads(result.stdout)}


def stop_politely(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(60)


@needs_unshare
def test_list_from_another_pid_namespace_keeps_a_live_run_and_rm_refuses_it(bp: Bp) -> None:
    bp.script("ticker.py", TICKER)
    proc = bp.start("run", "ticker.py", env=FAST_BEAT)
    run_id = live_run(bp)
    # In a new PID namespace (a container) the supervisor's pid is not there, or is another
    # process: only the heartbeat can tell, and it is fresh.
    assert listed(bp, *UNSHARE)[run_id]["status"] == "running"
    removed = subprocess.run(
        [*UNSHARE, *bp.argv("rm", "--yes", run_id)],
        cwd=bp.work,
        env=bp.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert removed.returncode == 2 and "stop it first" in removed.stderr
    stopped = subprocess.run(
        [*UNSHARE, *bp.argv("stop", run_id)],
        cwd=bp.work,
        env=bp.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stopped.returncode == 2 and "another PID namespace" in stopped.stderr
    assert (bp.home / "runs" / run_id).is_dir() and proc.poll() is None
    stop_politely(proc)
    assert listed(bp)[run_id]["status"] == "interrupted"


@needs_unshare
def test_a_run_on_another_host_stays_running_until_its_heartbeat_is_old(bp: Bp) -> None:
    bp.script("ticker.py", TICKER)
    # Another machine sharing the home: its own hostname and PID namespace.
    other_host = [
        "unshare",
        "--uts",
        *UNSHARE[1:],
        "sh",
        "-c",
        'hostname gpu-node-7 && exec "$@"',
        "sh",
        *bp.argv("run", "ticker.py"),
    ]
    proc = subprocess.Popen(
        other_host, cwd=bp.work, env={**bp.env, **FAST_BEAT}, stdout=subprocess.DEVNULL
    )
    bp.procs.append(proc)  # type: ignore[arg-type]
    run_id = live_run(bp, host="gpu-node-7")
    patient = {"BACKPROP_LIVENESS__LOST_AFTER_SECONDS": "30"}
    assert listed(bp, **patient)[run_id]["status"] == "running"
    # Its pid means nothing here: stop says where to run it instead of signalling a stranger.
    stop = bp.run("stop", run_id, env=patient)
    assert stop.returncode == 2 and "on gpu-node-7" in stop.stderr, stop.stderr

    supervisor = psutil.Process(proc.pid).children()[0]  # init of the other namespace
    supervisor.kill()  # the whole namespace goes with it
    killed_at = time.time()
    proc.wait(30)
    # Its pid cannot be checked from here: the run stays running until the heartbeat is old...
    assert listed(bp, **patient)[run_id]["status"] == "running"
    # ...then it is lost, and it ended at its last heartbeat, not when someone looked.
    quick = {"BACKPROP_LIVENESS__LOST_AFTER_SECONDS": "2"}
    run = wait_for(lambda: (r := listed(bp, **quick)[run_id])["status"] == "lost" and r, timeout=60)
    session = latest(bp, run_id)
    assert session is not None and session.heartbeat_at is not None
    assert run["ended_at"] == pytest.approx(session.heartbeat_at)
    assert run["ended_at"] <= killed_at + 0.5  # before the kill, not when list looked
    assert "heartbeat" in run["reason"]


def test_logs_follow_ends_when_the_supervisor_is_killed(bp: Bp) -> None:
    bp.script("ticker.py", TICKER)
    proc = bp.start("run", "ticker.py")
    run_id = live_run(bp)
    follower = subprocess.Popen(
        bp.argv("logs", "-f", run_id),
        cwd=bp.work,
        env=bp.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    bp.procs.append(follower)  # type: ignore[arg-type]
    assert follower.stdout is not None
    assert follower.stdout.readline().startswith("step ")
    proc.kill()
    proc.wait(30)
    _, err = follower.communicate(timeout=90)
    assert follower.returncode == 0
    assert f"run {run_id} is lost" in err
    assert listed(bp)[run_id]["status"] == "lost"


def test_stop_gives_up_on_a_frozen_supervisor_which_stops_the_run_once_thawed(bp: Bp) -> None:
    bp.script("ticker.py", TICKER)
    quick = {**FAST_BEAT, "BACKPROP_LIVENESS__LOST_AFTER_SECONDS": "3"}
    proc = bp.start("run", "--grace", "5", "ticker.py", env=quick)
    run_id = live_run(bp)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        stop = bp.run("stop", run_id, env=quick, timeout=120)
        assert stop.returncode == 2, stop.stderr
        assert f"waiting for its supervisor (pid {proc.pid})" in stop.stderr
        assert "frozen" in stop.stderr and f"kill -CONT {proc.pid}" in stop.stderr
        assert listed(bp, **quick)[run_id]["status"] == "lost"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    # Thawed, the supervisor acts on the stop request that waited for it, and records the end.
    assert proc.wait(60) == 130
    run = listed(bp)[run_id]
    assert run["status"] == "interrupted" and "backprop stop" in run["reason"]


def test_a_resumed_run_whose_latest_session_is_live_stays_running(bp: Bp) -> None:
    bp.script("ticker.py", TICKER)
    first = bp.start("run", "ticker.py")
    run_id = live_run(bp)
    first.kill()
    first.wait(30)
    assert listed(bp)[run_id]["status"] == "lost"
    second = bp.start("resume", run_id, env=FAST_BEAT)

    def session_two_beats() -> bool:
        session = latest(bp, run_id)
        return bool(session and session.number == 2 and session.heartbeat_at)

    wait_for(session_two_beats, timeout=90)
    assert listed(bp)[run_id]["status"] == "running"
    with open_store(Settings.from_config({}, home=bp.home), reconcile=False) as store:
        statuses = [s.status for s in store.sessions(run_id)]
    assert statuses == [RunStatus.LOST, RunStatus.RUNNING]
    stop_politely(second)


def test_viewer_live_stream_ends_when_the_supervisor_is_killed(bp: Bp) -> None:
    from tests.viewer.conftest import LiveServer

    bp.script("ticker.py", TICKER)
    proc = bp.start("run", "ticker.py")
    run_id = live_run(bp)
    server = LiveServer(bp.home)
    try:
        events: list[str] = []
        deadline = time.monotonic() + 120
        with httpx.stream(
            "GET", f"{server.url}/api/runs/{run_id}/stream", timeout=httpx.Timeout(60)
        ) as response:
            for line in response.iter_lines():
                if line.startswith("retry:") and proc.poll() is None:
                    proc.kill()  # once the stream is open
                    proc.wait(30)
                if line.startswith("event: "):
                    events.append(line[len("event: ") :])
                if line.startswith("data: ") and events and events[-1] == "run":
                    events[-1] = "run " + json.loads(line[len("data: ") :])["status"]
                if events and events[-1] == "end":
                    break
                assert time.monotonic() < deadline, f"the stream did not end: {events}"
        assert "run lost" in events and events[-1] == "end"
        page = httpx.get(f"{server.url}/api/runs/{run_id}", timeout=30).json()
        assert page["status"] == "lost"
    finally:
        server.stop()


def test_a_supervisor_thawed_after_its_run_was_marked_lost_records_it_running_again(
    bp: Bp,
) -> None:
    bp.script("ticker.py", TICKER)
    quick = {**FAST_BEAT, "BACKPROP_LIVENESS__LOST_AFTER_SECONDS": "2"}
    proc = bp.start("run", "ticker.py", env=quick)
    run_id = live_run(bp)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        # Frozen, it is alive but silent: lost once its heartbeat is old (not before).
        wait_for(lambda: listed(bp, **quick)[run_id]["status"] == "lost", timeout=60)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    wait_for(lambda: listed(bp, **quick)[run_id]["status"] == "running", timeout=60)
    session = latest(bp, run_id)
    assert session is not None and session.status is RunStatus.RUNNING
    assert session.ended_at is None and session.reason is None
    stop_politely(proc)
    assert listed(bp)[run_id]["status"] == "interrupted"
