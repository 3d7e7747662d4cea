"""The time box: stop signal at the deadline, checkpoint, grace, SIGKILL, resume."""

from __future__ import annotations

import json
import signal

import pytest

from backprop_core.store.records import RunStatus

from .conftest import Bp

CHECKPOINTING = """
    import json, os, signal, sys, time
    stop = False
    def on_term(signum, frame):
        global stop
        stop = True
    signal.signal(signal.SIGTERM, on_term)
    run_dir, session = os.environ["BACKPROP_RUN_DIR"], os.environ["BACKPROP_SESSION"]
    with open(os.path.join(run_dir, "env-%s.json" % session), "w") as f:
        prefixes = ("BACKPROP_", "CUDA_", "PYTHON")
        json.dump({k: v for k, v in os.environ.items() if k.startswith(prefixes)}, f)
    step = 0
    while True:
        step += 1
        print(json.dumps({"event": "metrics", "step": step, "data": {"loss": 1.0 / step}}))
        if stop:
            path = os.path.join(os.environ["BACKPROP_CHECKPOINT_DIR"], "ckpt-%d.txt" % step)
            open(path, "w").write(str(step))
            print(json.dumps({"event": "checkpoint_saved", "path": path, "step": step}))
            with open(os.path.join(os.environ["BACKPROP_RUN_DIR"], "term-time"), "w") as f:
                f.write(repr(time.time()))
            sys.exit(0)
        time.sleep(0.05)
"""


@pytest.mark.slow
def test_timeboxed_run_checkpoints_and_resume_gets_the_checkpoint(bp: Bp) -> None:
    bp.script("train.py", CHECKPOINTING)
    first = bp.run("run", "-m", "0.05", "train.py")
    assert first.returncode == 0, first.stderr
    run = bp.only_run()
    assert run.status == RunStatus.TIMEBOXED
    with bp.store() as store:
        checkpoints = store.checkpoints(run.id)
    assert checkpoints, "the checkpoint announced on SIGTERM was not recorded"
    env1 = json.loads((bp.home / "runs" / run.id / "env-1.json").read_text())
    assert "BACKPROP_RESUME_FROM" not in env1
    assert env1["BACKPROP_RUN_ID"] == run.id
    assert env1["PYTHONUNBUFFERED"] == "1"
    assert float(env1["BACKPROP_DEADLINE"]) > run.created_at
    assert env1["BACKPROP_EVENTS_FD"].isdigit()

    second = bp.run("resume", run.id[:12], "-m", "0.03")
    assert second.returncode == 0, second.stderr
    env2 = json.loads((bp.home / "runs" / run.id / "env-2.json").read_text())
    assert env2["BACKPROP_RESUME_FROM"] == checkpoints[-1].path
    assert env2["BACKPROP_SESSION"] == "2"
    sessions = bp.sessions(run.id)
    assert [s.status for s in sessions] == [RunStatus.TIMEBOXED, RunStatus.TIMEBOXED]
    assert sessions[1].resumed_from == checkpoints[-1].path


@pytest.mark.slow
def test_deadline_is_precise(bp: Bp) -> None:
    bp.script("train.py", CHECKPOINTING)
    result = bp.run("run", "-m", "0.04", "train.py")
    assert result.returncode == 0, result.stderr
    run = bp.only_run()
    env = json.loads((bp.home / "runs" / run.id / "env-1.json").read_text())
    received = float((bp.home / "runs" / run.id / "term-time").read_text())
    late = received - float(env["BACKPROP_DEADLINE"])
    # Never before BACKPROP_DEADLINE (it is written with 1 ms precision); the ceiling only
    # tells "at the deadline" from "at some later poll or at exit" on a loaded machine.
    assert -0.001 <= late < 5.0
    assert 2.39 <= bp.sessions(run.id)[0].active_seconds < 2.4 + 10


@pytest.mark.slow
def test_script_ignoring_sigterm_is_killed_after_grace(bp: Bp) -> None:
    bp.script(
        "stubborn.py",
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("started", flush=True)
        while True:
            time.sleep(0.1)
        """,
    )
    result = bp.run("run", "-m", "0.03", "--grace", "1.5", "stubborn.py")
    assert result.returncode == 0, result.stderr
    assert "grace period over" in result.stderr
    run = bp.only_run()
    assert run.status == RunStatus.TIMEBOXED
    session = bp.sessions(run.id)[0]
    assert session.signal == signal.SIGKILL
    assert session.ended_at is not None
    lasted = session.ended_at - session.started_at
    # time box + the whole grace period, then SIGKILL: not the script's endless loop
    assert 1.8 + 1.5 - 0.01 <= lasted < 1.8 + 1.5 + 10


@pytest.mark.slow
def test_failures_and_foreign_kills_are_not_successes(bp: Bp) -> None:
    bp.script("fail.py", "import sys\nprint('boom')\nsys.exit(3)\n")
    failed = bp.run("run", "fail.py")
    assert failed.returncode == 1
    assert "exited with code 3" in failed.stderr
    assert "Traceback" not in failed.stderr
    bp.script("oom.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    killed = bp.run("run", "oom.py")
    assert killed.returncode == 1
    statuses = {r.script: r.status for r in bp.runs()}
    assert statuses == {"fail.py": RunStatus.FAILED, "oom.py": RunStatus.KILLED}


@pytest.mark.slow
def test_resuming_an_active_run_is_refused(bp: Bp) -> None:
    bp.script("slow.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    proc = bp.start("run", "slow.py")
    from tests.conftest import wait_for

    run = wait_for(lambda: next(iter(bp.runs()), None))
    result = bp.run("resume", run.id)
    assert result.returncode == 2
    assert "still running" in result.stderr
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 130


@pytest.mark.slow
def test_resume_uses_the_newest_checkpoint_that_still_exists(bp: Bp) -> None:
    bp.script(
        "two.py",
        """
        import json, os, sys
        if os.environ.get("BACKPROP_RESUME_FROM"):
            print("RESUMED FROM " + os.environ["BACKPROP_RESUME_FROM"])
            sys.exit(0)
        for name in ("old.ckpt", "new.ckpt"):
            open(name, "w").write(name)
            print(json.dumps({"event": "checkpoint_saved", "path": name}))
        sys.exit(4)
        """,
    )
    crashed = bp.run("run", "two.py")
    assert crashed.returncode == 1
    run = bp.only_run()
    assert run.status == RunStatus.FAILED
    (bp.work / "new.ckpt").unlink()
    resumed = bp.run("resume", run.id)
    assert resumed.returncode == 0, resumed.stderr
    assert "RESUMED FROM old.ckpt" in resumed.stdout
    assert bp.only_run().status == RunStatus.COMPLETED


WORKERS = """
    import os, signal, sys, time
    run_dir = os.environ["BACKPROP_RUN_DIR"]
    workers = []
    for n in range(2):
        pid = os.fork()
        if pid == 0:  # a DataLoader-style worker: same process group, cleans up on SIGTERM
            def clean_up(signum, frame, n=n):
                with open(os.path.join(run_dir, "worker-%d-cleaned" % n), "w") as f:
                    f.write("cleaned")
                os._exit(0)
            signal.signal(signal.SIGTERM, clean_up)
            with open(os.path.join(run_dir, "worker-%d-ready" % n), "w") as f:
                f.write("ready")
            while True:
                time.sleep(0.05)
        workers.append(pid)
    def join_workers(signum, frame):  # the main process forwards nothing: it only waits
        for pid in workers:
            os.waitpid(pid, 0)
        sys.exit(0)
    signal.signal(signal.SIGTERM, join_workers)
    while True:
        time.sleep(0.05)
"""


def test_the_stop_signal_reaches_every_worker_in_the_process_group(bp: Bp) -> None:
    bp.script("workers.py", WORKERS)
    proc = bp.start("run", "-m", "0.05", "--grace", "10", "workers.py")
    from tests.conftest import wait_for

    run = wait_for(lambda: next(iter(bp.runs()), None))
    run_dir = bp.home / "runs" / run.id
    wait_for(lambda: all((run_dir / f"worker-{n}-ready").exists() for n in (0, 1)))
    assert proc.wait(60) == 0
    assert bp.only_run().status == RunStatus.TIMEBOXED
    assert all((run_dir / f"worker-{n}-cleaned").exists() for n in (0, 1)), (
        "a worker got no SIGTERM"
    )
    session = bp.sessions(run.id)[0]
    assert session.exit_code == 0 and session.signal is None  # ended by itself, not SIGKILL
