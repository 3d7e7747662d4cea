"""Recording a session's start, draining its last output and naming its outcome (lifecycle
step 7 in docs/architecture.md)."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from backprop_core.store.process_identity import here, process_start_time
from backprop_core.store.records import PauseRecord, RunStatus, SessionRecord
from backprop_core.supervisor.context import SessionContext
from backprop_core.supervisor.output import StreamReader

READER_JOIN_SECONDS = 2.0


@dataclass
class SessionOutcome:
    """How a session ended; the runner turns it into records and an exit code."""

    status: RunStatus
    exit_code: int | None
    signal: int | None
    reason: str | None
    started_at: float
    ended_at: float
    active_seconds: float
    pauses: list[PauseRecord] = field(default_factory=list)
    done: bool = False
    last_checkpoint: str | None = None


def drain(readers: list[StreamReader]) -> None:
    """Wait for the readers to reach end-of-file, as long as output keeps flowing.

    Once the process tree is gone every write end is closed, so the readers finish as soon as
    they have drained the pipes. A reader that makes no progress for ``READER_JOIN_SECONDS``
    (a pipe held open by a process that escaped) is abandoned; it is a daemon thread.
    """
    last = -1
    idle_since = time.monotonic()
    while any(not r.finished for r in readers):
        total = sum(r.bytes_read for r in readers)
        if total != last:
            last, idle_since = total, time.monotonic()
        elif time.monotonic() - idle_since > READER_JOIN_SECONDS:
            return
        for r in readers:
            r.join(0.05)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def classify(
    rc: int, stop_status: RunStatus | None, stop_reason: str | None
) -> tuple[RunStatus, int | None, int | None, str | None]:
    """Status, exit code, signal and reason for a child that ended with return code ``rc``.

    A stop backprop started (deadline, user, monitor) decides the status whatever the exit
    code; otherwise 0 is ``completed``, a signal nobody in backprop sent is ``killed``, and any
    other code is ``failed``.
    """
    sig = -rc if rc < 0 else None
    exit_code = rc if rc >= 0 else None
    if stop_status is not None:
        return stop_status, exit_code, sig, stop_reason
    if rc == 0:
        return RunStatus.COMPLETED, 0, None, None
    if sig is not None:
        reason = f"killed by {_signal_name(sig)}" + (
            " (not sent by backprop; possibly the out-of-memory killer)"
            if sig == signal.SIGKILL
            else " (not sent by backprop)"
        )
        return RunStatus.KILLED, None, sig, reason
    return RunStatus.FAILED, exit_code, None, f"exited with code {rc}"


def checkpoint_step(ctx: SessionContext, path: str | None) -> int | None:
    """The step the checkpoint a session resumes from announced, if it did."""
    if path is None:
        return None
    steps = [c.step for c in ctx.store.checkpoints(ctx.spec.run_id) if c.path == path]
    return steps[-1] if steps else None


def _start_time(pid: int) -> float | None:
    """The OS's start time of ``pid`` (from ``/proc`` on Linux, without importing psutil);
    ``None`` when the OS will not say (a script that has already exited)."""
    try:
        return process_start_time(pid)
    except Exception:  # psutil.Error where there is no /proc
        return None


def record_start(ctx: SessionContext, pid: int, started_at: float) -> None:
    """Record the new session (the supervisor's pid, start time and where that pid means
    something, and a first heartbeat) and notify plugins."""
    spec = ctx.spec
    scope = here()
    session = SessionRecord(
        run_id=spec.run_id,
        number=spec.session,
        status=RunStatus.RUNNING,
        started_at=started_at,
        pid=pid,
        pid_started=_start_time(pid),
        host=scope.host,
        gpus=list(ctx.gpu_labels),
        resumed_from=spec.resume_from,
        resumed_step=checkpoint_step(ctx, spec.resume_from),
        boot_id=scope.boot_id,
        pid_namespace=scope.pid_namespace,
        heartbeat_at=time.time(),
    )
    me = os.getpid()
    session.supervisor_pid, session.supervisor_started = me, _start_time(me)
    ctx.store.add_session(session)
    changes: dict[str, Any] = {"status": RunStatus.RUNNING, "ended_at": None}
    if ctx.run.started_at is None:  # the first session starts the run
        changes["started_at"] = started_at
    run = ctx.store.update_run(spec.run_id, **changes)
    ctx.run = run
    ctx.plugins.run_started(run, session)
