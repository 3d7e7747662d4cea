"""The monitors through ``backprop run`` with real child processes: NaN alert and stall."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from backprop_core.store.records import RunStatus
from tests.conftest import run_cli
from tests.sdk.helpers import only_run, store, write_script


def backprop_run(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "run", *args, env={"BACKPROP_GPU__PROBE": "none", **(env or {})}, cwd=cwd, timeout=timeout
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


@pytest.mark.slow
def test_stop_on_nan_stops_the_run_as_failed(tmp_path: Path) -> None:
    script = write_script(tmp_path, NAN_SCRIPT)
    result = backprop_run("--stop-on-nan", "--grace", "5", "--json", str(script), cwd=tmp_path)
    assert "REACHED THE END" not in result.stdout
    assert result.returncode == 1, result.stderr
    run = only_run(store())
    assert run.status == RunStatus.FAILED
    assert run.reason is not None and "nan" in run.reason


@pytest.mark.slow
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


@pytest.mark.slow
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
