"""The monitors through ``backprop run`` with real child processes: NaN alert and stall."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backprop_core.records import RunStatus
from tests.sdk.helpers import only_run, store, write_script


def _monitor_alerts_can_reenter() -> bool:
    """An alert a monitor raises is itself an event the monitors see: the supervisor's
    ``MonitorSet`` must tolerate that re-entry (a re-entrant lock), or the run hangs."""
    try:
        from backprop_core.supervisor.monitoring import MonitorSet
    except ImportError:
        return False
    lock = MonitorSet({}, None, lambda level, text: None, lambda action: None)._lock  # type: ignore[arg-type]
    with lock:
        reentered = lock.acquire(blocking=False)
        if reentered:
            lock.release()
    return reentered


pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("backprop_core.cli.run") is None,
    reason="`backprop run` (backprop_core.cli.run) is not available",
)
needs_reentrant_alerts = pytest.mark.skipif(
    not _monitor_alerts_can_reenter(),
    reason="supervisor MonitorSet uses a non-reentrant lock: a monitor alert deadlocks",
)


def backprop_run(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "BACKPROP_GPU__PROBE": "none", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "backprop_core.cli", "run", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


NAN_SCRIPT = """
import time
import backprop_core as bp
bp.init()
for step in range(5):
    bp.log({"loss": 1.0 / (step + 1)}, step=step)
bp.log({"loss": float("nan")}, step=5)
bp.active_run().flush()
for step in range(6, 400):
    bp.log({"loss": float("nan")}, step=step)
    time.sleep(0.05)  # 20 s if nobody stops it
print("REACHED THE END")
"""


@needs_reentrant_alerts
def test_nan_loss_raises_an_alert_and_the_run_goes_on(tmp_path: Path) -> None:
    script = write_script(tmp_path, NAN_SCRIPT.replace("range(6, 400)", "range(6, 10)"))
    result = backprop_run(str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "REACHED THE END" in result.stdout
    assert "non-finite loss at step 5" in result.stderr
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.COMPLETED
    alerts = [e.event.payload.get("text", "") for e in st.events(run.id, kinds=["alert"])]
    assert sum("non-finite loss" in text for text in alerts) == 1
    values = st.metric_series(run.id, "loss").values
    assert len(values) == 10 and math.isnan(values[5])


@needs_reentrant_alerts
def test_stop_on_nan_stops_the_run_as_failed(tmp_path: Path) -> None:
    script = write_script(tmp_path, NAN_SCRIPT)
    result = backprop_run("--stop-on-nan", "--grace", "5", "--json", str(script), cwd=tmp_path)
    assert "REACHED THE END" not in result.stdout
    assert result.returncode == 1, result.stderr
    run = only_run(store())
    assert run.status == RunStatus.FAILED
    assert run.reason is not None and "nan" in run.reason


@needs_reentrant_alerts
def test_stall_watchdog_stops_a_silent_script_as_stalled(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import time
        print("working", flush=True)
        time.sleep(120)  # silent: no output, no events
        print("WOKE UP")
        """,
    )
    result = backprop_run(
        "--stall-minutes",
        "0.05",  # 3 s
        "--grace",
        "2",
        "--json",
        str(script),
        cwd=tmp_path,
        env={"BACKPROP_GOVERNOR__POLL_SECONDS": "0.5"},
        timeout=90,
    )
    assert "WOKE UP" not in result.stdout
    assert result.returncode == 1, result.stderr
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.FAILED
    assert run.reason is not None and "stalled" in run.reason
    assert run.active_seconds < 60
    alerts = [e.event.payload.get("text", "") for e in st.events(run.id, kinds=["alert"])]
    assert any("no output and no events" in text for text in alerts)


def test_a_script_that_keeps_printing_is_not_stalled(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import time
        for i in range(25):
            print("tick", i, flush=True)
            time.sleep(0.2)
        """,
    )
    result = backprop_run(
        "--stall-minutes",
        "0.05",
        "--json",
        str(script),
        cwd=tmp_path,
        env={"BACKPROP_GOVERNOR__POLL_SECONDS": "0.5"},
    )
    assert result.returncode == 0, result.stderr
    assert only_run(store()).status == RunStatus.COMPLETED
