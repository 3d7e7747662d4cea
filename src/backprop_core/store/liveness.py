"""Liveness (docs/store.md, "Liveness"): active runs whose supervisor is gone become ``lost``.

A supervisor shows it is alive by refreshing its session's ``heartbeat_at`` every
``liveness.heartbeatSeconds``. A run is lost when the heartbeat of its latest session is older
than ``liveness.lostAfterSeconds``, or at once when the reader shares the supervisor's host,
boot and PID namespace and can see that the supervisor's process (pid plus start time, since
pids are reused) no longer exists. From another container or host a pid means nothing, so it
is never looked at there. Runs pulled from another host (``origin``) are that host's to judge:
the next pull brings their state (docs/remote.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from backprop_core.store.contract import Store
from backprop_core.store.process_identity import PidScope, here, process_alive
from backprop_core.store.records import ACTIVE_STATUSES, RunRecord, RunStatus, SessionRecord

#: Defaults of the ``liveness`` settings.
HEARTBEAT_SECONDS = 5.0
LOST_AFTER_SECONDS = 60.0

GONE_REASON = "the supervisor process is gone (crashed or killed)"
SILENT_REASON = (
    "the supervisor stopped sending heartbeats (crashed, killed, frozen, or its machine is down)"
)


@dataclass(frozen=True)
class Verdict:
    """What a reader can tell about a session's supervisor.

    ``last_seen``: when it was last known to be alive (its last heartbeat). ``local``: whether
    the reader could check its process itself (same host, boot and PID namespace).
    """

    lost: bool
    reason: str | None = None
    last_seen: float | None = None
    local: bool = False


def pid_checkable(session: SessionRecord) -> bool:
    """Whether this process can check the session's supervisor by its pid."""
    scope = PidScope(session.host, session.boot_id, session.pid_namespace)
    recorded = session.supervisor_pid is not None and session.supervisor_started is not None
    return recorded and scope.same_as(here())


def _gone(session: SessionRecord) -> bool:
    return not process_alive(session.supervisor_pid, session.supervisor_started)


def judge(session: SessionRecord, lost_after: float, now: float | None = None) -> Verdict:
    """Whether the supervisor of ``session`` (a run's latest session) is gone."""
    now = time.time() if now is None else now
    last = session.heartbeat_at
    local = pid_checkable(session)
    if local and _gone(session):
        return Verdict(True, GONE_REASON, last, local=True)
    if last is None:
        # Recorded by a supervisor without heartbeats (an older backprop): only its pid can
        # tell, and only on its own host, as before; anywhere else it is left alone.
        legacy = session.boot_id is None and session.host in (None, here().host)
        if legacy and session.supervisor_pid is not None and _gone(session):
            return Verdict(True, GONE_REASON)
        return Verdict(False, local=local)
    if now - last > lost_after:
        return Verdict(True, SILENT_REASON, last, local)
    return Verdict(False, last_seen=last, local=local)


def latest_session(store: Store, run_id: str) -> SessionRecord | None:
    """The run's session with the highest number: the only one whose supervisor matters."""
    return max(store.sessions(run_id), key=lambda s: s.number, default=None)


def _active_seconds(session: SessionRecord, ended: float) -> float:
    paused = sum(
        (min(p.ended_at or ended, ended) - p.started_at)
        for p in session.pauses
        if p.started_at < ended
    )
    return max(0.0, ended - session.started_at - paused)


def _mark_lost(
    store: Store, run: RunRecord, session: SessionRecord, verdict: Verdict, now: float
) -> RunRecord:
    # A lost run ended when its supervisor was last seen alive, not when someone looked.
    ended = verdict.last_seen if verdict.last_seen is not None else now
    if session.status in ACTIVE_STATUSES or session.ended_at is None:
        changes: dict[str, object] = {
            "status": RunStatus.LOST,
            "ended_at": session.ended_at or ended,
            "reason": session.reason or verdict.reason,
        }
        if not session.active_seconds:
            changes["active_seconds"] = _active_seconds(session, ended)
        store.update_session(run.id, session.number, **changes)
    # Re-read: the supervisor may have finished the run since we listed it.
    current = store.get_run(run.id)
    if current.status in ACTIVE_STATUSES:
        current = store.update_run(
            run.id, status=RunStatus.LOST, ended_at=ended, reason=verdict.reason
        )
    return current


def check_run(
    store: Store, run: RunRecord, lost_after: float = LOST_AFTER_SECONDS, now: float | None = None
) -> RunRecord:
    """``run`` as it stands, marked ``lost`` first if it is active and its supervisor is gone.

    A run with no session yet cannot be judged and is left as it is, and so is a run pulled
    from another host: its supervisor ran there.
    """
    if run.status not in ACTIVE_STATUSES or run.origin:
        return run
    session = latest_session(store, run.id)
    if session is None:
        return run
    now = time.time() if now is None else now
    verdict = judge(session, lost_after, now)
    if not verdict.lost:
        return run
    return _mark_lost(store, run, session, verdict, now)


def reconcile(
    store: Store, lost_after: float = LOST_AFTER_SECONDS, active: list[RunRecord] | None = None
) -> list[str]:
    """Mark every active run (``store.active_runs()``, unless given) whose supervisor is gone
    as ``lost``; return their ids. One indexed query when nothing is active.
    """
    lost: list[str] = []
    now = time.time()
    for run in store.active_runs() if active is None else active:
        if check_run(store, run, lost_after, now).status is RunStatus.LOST:
            lost.append(run.id)
    return lost
