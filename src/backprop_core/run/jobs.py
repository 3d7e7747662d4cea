"""Sessions handed to a scheduler, as readers see them: what the scheduler says about a job
whose supervisor has not recorded anything (still pending, cancelled, failed before backprop
started in it), or has gone silent (killed with its job), and how ``stop`` reaches it.

``store.liveness.check_run`` asks here first for every active run whose latest session names
a scheduler's launcher; heartbeats judge the rest as for a local run (docs/store.md,
"Liveness"). A run is never left active because its job vanished: a job the scheduler no
longer knows, with no accounting to say how it ended, makes the run ``lost``.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from backprop_core.errors import LaunchError, RunStateError
from backprop_core.launch.scheduler import JobInfo, JobPhase, SchedulerLauncher, scheduler_of
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

#: A running session's job is looked up once its heartbeat is this old (two missed beats at
#: the default interval): a live supervisor costs no call to the scheduler.
QUIET_SECONDS = 12.0


def started(session: SessionRecord) -> bool:
    """Whether the session's supervisor recorded itself (it then keeps a heartbeat)."""
    return session.supervisor_pid is not None


def _where(scheduler: str, job_id: str) -> str:
    return f"{scheduler} job {job_id}"


def _ending(info: JobInfo) -> str:
    bits = [info.state or info.phase.value]
    if info.reason and info.reason not in ("None", info.state):
        bits.append(info.reason)
    if info.exit_code:
        bits.append(f"exit code {info.exit_code}")
    if info.signal:
        bits.append(f"signal {info.signal}")
    return ", ".join(bits)


def _end(
    store: Store, run: RunRecord, session: SessionRecord, status: RunStatus, reason: str
) -> RunRecord:
    now = time.time()
    ended = session.heartbeat_at if status is RunStatus.LOST and session.heartbeat_at else now
    store.update_session(run.id, session.number, status=status, ended_at=ended, reason=reason)
    return store.update_run(run.id, status=status, ended_at=ended, reason=reason)


def _verdict(
    launcher: SchedulerLauncher, session: SessionRecord, info: JobInfo
) -> tuple[RunStatus, str] | None:
    """How the session ended, by its job, when the job is over."""
    if info.phase in (JobPhase.QUEUED, JobPhase.RUNNING):
        return None
    job = _where(launcher.scheduler, info.job_id)
    output = session.launcher.get("output")
    see = f"; see {output}" if output else ""
    if info.phase is JobPhase.UNKNOWN:
        return RunStatus.LOST, (
            f"{launcher.scheduler} no longer knows {job} and keeps no accounting of it: how "
            f"it ended is unknown{see}"
        )
    if started(session):
        return RunStatus.LOST, (
            f"{job} ended ({_ending(info)}) before its supervisor recorded the end (killed "
            f"with the job, or its node failed){see}"
        )
    if info.cancelled:
        return RunStatus.CANCELLED, f"{job} was cancelled before it started ({_ending(info)})"
    return RunStatus.FAILED, f"{job} ended ({_ending(info)}) before backprop started in it{see}"


def _note(
    store: Store, run: RunRecord, session: SessionRecord, info: JobInfo
) -> SessionRecord | None:
    """Keep the scheduler's latest word on a job that has not started its supervisor."""
    seen: dict[str, Any] = {"state": info.state, "state_reason": info.reason}
    if info.node:
        seen["node"] = info.node
    if all(session.launcher.get(k) == v for k, v in seen.items()):
        return session
    return store.update_session(run.id, session.number, launcher={**session.launcher, **seen})


def check_scheduled(
    store: Store, run: RunRecord, session: SessionRecord, now: float
) -> RunRecord | None:
    """``run`` after asking the scheduler about its latest session's job, or ``None`` when
    the session's liveness is the heartbeat's to judge (a local session, a supervisor that
    beats, or a scheduler that cannot be asked from here)."""
    launcher = scheduler_of(session.launcher)
    if launcher is None:
        return None
    if started(session) and now - (session.heartbeat_at or 0.0) < QUIET_SECONDS:
        return None
    job_id = session.launcher.get("job_id")
    if not job_id:
        if now - session.started_at < 600:  # being submitted right now
            return run
        why = f"its job was never submitted to {launcher.scheduler} (the submission broke off)"
        return _end(store, run, session, RunStatus.LOST, why)
    try:
        info = launcher.jobs([str(job_id)])[str(job_id)]
    except (LaunchError, KeyError):
        return None
    # Read again after asking: a supervisor that recorded its end did so before its job ended.
    current = store.get_run(run.id)
    session = next((s for s in store.sessions(run.id) if s.number == session.number), session)
    if not current.status.active or not session.status.active:
        return current
    verdict = _verdict(launcher, session, info)
    if verdict is not None:
        return _end(store, current, session, *verdict)
    if not started(session):
        _note(store, current, session, info)
        return current
    return None


def stop_scheduled(session: SessionRecord, now: bool) -> str:
    """Ask the scheduler to stop the session's job: a job that waits is cancelled, a running
    one's supervisor gets the stop signal (graceful, or at once with ``now``). What was done."""
    launcher = scheduler_of(session.launcher)
    job_id = session.launcher.get("job_id")
    if launcher is None or not job_id:
        raise RunStateError(
            f"session {session.number} of run {session.run_id} has no job to stop yet",
            hint="it is being submitted; try again in a moment",
        )
    job = _where(launcher.scheduler, str(job_id))
    if not started(session):
        launcher.cancel(str(job_id))
        return f"cancelled {job}"
    launcher.signal(str(job_id), signal.SIGUSR1 if now else signal.SIGUSR2)
    how = "stop at once" if now else "graceful stop"
    return f"asked the supervisor in {job} for a {how}"
