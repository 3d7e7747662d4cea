"""What a run says when it ends: who stopped it, whether resuming makes sense, and one hint."""

from __future__ import annotations

import signal
import subprocess

import pytest

from backprop_core.store.records import RunStatus

from .conftest import Bp

CRASH = """
    import json, os, sys
    if sys.argv[1:] == ["--checkpoint-first"]:
        path = os.path.join(os.environ["BACKPROP_CHECKPOINT_DIR"], "ck")
        open(path, "w").write("x")
        print(json.dumps({"event": "checkpoint_saved", "path": path, "step": 1}))
    raise SystemExit(3)
"""

# Prints "ready" once its SIGTERM handler is in place; ignores SIGTERM when asked to.
WAITS = """
    import signal, sys, time
    if "--stubborn" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("ready", flush=True)
    while True:
        time.sleep(0.05)
"""


def _wait_ready(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == b"ready":
            return
    pytest.fail("the script never said ready")


def test_a_crash_without_a_checkpoint_points_at_the_logs_not_at_resume(bp: Bp) -> None:
    bp.script("crash.py", CRASH)
    result = bp.run("run", "crash.py")
    assert result.returncode == 1
    run_id = bp.only_run().id
    assert result.stderr.splitlines()[-1] == (
        f"backprop: error: run {run_id} failed: exited with code 3;"
        f" see its output: backprop logs {run_id}"
    )
    assert "resume" not in result.stderr


def test_a_crash_after_a_checkpoint_also_offers_resume(bp: Bp) -> None:
    bp.script("crash.py", CRASH)
    result = bp.run("run", "crash.py", "--checkpoint-first")
    assert result.returncode == 1
    run_id = bp.only_run().id
    assert result.stderr.splitlines()[-1].endswith(
        f"see its output: backprop logs {run_id},"
        f" or resume it from its last checkpoint: backprop resume {run_id}"
    )


def test_ctrl_c_is_reported_as_a_stop_not_as_an_error(bp: Bp) -> None:
    bp.script("waits.py", WAITS)
    proc = bp.start("run", "--grace", "5", "waits.py")
    _wait_ready(proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    run = bp.only_run()
    text = err.decode()
    assert "error" not in text
    assert text.splitlines()[-1] == (
        f"backprop: run {run.id} stopped by Ctrl-C;"
        f" it saved no checkpoint, so backprop resume {run.id} would start over"
    )
    assert run.status == RunStatus.INTERRUPTED and run.reason == "stopped by Ctrl-C"


def test_sigterm_from_outside_is_named_as_such_not_as_backprop_stop(bp: Bp) -> None:
    bp.script("waits.py", WAITS)
    proc = bp.start("run", "--grace", "5", "waits.py")
    _wait_ready(proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    run = bp.only_run()
    assert run.reason == "stopped by SIGTERM sent from outside backprop"
    assert "backprop stop" not in err.decode()


@pytest.mark.slow
def test_stop_says_what_it_waits_for_on_a_script_that_ignores_sigterm(bp: Bp) -> None:
    bp.script("waits.py", WAITS)
    proc = bp.start("run", "--grace", "3", "waits.py", "--stubborn")
    _wait_ready(proc)
    run_id = bp.only_run().id
    stop = bp.run("stop", run_id, timeout=60)
    assert stop.returncode == 0, stop.stderr
    lines = stop.stderr.splitlines()
    assert lines[0] == (
        f"backprop: stopping run {run_id}: the script has 3 s to stop, then gets SIGKILL"
    )
    assert lines[-1] == f"backprop: run {run_id} is interrupted"
    _, err = proc.communicate(timeout=60)
    assert "grace period over: SIGKILL" in err.decode()
    run = bp.only_run()
    assert run.status == RunStatus.INTERRUPTED and run.reason == "stopped by backprop stop"
