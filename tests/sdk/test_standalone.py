"""The SDK run on its own: it creates the run in the store and records everything itself."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backprop_core.store.records import RunStatus
from tests.conftest import wait_for
from tests.sdk.helpers import child_env, only_run, run_script, store, write_script


def test_metrics_checkpoints_summary_and_status_land_in_the_store(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import backprop_core as bp
        run = bp.init(name="baseline", project="demo", config={"lr": 0.001}, tags={"k": "v"})
        for step in range(5):
            bp.log({"loss": 1.0 / (step + 1), "lr": 0.001}, step=step * 10)
        bp.log({"val_loss": 0.3})  # no step: the one after the previous call's
        bp.checkpoint("ckpt/model-40.pt", step=40, metrics={"loss": 0.2}, best=True)
        bp.summary({"best_loss": 0.2})
        print("RUN", run.id, run.dir)
        bp.finish()
        """,
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    st = store()
    run = only_run(st)
    assert f"RUN {run.id}" in result.stdout
    assert run.status == RunStatus.COMPLETED
    assert (run.name, run.project, run.tags) == ("baseline", "demo", {"k": "v"})
    assert run.summary == {"best_loss": 0.2}
    assert run.params == {"lr": 0.001}
    loss = st.metric_series(run.id, "loss")
    assert loss.steps == [0, 10, 20, 30, 40]
    assert loss.values == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert st.metric_series(run.id, "val_loss").steps == [41]
    (ckpt,) = st.checkpoints(run.id)
    assert ckpt.path == str(tmp_path / "ckpt" / "model-40.pt")
    assert (ckpt.step, ckpt.metrics, ckpt.best) == (40, {"loss": 0.2}, True)
    (session,) = st.sessions(run.id)
    assert session.status == RunStatus.COMPLETED and session.pid is not None
    assert run.ended_at is not None


def test_numpy_scalars_and_nan_are_kept_and_a_nan_loss_raises_an_alert(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    del np
    script = write_script(
        tmp_path,
        """
        import numpy as np
        import backprop_core as bp
        bp.log({"loss": np.float32(0.5), "acc": np.float64(0.75), "n": np.int64(3),
                "arr": np.array(2.5)}, step=np.int64(1))
        bp.log({"loss": float("nan"), "gnorm": float("inf"), "neg": -float("inf")}, step=2)
        bp.log({"loss": float("nan")}, step=3)
        """,
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.COMPLETED  # finished at exit without an explicit finish()
    loss = st.metric_series(run.id, "loss")
    assert loss.steps == [1, 2, 3]
    assert loss.values[0] == 0.5 and math.isnan(loss.values[1]) and math.isnan(loss.values[2])
    assert st.metric_series(run.id, "acc").values == [0.75]
    assert st.metric_series(run.id, "n").values == [3.0]
    assert st.metric_series(run.id, "arr").values == [2.5]
    assert st.metric_series(run.id, "gnorm").values == [math.inf]
    assert st.metric_series(run.id, "neg").values == [-math.inf]
    alerts = [e.event for e in st.events(run.id, kinds=["alert"])]
    assert len(alerts) == 1  # once per metric, not once per step
    assert "loss" in alerts[0].payload["text"] and alerts[0].step == 2


@pytest.mark.parametrize("store_name", ["sqlite", "json"])
def test_events_keep_the_order_they_were_logged_in_and_an_alert_follows_its_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_name: str
) -> None:
    monkeypatch.setenv("BACKPROP_STORE", store_name)
    script = write_script(
        tmp_path,
        """
        import backprop_core as bp
        bp.init()
        for step in range(3):
            bp.log({"loss": 1.0 / (step + 1), 7: step}, step=step)
        bp.checkpoint("a.pt", step=2)
        bp.log({"loss": float("nan")}, step=3)
        bp.log({"loss": 0.1}, step=4)
        bp.summary({"best": 0.1})
        bp.finish()
        """,
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    st = store()
    run = only_run(st)
    got = [(e.event.kind, e.event.step) for e in st.events(run.id)]
    assert got[: len(got) - 1] == [
        ("metrics", 0),
        ("metrics", 1),
        ("metrics", 2),
        ("checkpoint_saved", 2),
        ("metrics", 3),
        ("alert", 3),
        ("metrics", 4),
    ]
    assert got[-1][0] == "summary"
    assert [e.seq for e in st.events(run.id)] == list(range(1, len(got) + 1))
    assert st.metric_series(run.id, "7").values == [0.0, 1.0, 2.0]  # a number key is a name
    assert run.last_metrics == {"loss": 0.1, "7": 2.0} and run.last_step == 4


@pytest.mark.slow
def test_torch_zero_dim_tensors_are_accepted(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    script = write_script(
        tmp_path,
        """
        import torch
        import backprop_core as bp
        loss = torch.tensor(0.25, requires_grad=True) * 2
        bp.log({"loss": loss, "step_t": torch.tensor(7)}, step=torch.tensor(4))
        try:
            bp.log({"bad": torch.ones(3)})
        except ValueError as exc:
            print("REJECTED", exc)
        """,
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    assert "REJECTED metric 'bad' must be a scalar" in result.stdout
    st = store()
    run = only_run(st)
    series = st.metric_series(run.id, "loss")
    assert (series.steps, series.values) == ([4], [0.5])
    assert st.metric_series(run.id, "step_t").values == [7.0]


def test_non_numeric_values_are_rejected_naming_the_key(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import backprop_core as bp
        for bad in ({"loss": "high"}, {"loss": None}, {"x": [1, 2]}, ["loss", 1.0]):
            try:
                bp.log(bad, step=1)
            except (TypeError, ValueError) as exc:
                print("ERR", type(exc).__name__, exc)
        bp.log({"ok": 1.0}, step=1)
        """,
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERR")]
    assert len(errors) == 4
    assert "metric 'loss' must be a number" in errors[0] and "str" in errors[0]
    assert "metric 'loss'" in errors[1] and "NoneType" in errors[1]
    assert "metric 'x'" in errors[2]
    assert "dict" in errors[3]
    st = store()
    run = only_run(st)
    assert st.metric_keys(run.id) == ["ok"]  # nothing of the rejected calls was recorded


def test_uncaught_exception_marks_the_run_failed_and_keeps_its_metrics(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import backprop_core as bp
        bp.init()
        bp.log({"loss": 1.0}, step=1)
        raise RuntimeError("diverged at step 1")
        """,
    )
    result = run_script(script)
    assert result.returncode == 1
    assert "RuntimeError: diverged at step 1" in result.stderr  # the user's traceback stays
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.FAILED
    assert run.reason == "RuntimeError: diverged at step 1"
    assert st.metric_series(run.id, "loss").values == [1.0]
    assert st.sessions(run.id)[0].status == RunStatus.FAILED


@pytest.mark.parametrize(
    ("ending", "code", "status", "reason"),
    [
        ("sys.exit(3)", 3, RunStatus.FAILED, "exited with status 3"),
        ("sys.exit('bad data')", 1, RunStatus.FAILED, "exited with status 1: bad data"),
        ("argparse.ArgumentParser().parse_args(['--nope'])", 2, RunStatus.FAILED,
         "exited with status 2"),
        ("sys.exit(0)", 0, RunStatus.COMPLETED, None),
        ("sys.exit()", 0, RunStatus.COMPLETED, None),
        ("threading.Thread(target=sys.exit, args=(4,)).start()", 0, RunStatus.COMPLETED, None),
    ],
)  # fmt: skip
def test_sys_exit_status_decides_between_completed_and_failed(
    tmp_path: Path, ending: str, code: int, status: RunStatus, reason: str | None
) -> None:
    script = write_script(
        tmp_path,
        f"""
        import argparse, sys, threading
        import backprop_core as bp
        bp.init()
        bp.log({{"loss": 1.0}}, step=1)
        {ending}
        """,
    )
    result = run_script(script)
    assert result.returncode == code, result.stderr
    st = store()
    run = only_run(st)
    assert run.status == status
    assert run.reason == reason
    assert st.metric_series(run.id, "loss").values == [1.0]


def test_logging_after_finish_is_a_backprop_error_that_names_the_run(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import backprop_core as bp
        from backprop_core.errors import BackpropError
        run = bp.init(name="done-already")
        run.finish()
        try:
            run.log({"loss": 1.0}, step=1)
        except BackpropError as exc:
            print("CAUGHT", type(exc).__name__, isinstance(exc, RuntimeError), exc)
        """,
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    run = only_run(store())
    assert f"CAUGHT RunFinished True run {run.id} is finished" in result.stdout


def test_context_manager_finishes_the_run(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import backprop_core as bp
        try:
            with bp.init(name="ctx") as run:
                bp.log({"loss": 2.0}, step=0)
                raise ValueError("bad batch")
        except ValueError:
            pass
        print("ACTIVE", bp.active_run())
        """,
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    assert "ACTIVE None" in result.stdout
    run = only_run(store())
    assert run.status == RunStatus.FAILED and run.reason == "ValueError: bad batch"


def _start_looping_child(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    progress = tmp_path / "progress.txt"
    script = write_script(
        tmp_path,
        f"""
        import time
        import backprop_core as bp
        bp.init(name="loop")
        out = open({str(progress)!r}, "a", buffering=1)
        step = 0
        while True:
            bp.log({{"loss": 1.0, "step_value": float(step)}}, step=step)
            out.write(f"{{step}} {{time.time()!r}}\\n")
            step += 1
            time.sleep(0.005)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, progress


def _progress(progress: Path) -> list[tuple[int, float]]:
    if not progress.exists():
        return []
    rows = []
    for line in progress.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            rows.append((int(parts[0]), float(parts[1])))
    return rows


@pytest.mark.slow
def test_sigkill_keeps_everything_logged_more_than_one_second_before(tmp_path: Path) -> None:
    proc, progress = _start_looping_child(tmp_path)
    try:
        # Let it log for a while so several flushes have happened.
        wait_for(
            lambda: (rows := _progress(progress)) and rows[-1][1] - rows[0][1] > 2.5,
            what="the child to log for 2.5 s",
        )
    finally:
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    rows = _progress(progress)
    old_enough = [step for step, t in rows if t <= killed_at - 1.0]
    assert old_enough, "the child logged nothing more than 1 s before the kill"
    st = store()
    run = only_run(st)
    steps = st.metric_series(run.id, "step_value").steps
    stored = set(steps)
    missing = [s for s in old_enough if s not in stored]
    assert not missing, f"{len(missing)} points logged > 1 s before SIGKILL were lost"
    assert run.status == RunStatus.RUNNING  # nobody could record an end; reconcile marks it lost


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_records_interrupted_and_flushes(tmp_path: Path, signum: int) -> None:
    proc, progress = _start_looping_child(tmp_path)
    try:
        wait_for(lambda: len(_progress(progress)) >= 20, what="the child to log 20 steps")
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if signum == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM, stderr
    else:
        assert proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT, 1), stderr
    last_logged = _progress(progress)[-1][0]
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.INTERRUPTED
    assert st.sessions(run.id)[0].status == RunStatus.INTERRUPTED
    # Everything up to the signal was flushed, not just up to the last periodic flush.
    last_stored = st.metric_series(run.id, "step_value").steps[-1]
    assert last_stored is not None and last_stored >= last_logged


def test_environment_is_recorded_without_remote_credentials(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "trunk"], check=True)
    subprocess.run(
        [*git, "remote", "add", "origin", "https://alice:s3cr3t-token@example.com/x.git"],
        check=True,
    )
    script = write_script(repo, "import backprop_core as bp\nbp.init()\nbp.finish()\n")
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    script.write_text(script.read_text() + "# edited\n")  # dirty
    result = run_script(script, env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    run = only_run(store())
    env = run.environment
    assert env["git"] == {"commit": commit, "branch": "trunk", "dirty": True}
    assert env["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["python"]["executable"] == sys.executable
    assert env["command"] == [sys.executable, str(script)]
    assert env["hostname"] and "pytest" in env["packages"]
    assert env["gpus"] == [] or all(isinstance(g, str) for g in env["gpus"])
    assert "s3cr3t" not in json.dumps(env)
    assert os.path.basename(run.script or "") == "train.py"


def test_a_forked_child_exiting_does_not_end_the_parents_run(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import os, sys
        import backprop_core as bp
        bp.init()
        bp.log({"loss": 1.0}, step=0)
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # runs the exit hooks in the child, like a worker process would
        os.waitpid(pid, 0)
        print("ACTIVE", bp.active_run() is not None)
        bp.log({"loss": 0.5}, step=1)
        bp.finish()
        """,
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    assert "ACTIVE True" in result.stdout
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.COMPLETED
    assert st.metric_series(run.id, "loss").steps == [0, 1]


def test_a_standalone_run_keeps_its_heartbeat_and_is_lost_once_frozen(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import time
        import backprop_core as bp
        bp.init(name="beating")
        print("started", flush=True)
        while True:
            time.sleep(0.05)
        """,
    )
    env = child_env({"BACKPROP_LIVENESS__HEARTBEAT_SECONDS": "0.2"})
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        st = store()
        run = only_run(st)
        first = st.sessions(run.id)[0].heartbeat_at
        assert first is not None
        # It beats by itself, as a supervisor does...
        wait_for(lambda: (st.sessions(run.id)[0].heartbeat_at or 0) > first + 0.5, timeout=60)
        quick = {"BACKPROP_LIVENESS__LOST_AFTER_SECONDS": "2"}

        def status() -> str:
            listed = subprocess.run(
                [sys.executable, "-m", "backprop_core.cli", "list", "--json"],
                env={**env, **quick},
                capture_output=True,
                text=True,
                timeout=60,
            )
            return str(json.loads(listed.stdout)[0]["status"])

        assert status() == "running"
        # ...and a frozen process stops beating: its run is lost once the heartbeat is old.
        os.kill(proc.pid, signal.SIGSTOP)
        wait_for(lambda: status() == "lost", timeout=60)
    finally:
        proc.kill()
        proc.wait()
