"""The in-run governor pauses a run while its GPU is hot; paused time is outside the time box."""

from __future__ import annotations

import json
import time
from pathlib import Path

from backprop_core.store.records import RunStatus
from tests.conftest import wait_for

from .conftest import Bp

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
    path.write_text(json.dumps([gpu]))


def test_hot_gpu_pauses_the_run_and_paused_time_is_not_counted(bp: Bp, tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    _gpus(gpus, 50)
    bp.script("count.py", COUNTER)
    env = {"BACKPROP_EXAMPLE_GPUS": str(gpus), "BACKPROP_GPU__PROBE": "example-gpu"}
    start = time.monotonic()
    # 9 s of active time: the steps before the pause and after it (start-up, polling the store)
    # take a few seconds on a loaded machine and must fit in the box.
    proc = bp.start("run", "-m", "0.15", "--gpu-max-temp", "80", "count.py", env=env)
    run = wait_for(lambda: next(iter(bp.runs()), None))
    counter = bp.home / "runs" / run.id / "counter"
    wait_for(lambda: counter.exists() and int(counter.read_text() or 0) > 5)

    _gpus(gpus, 95)
    wait_for(lambda: bp.only_run().status == RunStatus.PAUSED, timeout=20)
    settled = int(counter.read_text())
    time.sleep(1.5)  # measuring that nothing happens over an interval, not synchronising
    assert int(counter.read_text()) <= settled + 1, "the script kept running while paused"

    _gpus(gpus, 77)  # under the limit but within the 5 °C hysteresis: stays paused
    time.sleep(0.8)
    assert bp.only_run().status == RunStatus.PAUSED
    _gpus(gpus, 60)
    wait_for(lambda: bp.only_run().status == RunStatus.RUNNING, timeout=20)
    resumed = int(counter.read_text())
    wait_for(lambda: int(counter.read_text()) > resumed + 5)

    assert proc.wait(60) == 0
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
    assert paused_for >= 2.0
    assert 9.0 <= session.active_seconds < 9.0 + 10
    assert elapsed >= 9.0 + paused_for  # the time box excluded the pause
    log = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert "paused: GPU 0" in log and "resumed" in log
