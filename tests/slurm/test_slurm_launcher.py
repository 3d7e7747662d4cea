"""``--launcher slurm`` against a real one-node Slurm cluster (``conftest.slurm_cluster``).

Every scenario is submitted at once by the ``jobs`` fixture, so the jobs run side by side and
the module takes about as long as its slowest scenario; each test then waits for its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from backprop_core import JobPhase
from backprop_core.settings.model import Settings
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from tests.conftest import wait_for

from .conftest import SlurmBp
from .scenarios import (
    ESCAPING,
    LATER,
    NO_TIMEBOX,
    STUBBORN,
    STUCK,
    TRAIN,
    Submitted,
    ended,
    escaped,
    example_gpu,
    gone,
    listed_on_terminal,
    records,
    running,
    shown,
    submit,
)

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def jobs(sbp: SlurmBp, lone: SlurmBp) -> dict[str, Submitted]:
    """Every scenario's job, submitted at once."""
    lone.script("escaping.py", ESCAPING)
    sbp.script("train.py", TRAIN)
    sbp.script("stubborn.py", STUBBORN)
    sbp.script("stuck.py", STUCK)
    sbp.script("escaping.py", ESCAPING)
    started = time.monotonic()
    out = {
        "timebox": submit(sbp, "timebox", "-m", "0.1", "--grace", "5", "train.py"),
        "stubborn": submit(sbp, "stubborn", "-m", "0.05", "--grace", "2", "stubborn.py"),
        "chain": submit(
            sbp,
            "chain",
            "-m",
            "0.05",
            "--grace",
            "5",
            "--until-done",
            "--max-sessions",
            "5",
            "train.py",
            FINISH_IN_SESSION="3",
        ),
        "stuck": submit(
            sbp, "stuck", "-m", "0.05", "--until-done", "--max-sessions", "5", "stuck.py"
        ),
        # A node whose Python cannot start: the job fails before backprop runs in it.
        "broken-node": submit(
            sbp, "broken-node", "--slurm=--export=ALL,PYTHONHOME=/nonexistent", "train.py"
        ),
        "resumed": submit(sbp, "resumed", "-m", "0.05", "--grace", "5", "train.py"),
        "requeue-done": submit(sbp, "requeue-done", "train.py", FINISH_IN_SESSION="1"),
        "pending-stop": submit(sbp, "pending-stop", LATER, "train.py"),
        "pending-cancel": submit(sbp, "pending-cancel", LATER, "--json", "train.py"),
        "running-stop": submit(sbp, "running-stop", *NO_TIMEBOX, "--grace", "5", "train.py"),
        "killed": submit(
            lone, "killed", *NO_TIMEBOX, "escaping.py", ESCAPED=str(lone.work / "escaped-killed")
        ),
        "requeued": submit(
            sbp,
            "requeued",
            *NO_TIMEBOX,
            "--grace",
            "5",
            "escaping.py",
            ESCAPED=str(sbp.work / "escaped-requeued"),
        ),
        # A 10-minute box in a job whose limit is one minute: the limit must win.
        "short-limit": submit(
            sbp, "short-limit", *NO_TIMEBOX, "--grace", "5", "--slurm=--time=1", "train.py"
        ),
    }
    # GPU hand-over within the job's allocation (what Slurm sets for --gres=gpu:N), with GPUs
    # described by the example plugin's probe: four on the node, and one on a node whose
    # device constraint shows the job only its own, numbered from 0.
    show_gpus = sbp.script(
        "show_gpus.py", "import os; print('GPUS=' + os.environ['CUDA_VISIBLE_DEVICES'])\n"
    )
    for name, allocated, visible in (("gpus", "2", 4), ("gpus-constrained", "5", 1)):
        listing = sbp.work / f"{name}.json"
        listing.write_text(json.dumps([example_gpu(i) for i in range(visible)]))
        out[name] = submit(
            sbp,
            name,
            f"--slurm=--export=ALL,SLURM_JOB_GPUS={allocated}",
            show_gpus.name,
            BACKPROP_GPU__PROBE="example-gpu",
            BACKPROP_EXAMPLE_GPUS=str(listing),
        )
    interrupted = Submitted("follow-ctrl-c")
    interrupted.proc = sbp.start(
        "run", "--launcher", "slurm", "-n", "follow-ctrl-c", "--wait", LATER, "train.py"
    )
    out["follow-ctrl-c"] = interrupted
    following = Submitted("follow-running-ctrl-c")
    following.proc = sbp.start(
        "run",
        "--launcher",
        "slurm",
        "-n",
        "follow-running-ctrl-c",
        "--wait",
        *NO_TIMEBOX,
        "--grace",
        "5",
        "train.py",
    )
    out["follow-running-ctrl-c"] = following
    follow = Submitted("follow")
    follow.proc = sbp.start(
        "run", "--launcher", "slurm", "-n", "follow", "--wait", "-m", "0.05", "train.py"
    )
    out["follow"] = follow
    out["timebox"].extra["submitted_in"] = time.monotonic() - started
    return out


def test_a_time_boxed_job_is_recorded_timeboxed_with_its_checkpoint(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    job_id = jobs["timebox"].job_id
    view = ended(sbp, "timebox")
    assert view["status"] == "timeboxed" and "time box" in view["reason"]
    assert view["checkpoint_count"] >= 1 and view["last_step"] >= 1
    (session,) = view["sessions"]
    assert session["launcher"]["job_id"] == job_id
    assert session["launcher"]["node"] == sbp.cluster.node
    assert session["launcher"]["restart_count"] == 0
    assert session["exit_code"] == 0  # it saved its checkpoint and left on SIGTERM
    checkpoint = view["checkpoints"][-1]
    assert checkpoint["exists"] and checkpoint["step"] == view["last_step"]
    # The script's output is in the session log, backprop's own lines in the job's file.
    log = (sbp.home / "runs" / view["id"] / "session-1.log").read_text()
    assert '"event": "checkpoint_saved"' in log
    job_out = (sbp.home / "runs" / view["id"] / "session-1.slurm.out").read_text()
    assert "time box of 0.1 min reached" in job_out and '"step"' not in job_out


def test_a_script_that_ignores_sigterm_is_killed_after_the_grace_period(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    jobs["stubborn"].job_id  # noqa: B018 - submitted
    view = ended(sbp, "stubborn")
    assert view["status"] == "timeboxed"
    (session,) = view["sessions"]
    assert session["signal"] == signal.SIGKILL
    assert session["ended_at"] - session["started_at"] >= 3 + 2  # box, then the grace period
    assert gone(session["pid"])


def test_until_done_chains_three_jobs_to_completion_with_steps_continuing(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    first = jobs["chain"].job_id
    view = ended(sbp, "chain")
    assert view["status"] == "completed" and view["done"]
    sessions = view["sessions"]
    assert [s["status"] for s in sessions] == ["timeboxed", "timeboxed", "completed"]
    job_ids = [s["launcher"]["job_id"] for s in sessions]
    assert job_ids[0] == first and len(set(job_ids)) == 3  # one job per session
    assert all(s["resumed_from"] for s in sessions[1:])
    with open_store(Settings.from_config({}, home=sbp.home), reconcile=False) as store:
        series = store.metric_series(view["id"], "loss")
    # Each session went on from the checkpoint the one before saved: steps never go back.
    assert series.steps == sorted(series.steps) and len(set(series.steps)) == len(series.steps)
    assert series.steps[-1] == view["last_step"]


def test_until_done_ends_the_chain_of_jobs_when_a_session_makes_no_progress(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    jobs["stuck"].job_id  # noqa: B018 - submitted
    view = ended(sbp, "stuck")
    assert view["status"] == "timeboxed"
    # The first session moved to step 7; the second did not move on, and no third was queued.
    sessions = view["sessions"]
    assert [s["status"] for s in sessions] == ["timeboxed", "timeboxed"]
    assert sessions[0]["launcher"]["job_id"] != sessions[1]["launcher"]["job_id"]
    job_out = (sbp.home / "runs" / view["id"] / "session-2.slurm.out").read_text()
    assert "--until-done stops: no progress" in job_out


def test_a_job_limit_shorter_than_the_time_box_stops_the_run_in_time_to_checkpoint(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    jobs["short-limit"].job_id  # noqa: B018 - submitted
    view = ended(sbp, "short-limit")
    # Stopped by backprop before Slurm's limit (60 s): by the job's end less the margin (20 s),
    # or by Slurm's warning signal if that came first; either way with the grace period to
    # save a checkpoint, and never killed by Slurm.
    assert view["status"] == "timeboxed", view["reason"]
    assert view["reason"] in (
        "the job's time limit is near",
        "the scheduler's time limit is near (its warning signal arrived)",
    )
    (session,) = view["sessions"]
    assert session["exit_code"] == 0 and view["checkpoint_count"] == 1
    assert session["ended_at"] - session["started_at"] < 60


@pytest.mark.parametrize(("name", "handed"), [("gpus", "2"), ("gpus-constrained", "0")])
def test_a_job_is_handed_a_gpu_of_its_allocation_only(
    sbp: SlurmBp, jobs: dict[str, Submitted], name: str, handed: str
) -> None:
    jobs[name].job_id  # noqa: B018 - submitted
    view = ended(sbp, name)
    assert view["status"] == "completed", view["reason"]
    assert view["sessions"][0]["gpus"] == [f"GPU-{handed}"]
    log = (sbp.home / "runs" / view["id"] / "session-1.log").read_text()
    assert f"GPUS={handed}" in log


def test_stop_cancels_a_pending_job(sbp: SlurmBp, jobs: dict[str, Submitted]) -> None:
    job_id = jobs["pending-stop"].job_id
    view = shown(sbp, "pending-stop")
    assert view["status"] == "queued"
    job = view["sessions"][0]["launcher"]
    assert job["job_id"] == job_id and job["state"] == "PENDING"
    assert job["state_reason"] == "BeginTime"
    listed = sbp.run("list")  # not a terminal: the status column stays plain
    assert "\tqueued\t" in listed.stdout
    assert f"queued · slurm job {job_id} PENDING (BeginTime)" in listed_on_terminal(sbp)
    stopped = sbp.run("stop", "pending-stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"cancelled Slurm job {job_id}" in stopped.stderr
    view = shown(sbp, "pending-stop")
    assert view["status"] == "cancelled" and view["sessions"][0]["status"] == "cancelled"
    assert "cancelled before it started" in view["reason"]


def test_a_job_cancelled_while_pending_shows_cancelled(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    submitted = jobs["pending-cancel"]
    job_id = submitted.job_id
    assert submitted.result is not None
    printed = json.loads(submitted.result.stdout)  # --json: the run and its job
    assert printed["job_id"] == job_id and printed["status"] == "queued"
    sbp.cluster.client("scancel", job_id)  # from outside backprop
    view = wait_for(
        lambda: (v := shown(sbp, "pending-cancel"))["status"] == "cancelled" and v,
        timeout=60,
        what="the cancelled job to show",
    )
    assert f"Slurm job {job_id} was cancelled before it started" in view["reason"]
    listed = sbp.run("list", "--status", "cancelled", "--json")
    assert "pending-cancel" in {r["name"] for r in json.loads(listed.stdout)}


def test_a_job_that_fails_before_backprop_starts_in_it_shows_failed_with_slurms_word(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    job_id = jobs["broken-node"].job_id
    view = ended(sbp, "broken-node")
    assert view["status"] == "failed" and view["sessions"][0]["status"] == "failed"
    assert f"Slurm job {job_id} ended (FAILED" in view["reason"]
    assert "before backprop started in it" in view["reason"]
    # The job's own output, named in the reason, says why.
    output = view["sessions"][0]["launcher"]["output"]
    assert output in view["reason"]
    assert "Python" in Path(output).read_text()


def test_stop_ends_a_running_job_gracefully(sbp: SlurmBp, jobs: dict[str, Submitted]) -> None:
    job_id = jobs["running-stop"].job_id
    session = running(sbp, "running-stop")
    on_node = f"running · slurm job {job_id} on {sbp.cluster.node}"
    assert on_node in listed_on_terminal(sbp)
    stopped = sbp.run("stop", "running-stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"asked the supervisor in Slurm job {job_id} for a graceful stop" in stopped.stderr
    view = shown(sbp, "running-stop")
    assert view["status"] == "interrupted"
    assert view["checkpoint_count"] == 1  # the script got the stop signal and saved
    assert view["sessions"][0]["exit_code"] == 0
    assert gone(session.pid) and gone(session.supervisor_pid)


def test_a_killed_supervisor_ends_lost_with_its_job(
    lone: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    job_id = jobs["killed"].job_id
    session = running(lone, "killed")
    escapee = escaped(lone, "killed", 1)
    assert session.supervisor_pid is not None
    os.kill(session.supervisor_pid, signal.SIGKILL)
    # Read from another PID namespace with a patient liveness setting: only Slurm can tell
    # that the supervisor is gone there, since its pid means nothing and its last heartbeat
    # is recent.
    other = ["unshare", "--pid", "--fork", "--mount-proc"]
    patient = {"BACKPROP_LIVENESS__LOST_AFTER_SECONDS": "600"}
    view = wait_for(
        lambda: (v := shown(lone, "killed", *other, **patient))["status"] == "lost" and v,
        timeout=120,
        what="the run to be lost",
    )
    assert f"Slurm job {job_id} ended" in view["reason"]
    assert "before its supervisor recorded the end" in view["reason"]
    wait_for(lambda: gone(session.pid), timeout=60, what="the script to be killed")
    # Slurm (proctrack/pgid) cannot see the process that escaped the script; backprop ends it.
    wait_for(lambda: gone(escapee), timeout=60, what="the escaped process to be killed")


def test_a_requeued_job_goes_on_in_a_new_session_with_its_restart_count(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    job_id = jobs["requeued"].job_id
    first = running(sbp, "requeued")
    escapee = escaped(sbp, "requeued", 1)
    sbp.cluster.client("scontrol", "requeue", job_id)
    # Slurm stops the job (SIGTERM to the supervisor: a graceful stop), then starts it again
    # after KillWait and the credential's lifetime.
    again = wait_for(
        lambda: (
            len(s := records(sbp, "requeued")[1]) == 2 and s[1].status is RunStatus.RUNNING and s
        ),
        timeout=240,
        what="the requeued job's session",
    )
    assert again[0].status is RunStatus.INTERRUPTED and again[0].launcher["restart_count"] == 0
    assert again[1].launcher["job_id"] == job_id and again[1].launcher["restart_count"] == 1
    assert again[1].resumed_from is not None and gone(first.pid)
    assert gone(escapee)  # nothing of the first run of the job is left behind
    stopped = sbp.run("stop", "requeued")
    assert stopped.returncode == 0, stopped.stderr
    assert shown(sbp, "requeued")["status"] == "interrupted"


def test_a_requeued_job_of_a_completed_run_does_nothing(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    job_id = jobs["requeue-done"].job_id
    view = ended(sbp, "requeue-done")
    assert view["status"] == "completed"
    sbp.cluster.client("scontrol", "requeue", job_id)

    def ended_again() -> bool:
        job = sbp.cluster.client("scontrol", "show", "job", "-o", job_id).stdout
        return "Restarts=1" in job and "JobState=COMPLETED" in job

    wait_for(ended_again, timeout=240, what="the requeued job to run and end again")
    view = shown(sbp, "requeue-done")
    assert view["status"] == "completed" and len(view["sessions"]) == 1
    job_out = (sbp.home / "runs" / view["id"] / "session-1.slurm.out").read_text()
    assert f"Slurm restarted job {job_id} (restart 1); run {view['id']} is completed" in job_out


def test_resume_submits_the_next_session_as_a_job_and_local_brings_it_back_here(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    first = jobs["resumed"].job_id
    view = ended(sbp, "resumed")
    assert view["status"] == "timeboxed"
    step = view["last_step"]
    # The launcher is one of the run's stored settings: the next session is a job too.
    again = sbp.run("resume", "resumed", "-m", "0.05")
    assert again.returncode == 0, again.stderr
    assert "session 2 submitted as Slurm job" in again.stderr
    view = ended(sbp, "resumed")
    second = view["sessions"][1]
    assert second["status"] == "timeboxed" and second["launcher"]["job_id"] != first
    assert second["resumed_from"] and view["last_step"] > step
    here = sbp.run("resume", "resumed", "--launcher", "local", "-m", "0.05")
    assert here.returncode == 0, here.stderr
    view = shown(sbp, "resumed")
    third = view["sessions"][2]
    assert third["status"] == "timeboxed" and not third.get("launcher")
    assert third["resumed_from"] and third["host"] == view["sessions"][1]["host"]


def test_run_wait_follows_the_job_like_a_local_run(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    proc = jobs["follow"].proc
    assert proc is not None
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()
    assert b'"step": 1,' in out  # the script's output, as it printed it
    assert re.search(rb"submitted as Slurm job \d+", err)
    assert b"run " in err and b"timeboxed after" in err


def test_ctrl_c_while_following_a_pending_job_cancels_it(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    proc = jobs["follow-ctrl-c"].proc
    assert proc is not None
    wait_for(
        lambda: shown(sbp, "follow-ctrl-c")["sessions"][0]["launcher"].get("job_id"),
        timeout=120,
        what="the job to be submitted",
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"cancelled Slurm job" in err
    assert shown(sbp, "follow-ctrl-c")["status"] == "cancelled"


def test_ctrl_c_while_following_a_running_job_stops_it_gracefully(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:
    proc = jobs["follow-running-ctrl-c"].proc
    assert proc is not None
    session = running(sbp, "follow-running-ctrl-c")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"for a graceful stop" in err
    view = shown(sbp, "follow-running-ctrl-c")
    assert view["status"] == "interrupted"
    assert view["checkpoint_count"] == 1 and view["sessions"][0]["exit_code"] == 0
    assert gone(session.pid) and gone(session.supervisor_pid)


def test_a_job_slurm_no_longer_knows_leaves_its_run_lost_never_unknown(
    sbp: SlurmBp, jobs: dict[str, Submitted]
) -> None:

    with open_store(Settings.from_config({}, home=sbp.home), reconcile=False) as store:
        store.create_run(
            RunRecord("20260101-000000-gone", RunStatus.QUEUED, time.time(), name="gone")
        )
        job = {"name": "slurm", "job_id": "987654", "state": "PENDING"}
        store.add_session(
            SessionRecord("20260101-000000-gone", 1, RunStatus.QUEUED, time.time(), launcher=job)
        )
    # Neither the controller nor the job completion log knows job 987654, and there is no
    # accounting: how it ended cannot be known, and the run is not left waiting for it.
    view = shown(sbp, "gone")
    assert view["status"] == "lost" and view["sessions"][0]["status"] == "lost"
    assert "Slurm no longer knows Slurm job 987654" in view["reason"]


def test_the_job_completion_log_tells_how_a_forgotten_job_ended(
    sbp: SlurmBp, jobs: dict[str, Submitted], monkeypatch: pytest.MonkeyPatch
) -> None:
    from backprop_slurm.jobs import from_sacct

    job_id = jobs["timebox"].job_id
    ended(sbp, "timebox")
    monkeypatch.setenv("SLURM_CONF", sbp.cluster.env["SLURM_CONF"])
    info = wait_for(lambda: from_sacct(job_id), timeout=60, what="the completion log's line")
    assert info.phase is JobPhase.ENDED and info.state == "COMPLETED" and not info.cancelled


def test_no_process_of_any_job_survives(sbp: SlurmBp, jobs: dict[str, Submitted]) -> None:
    for name, job in jobs.items():
        ended(job.bp or sbp, name, timeout=300)
    wait_for(
        lambda: not sbp.cluster.job_processes(),
        timeout=120,
        what="every process of every job to be gone",
    )
    squeue = sbp.cluster.client("squeue", "-h", "-o", "%i %T")
    assert squeue.stdout.strip() == ""
