"""The in-run governor pauses a run while its GPU is hot; paused time is outside the time box;
a paused run is stopped whole, and resumed before it is asked to stop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from backprop_core.store.records import RunRecord, RunStatus
from tests.conftest import wait_for

from .conftest import Bp, Terminal

COUNTER = """
    import os, time
    path = os.path.join(os.environ["BACKPROP_RUN_DIR"], "counter")
    n = 0
    while True:
        n += 1
        with open(path + ".tmp", "w") as f:
            f.write(str(n))
        os.replace(path + ".tmp", path)
        time.sleep(0.02)
"""

CHECKPOINT_ON_TERM = """
    import json, os, signal, subprocess, sys, time
    def on_term(signum, frame):
        path = os.path.join(os.environ["BACKPROP_CHECKPOINT_DIR"], "on-term.ckpt")
        with open(path, "w") as f:
            f.write("saved")
        print(json.dumps({"event": "checkpoint_saved", "path": path}), flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    # A descendant in a session of its own: outside the run's process group.
    loner = subprocess.Popen(
        [sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"],
        start_new_session=True,
    )
    with open(os.path.join(os.environ["BACKPROP_RUN_DIR"], "loner.pid"), "w") as f:
        f.write(str(loner.pid))
    while True:
        time.sleep(0.05)
"""


def _gpus(path: Path, temp: float) -> None:
    gpu = {
        "index": 0,
        "uuid": "GPU-test-0",
        "name": "Fake GPU",
        "memory_total_mib": 16384,
        "memory_used_mib": 1024,
        "memory_free_mib": 15360,
        "temperature_c": temp,
        "utilization_pct": 0,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([gpu]))
    tmp.replace(path)  # the probe reads the old reading or the new one, never half


def _gpu_env(path: Path) -> dict[str, str]:
    return {"BACKPROP_EXAMPLE_GPUS": str(path), "BACKPROP_GPU__PROBE": "example-gpu"}


def _stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False


def _first_run(bp: Bp) -> RunRecord:
    run: RunRecord = wait_for(lambda: next(iter(bp.runs()), None), what="the run's record")
    return run


def _script_pid(bp: Bp, run: RunRecord) -> int:
    pid: int = wait_for(lambda: next((s.pid for s in bp.sessions(run.id) if s.pid), None))
    return pid


@pytest.mark.slow
def test_hot_gpu_pauses_the_run_and_paused_time_is_not_counted(bp: Bp, tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    _gpus(gpus, 50)
    bp.script("count.py", COUNTER)
    start = time.monotonic()
    # 9 s of active time: the steps before the pause and after it (start-up, polling the store)
    # take a few seconds on a loaded machine and must fit in the box.
    term = Terminal(bp, "run", "-m", "0.15", "--gpu-max-temp", "80", "count.py",
                    env=_gpu_env(gpus))  # fmt: skip
    run = _first_run(bp)
    counter = bp.home / "runs" / run.id / "counter"
    wait_for(lambda: counter.exists() and int(counter.read_text() or 0) > 5)
    script = _script_pid(bp, run)

    _gpus(gpus, 95)
    wait_for(lambda: bp.only_run().status == RunStatus.PAUSED, timeout=20)
    wait_for(lambda: _stopped(script), timeout=20, what="the script stopped (SIGSTOP)")

    # Under the limit but within the 5 °C hysteresis: a poll that reads 77 °C keeps the run
    # paused. The status line is drawn after each poll's decision, with that poll's reading.
    _gpus(gpus, 77)
    wait_for(
        lambda: any("PAUSED" in line and "MiB 77°C" in line for line in term.status_lines()),
        timeout=30,
        what="a status line drawn after a poll read 77 °C",
    )
    assert bp.only_run().status == RunStatus.PAUSED
    assert _stopped(script)

    _gpus(gpus, 60)
    wait_for(lambda: bp.only_run().status == RunStatus.RUNNING, timeout=20)
    resumed = int(counter.read_text())
    wait_for(lambda: int(counter.read_text()) > resumed + 5)

    assert term.wait(60) == 0
    elapsed = time.monotonic() - start
    run = bp.only_run()
    assert run.status == RunStatus.TIMEBOXED
    session = bp.sessions(run.id)[0]
    assert session.gpus == ["GPU-test-0"]
    assert len(session.pauses) == 1
    pause = session.pauses[0]
    assert "GPU 0" in pause.reason and "95" in pause.reason
    assert pause.ended_at is not None
    paused_for = pause.ended_at - pause.started_at
    assert 9.0 <= session.active_seconds < 9.0 + 10
    assert elapsed >= 9.0 + paused_for  # the time box excluded the pause
    assert "paused: GPU 0" in term.text and "resumed" in term.text


def test_pause_stops_descendants_in_their_own_session_too(bp: Bp, tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    _gpus(gpus, 50)
    bp.script("train.py", CHECKPOINT_ON_TERM)
    proc = bp.start("run", "--gpu-max-temp", "80", "train.py", env=_gpu_env(gpus))
    run = _first_run(bp)
    loner_file = bp.home / "runs" / run.id / "loner.pid"
    loner = int(wait_for(lambda: loner_file.exists() and loner_file.read_text()))

    _gpus(gpus, 95)
    wait_for(lambda: bp.only_run().status == RunStatus.PAUSED, timeout=20)
    wait_for(lambda: _stopped(_script_pid(bp, run)), timeout=20, what="the script stopped")
    wait_for(lambda: _stopped(loner), timeout=20, what="the setsid descendant stopped")

    _gpus(gpus, 50)
    wait_for(lambda: bp.only_run().status == RunStatus.RUNNING, timeout=20)
    wait_for(lambda: not _stopped(loner), timeout=20, what="the setsid descendant resumed")
    assert bp.run("stop", "--now", run.id).returncode == 0
    assert proc.wait(60) == 130


def test_stop_while_paused_resumes_the_run_so_it_can_checkpoint(bp: Bp, tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    _gpus(gpus, 50)
    bp.script("train.py", CHECKPOINT_ON_TERM)
    proc = bp.start("run", "--grace", "10", "--gpu-max-temp", "80", "train.py",
                    env=_gpu_env(gpus))  # fmt: skip
    run = _first_run(bp)
    script = _script_pid(bp, run)
    ready = bp.home / "runs" / run.id / "loner.pid"  # written after the handler is installed
    wait_for(ready.exists, what="the script's SIGTERM handler")
    _gpus(gpus, 95)
    wait_for(lambda: bp.only_run().status == RunStatus.PAUSED, timeout=20)
    wait_for(lambda: _stopped(script), timeout=20, what="the script stopped")

    stop = bp.run("stop", run.id)
    assert stop.returncode == 0, stop.stderr
    assert proc.wait(60) == 130
    with bp.store() as store:
        checkpoints = store.checkpoints(run.id)
    assert [Path(c.path).name for c in checkpoints] == ["on-term.ckpt"], "no checkpoint on stop"
    session = bp.sessions(run.id)[0]
    assert session.status == RunStatus.INTERRUPTED and session.exit_code == 0
