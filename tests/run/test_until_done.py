"""``--until-done`` chains sessions from the newest checkpoint until the script says done."""

from __future__ import annotations

import sys

import pytest

from backprop_core.store.records import RunStatus
from tests.conftest import REPO
from tests.ready_box import ready_box_env

from .conftest import Bp


@pytest.mark.slow
def test_until_done_chains_sessions_until_done(bp: Bp) -> None:
    bp.script(
        "steps.py",
        """
        import json, os, signal, time
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        resume = os.environ.get("BACKPROP_RESUME_FROM")
        step = int(open(resume).read()) if resume else 0
        def save():
            path = os.path.join(os.environ["BACKPROP_CHECKPOINT_DIR"], "step-%d" % step)
            open(path, "w").write(str(step))
            print(json.dumps({"event": "checkpoint_saved", "path": path, "step": step}))
        # The first session works until its box ends, however long start-up took; a resumed
        # one finishes the remaining steps at once.
        while resume is None or step < 60:
            step += 1
            print(json.dumps({"step": step, "loss": 1.0 / step}))
            if stop:
                save()
                raise SystemExit(0)
            if resume is None:
                time.sleep(0.05)
        save()
        print(json.dumps({"event": "done"}))
        """,
    )
    result = bp.run(
        "run", "-m", "0.05", "--grace", "10", "--until-done", "--max-sessions", "8", "steps.py"
    )
    assert result.returncode == 0, result.stderr
    run = bp.only_run()
    sessions = bp.sessions(run.id)
    assert len(sessions) >= 2
    assert [s.status for s in sessions[:-1]] == [RunStatus.TIMEBOXED] * (len(sessions) - 1)
    assert sessions[-1].status == RunStatus.COMPLETED
    assert run.done and run.status == RunStatus.COMPLETED
    assert all(s.resumed_from for s in sessions[1:])


@pytest.mark.slow
def test_until_done_stops_at_max_sessions(bp: Bp) -> None:
    bp.script(
        "forever.py",
        """
        import json, os, signal, time
        signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
        # each session gets further than the one before, then never ends by itself
        with open("sessions", "a") as f:
            f.write("x")
        print(json.dumps({"step": os.path.getsize("sessions"), "loss": 1.0}), flush=True)
        while True:
            time.sleep(0.05)
        """,
    )
    result = bp.run("run", "-m", "0.02", "--until-done", "--max-sessions", "2", "forever.py")
    assert result.returncode == 0, result.stderr
    run_id = bp.only_run().id
    assert len(bp.sessions(run_id)) == 2
    assert "stopping after 2 sessions (--max-sessions 2)" in result.stderr
    # One hint, after the last session: it saved no checkpoint, so resuming starts over.
    assert result.stderr.count("backprop resume") == 1
    assert result.stderr.rstrip().endswith(
        f"it saved no checkpoint, so backprop resume {run_id} would start over"
    )


def test_until_done_stops_at_the_first_session_without_progress(bp: Bp) -> None:
    bp.script(
        "never_saves.py",
        """
        import time
        while True:
            time.sleep(0.05)
        """,
    )
    result = bp.run("run", "-m", "0.02", "--until-done", "never_saves.py")
    assert result.returncode == 1
    run_id = bp.only_run().id
    assert len(bp.sessions(run_id)) == 1
    assert "--until-done stopped: session 1 made no progress (no new checkpoint" in result.stderr
    assert "starting session 2" not in result.stderr


@pytest.mark.slow
def test_quickstart_example_runs_out_of_the_box(bp: Bp) -> None:
    result = bp.run("run", "-m", "0.05", "--grace", "5", str(REPO / "examples" / "quickstart.py"))
    assert result.returncode == 0, result.stderr
    run = bp.only_run()
    assert run.status == RunStatus.TIMEBOXED and run.checkpoint_count >= 1
    resumed = bp.run("resume", run.id, "-m", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step" in resumed.stdout
    assert bp.only_run().status == RunStatus.COMPLETED
    # Its event lines are recorded, not printed; the end of each session sums it up.
    assert '{"event"' not in result.stdout + resumed.stdout
    assert "completed after" in resumed.stderr and "; step 200; loss=" in resumed.stderr


@pytest.mark.slow
def test_pytorch_example_resumes_from_its_torch_checkpoint(bp: Bp) -> None:
    pytest.importorskip("torch")
    script = str(REPO / "examples" / "pytorch_train.py")
    box = ready_box_env(bp.work.parent / "site", 6)  # counted once torch is imported
    first = bp.run(
        "run",
        "--grace",
        "120",
        "--resume-arg",
        "--resume {checkpoint}",
        script,
        "--steps",
        "100000",
        "--step-seconds",
        "0.002",
        timeout=300,
        env=box,
    )
    assert first.returncode == 0, first.stderr
    run = bp.only_run()
    assert run.status == RunStatus.TIMEBOXED
    assert run.framework == "pytorch"
    with bp.store() as store:
        saved = store.checkpoints(run.id)[-1]
    assert saved.path.endswith(".pt") and saved.step and saved.step > 0
    second = bp.run("resume", run.id, "--grace", "120", timeout=300, env=box)
    assert second.returncode == 0, second.stderr
    assert f"at step {saved.step}" in second.stdout
    with bp.store() as store:
        later = store.checkpoints(run.id)[-1]
    assert later.step is not None and later.step > saved.step
    assert sys.executable
