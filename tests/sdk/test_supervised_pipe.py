"""The SDK under a supervisor: events go as protocol v1 JSON lines on ``BACKPROP_EVENTS_FD``.

These tests play the supervisor's part of the contract themselves (a pipe passed with
``pass_fds`` and the ``BACKPROP_*`` variables), so they pin the wire format exactly.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.sdk.helpers import child_env, read_json_lines, store, write_script


def supervised_env(tmp_path: Path, fd: int | None, **extra: str) -> dict[str, str]:
    env = {
        "BACKPROP_RUN_ID": "20260101-000000-test",
        "BACKPROP_SESSION": "2",
        "BACKPROP_RUN_DIR": str(tmp_path / "run"),
        "BACKPROP_CHECKPOINT_DIR": str(tmp_path / "run" / "checkpoints"),
        "BACKPROP_FRAMEWORK": "generic",
    }
    if fd is not None:
        env["BACKPROP_EVENTS_FD"] = str(fd)
    env.update(extra)
    return child_env(env)


def spawn(script: Path, env: dict[str, str], fd: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=script.parent,
        env=env,
        pass_fds=(fd,) if fd is not None else (),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def run_with_pipe(
    tmp_path: Path, body: str, **extra: str
) -> tuple[list[dict[str, Any]], str, str, int]:
    script = write_script(tmp_path, body)
    read_end, write_end = os.pipe()
    proc = spawn(script, supervised_env(tmp_path, write_end, **extra), write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        events = pipe.read()  # EOF when the child (the only writer) exits
    out, err = proc.communicate(timeout=120)
    return read_json_lines(events), out.decode(), err.decode(), proc.returncode


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


def test_events_go_to_the_pipe_and_user_prints_stay_on_stdout(tmp_path: Path) -> None:
    events, out, err, code = run_with_pipe(
        tmp_path,
        """
        import backprop_core as bp
        run = bp.init(name="sup", config={"lr": 0.1})
        print("user print 1")
        for step in range(1000):
            bp.log({"loss": 1.0 / (step + 1), "acc": step / 1000}, step=step)
        bp.log({"loss": float("nan"), "inf": float("inf")}, step=1000)
        print('{"not": "an event"} user print 2')
        bp.checkpoint("ckpt.pt", step=1000, metrics={"loss": 0.5}, best=True)
        bp.summary({"final": 1})
        print("RUN", run.id, run.session, run.dir, run.checkpoint_dir, run.supervised)
        bp.finish()
        """,
    )
    assert code == 0, err
    assert "user print 1" in out and "user print 2" in out
    assert '"event"' not in out  # no event leaked onto stdout
    assert (
        f"RUN 20260101-000000-test 2 {tmp_path / 'run'} {tmp_path / 'run' / 'checkpoints'} True"
        in out
    )
    metrics = of_kind(events, "metrics")
    assert [m["step"] for m in metrics] == list(range(1001))
    assert metrics[3]["data"] == {"loss": 0.25, "acc": 0.003}
    assert math.isnan(metrics[-1]["data"]["loss"]) and metrics[-1]["data"]["inf"] == math.inf
    assert all(isinstance(m["time"], float) for m in metrics)
    (ckpt,) = of_kind(events, "checkpoint_saved")
    assert ckpt == {
        "event": "checkpoint_saved",
        "path": str(tmp_path / "ckpt.pt"),
        "step": 1000,
        "metrics": {"loss": 0.5},
        "best": True,
        "time": ckpt["time"],
    }
    assert [s["data"] for s in of_kind(events, "summary")] == [{"final": 1}]
    assert [p["data"] for p in of_kind(events, "params")] == [{"lr": 0.1}]
    assert of_kind(events, "init")[0]["name"] == "sup"
    # The supervisor captures the environment of every run; the SDK leaves it to it.
    assert of_kind(events, "environment") == []
    # Under a supervisor the SDK never creates a run of its own.
    assert store().list_runs() == []


def test_without_a_pipe_events_fall_back_to_whole_stdout_lines(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import backprop_core as bp
        bp.init()
        for step in range(2000):
            bp.log({"loss": 0.5}, step=step)
            if step % 100 == 0:
                print(f"user line {step}")
        bp.finish()
        """,
    )
    proc = spawn(script, supervised_env(tmp_path, None, BACKPROP_EVENTS_FD="99"))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = out.decode().splitlines()
    user = [line for line in lines if line.startswith("user line")]
    events = read_json_lines("\n".join(x for x in lines if x.startswith("{")).encode())
    assert len(user) == 20
    assert [e["step"] for e in of_kind(events, "metrics")] == list(range(2000))
    assert len(user) + len(events) == len(lines)  # every line is either whole or ours


def test_stop_signal_only_sets_the_flag_and_the_script_saves_and_leaves(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = write_script(
        tmp_path,
        f"""
        import pathlib, time
        import backprop_core as bp
        bp.init()
        step = 0
        while not bp.should_stop():
            bp.log({{"loss": 1.0}}, step=step)
            step += 1
            if step == 1:  # ready once something is logged
                pathlib.Path({str(ready)!r}).write_text("go")
            time.sleep(0.002)
        assert bp.should_checkpoint()
        bp.checkpoint("last.pt", step=step)
        assert not bp.should_checkpoint()
        print("STOPPED CLEANLY", step)
        """,
    )
    read_end, write_end = os.pipe()
    proc = spawn(script, supervised_env(tmp_path, write_end), write_end)
    os.close(write_end)
    wait_for(ready.exists, what="the child to start")
    os.killpg(proc.pid, signal.SIGTERM)
    with os.fdopen(read_end, "rb") as pipe:
        events = read_json_lines(pipe.read())
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "STOPPED CLEANLY" in out.decode()
    (ckpt,) = of_kind(events, "checkpoint_saved")
    assert ckpt["path"] == str(tmp_path / "last.pt")
    assert ckpt["step"] == of_kind(events, "metrics")[-1]["step"] + 1


@pytest.mark.slow
def test_should_checkpoint_on_the_interval_and_near_the_deadline(tmp_path: Path) -> None:
    # A 6 s box: "near" starts at half the box (never more than 50%, else 10%/30 s). The script
    # sets its deadline itself, just before ``init``, so that its start-up (seconds on a loaded
    # machine) does not eat into the box.
    _events, out, err, code = run_with_pipe(
        tmp_path,
        """
        import os, time
        import backprop_core as bp
        os.environ["BACKPROP_DEADLINE"] = repr(time.time() + 6)
        run = bp.init()
        start = time.time()
        assert not bp.should_checkpoint()
        while not bp.should_checkpoint():
            time.sleep(0.01)
        print("NEAR_AFTER", round(time.time() - start, 2), "REMAINING", round(run.remaining, 2))
        bp.checkpoint("a.pt", step=1)
        print("THEN", bp.should_checkpoint(), bp.should_stop())
        """,
    )
    assert code == 0, err
    remaining = float(out.split("REMAINING")[1].split()[0])
    assert 1.5 <= remaining <= 3.05
    assert "THEN False False" in out
    _events, out, err, code = run_with_pipe(
        tmp_path,
        """
        import time
        import backprop_core as bp
        bp.init()
        start = time.time()
        while not bp.should_checkpoint():
            time.sleep(0.01)
        first = time.time() - start
        bp.checkpoint("b.pt")
        print("INTERVAL", round(first, 2), bp.should_checkpoint(), bp.run_deadline_none())
        """.replace("bp.run_deadline_none()", "bp.active_run().deadline"),
        BACKPROP_CHECKPOINT_EVERY="0.5",
    )
    assert code == 0, err
    first = float(out.split("INTERVAL")[1].split()[0])
    assert 0.45 <= first <= 10.0
    assert out.strip().endswith("False None")


def test_resume_from_reads_the_supervisors_checkpoint(tmp_path: Path) -> None:
    _events, out, err, code = run_with_pipe(
        tmp_path,
        """
        import backprop_core as bp
        print("BEFORE", bp.resume_from())
        bp.init()
        print("AFTER", bp.resume_from(), bp.active_run().resume_from())
        """,
        BACKPROP_RESUME_FROM="/ckpt/step-10.pt",
    )
    assert code == 0, err
    assert "BEFORE /ckpt/step-10.pt" in out
    assert "AFTER /ckpt/step-10.pt /ckpt/step-10.pt" in out
