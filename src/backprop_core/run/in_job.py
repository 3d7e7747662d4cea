"""Inside a scheduler's job: ``backprop supervise RUN SESSION`` supervises the queued session
exactly as a local run does (admission on the node, GPU hand-over within the job's allocation,
memory cap, events, records, pause, monitors), then, for ``--until-done``, queues the next
session as a job that starts when this one has ended.

A job the scheduler restarted (node failure, preemption, requeue) finds its session already
begun: that session is marked lost, and the run goes on in a new session from its newest
checkpoint, unless it had already completed or failed (so a restart never loops).
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import time
from pathlib import Path

from backprop_core.errors import (
    AdmissionRefused,
    BackpropError,
    LaunchError,
    StoreError,
    UsageError,
)
from backprop_core.launch.scheduler import JobHere, SchedulerLauncher, launcher_named
from backprop_core.run.chain import Progress, next_session
from backprop_core.run.records import exit_code_for, newest_checkpoint
from backprop_core.run.resuming import Start
from backprop_core.run.runner import JobSession, Runner, RunOptions, RunResult, open_run_store
from backprop_core.run.spec import stored_command
from backprop_core.run.submit import job_request, queue_session
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from backprop_core.supervisor import Display

#: A restarted job does not take up a run that ended like this.
FINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


def _claim(
    store: Store,
    run: RunRecord,
    number: int,
    here: JobHere,
    launcher: SchedulerLauncher,
    display: Display,
) -> SessionRecord | None:
    """The queued session this job is to run, or ``None`` when there is nothing to do."""
    sessions = {s.number: s for s in store.sessions(run.id)}
    own = sessions.get(number)
    queued = own is not None and own.status is RunStatus.QUEUED
    if own is not None and queued and own.launcher.get("job_id") in (None, here.job_id):
        return own
    latest = max(sessions.values(), key=lambda s: s.number, default=None)
    restarted = (
        latest is not None
        and latest.launcher.get("job_id") == here.job_id
        and here.restart_count > int(latest.launcher.get("restart_count") or 0)
    )
    if latest is None or not restarted:
        state = own.status.value if own is not None else "unknown"
        display.message(f"nothing to do: session {number} of run {run.id} is {state}")
        return None
    why = f"{launcher.scheduler} restarted job {here.job_id} (restart {here.restart_count})"
    if latest.status.active:
        store.update_session(
            run.id, latest.number, status=RunStatus.LOST, ended_at=time.time(), reason=why
        )
    current = store.get_run(run.id)
    if current.done or current.status in FINAL:
        display.message(f"{why}; run {run.id} is {current.status.value}: nothing to do")
        return None
    display.message(f"{why}: run {run.id} goes on in session {latest.number + 1}")
    session = SessionRecord(
        run.id, latest.number + 1, RunStatus.QUEUED, time.time(), launcher=dict(latest.launcher)
    )
    store.add_session(session)
    store.update_run(run.id, status=RunStatus.QUEUED, ended_at=None, reason=None)
    return session


class _LateStop:
    """A stop (SIGTERM, SIGINT, SIGHUP: ``backprop stop``, scancel) that arrives after the
    session has ended, while its end is recorded and the next session queued."""

    def __init__(self) -> None:
        self.asked = False
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._ask)

    def _ask(self, signum: int, frame: object) -> None:
        self.asked = True


def _unqueue(
    store: Store, launcher: SchedulerLauncher, run_id: str, number: int, job_id: str
) -> None:
    """Take back a next session queued just as a stop arrived."""
    with contextlib.suppress(LaunchError):
        launcher.cancel(job_id)
    reason = "a stop was asked for before it started"
    store.update_session(
        run_id, number, status=RunStatus.CANCELLED, ended_at=time.time(), reason=reason
    )


def supervise_in_job(settings: Settings, run_id: str, number: int) -> RunResult:
    """Run session ``number`` of ``run_id`` in the job this process runs in."""
    launcher = launcher_named(settings.launcher)
    here = launcher.current_job(settings) if isinstance(launcher, SchedulerLauncher) else None
    if not isinstance(launcher, SchedulerLauncher) or here is None:
        raise UsageError(
            f"`backprop supervise` runs a session inside the job a scheduler's launcher "
            f"submitted (launcher: {settings.launcher})",
            hint="start runs with: backprop run --launcher slurm SCRIPT",
        )
    display = Display()
    store = open_run_store(settings)
    try:
        run = store.get_run(run_id)
        session = _claim(store, run, number, here, launcher, display)
        if session is None:
            return RunResult(run.id, run.status, 0, 0, None, None)
        return _supervise(settings, store, launcher, here, run, session, display)
    finally:
        store.close()


def _supervise(
    settings: Settings,
    store: Store,
    launcher: SchedulerLauncher,
    here: JobHere,
    run: RunRecord,
    session: SessionRecord,
    display: Display,
) -> RunResult:
    number = session.number
    command, cwd = stored_command(run)
    launch = run.environment.get("launch", {})
    options = RunOptions(
        until_done=bool(launch.get("untilDone")), max_sessions=launch.get("maxSessions"), tee=False
    )
    runner = Runner(settings, options)
    runner.display = display
    checkpoint = newest_checkpoint(store, run)
    resume_from = session.resumed_from or checkpoint
    before = Progress(run.last_step, checkpoint)
    record = {**session.launcher, **launcher.job_record(here)}
    with tempfile.TemporaryDirectory(prefix="backprop-job-") as locks:
        job = JobSession(here, record, Path(locks))
        try:
            _, outcome = runner.supervise(
                store, command, cwd, run, run.id, number, Start(resume_from), job
            )
        except BackpropError as exc:  # refused on this node, or the script could not start
            status = RunStatus.REFUSED if isinstance(exc, AdmissionRefused) else RunStatus.FAILED
            ending = {"status": status, "ended_at": time.time(), "reason": str(exc)}
            store.update_session(run.id, number, launcher=record, **ending)
            store.update_run(run.id, **ending)
            raise
    stop = _LateStop()  # the session's own handlers are gone; a stop now ends the chain
    run = store.get_run(run.id)
    checkpoint = newest_checkpoint(store, run)
    more, why_not = next_session(
        until_done=options.until_done,
        max_sessions=options.max_sessions,
        ran=number - int(launch.get("chainFrom") or 1) + 1,
        outcome=outcome,
        run=run,
        before=before,
        checkpoint=checkpoint,
    )
    if why_not:
        display.message(f"--until-done stops: {why_not}")
    then = None
    if more and not stop.asked:
        request = job_request(settings, launcher, run.id, number + 1, cwd, after=here.job_id)
        try:
            job_id = queue_session(store, launcher, request)
            then = RunStatus.QUEUED
            display.message(
                f"--until-done: session {number + 1} queued as {launcher.scheduler} job "
                f"{job_id}, to start when this one ends"
            )
        except (LaunchError, StoreError) as exc:
            display.message(f"--until-done stops: could not queue the next session: {exc}")
        if then is not None and stop.asked:
            _unqueue(store, launcher, run.id, number + 1, job_id)
            then = None
    elif more:
        display.message("--until-done stops: a stop was asked for")
    run, _ = runner.record(store, run, number, outcome, then=then)
    runner.summarise(
        run,
        number,
        outcome.status,
        outcome.reason,
        outcome.active_seconds,
        checkpoint,
        last=then is None,
    )
    return RunResult(
        run.id,
        outcome.status,
        exit_code_for(outcome.status),
        1,
        outcome.reason,
        checkpoint,
    )
