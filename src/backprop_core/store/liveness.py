"""Liveness reconciliation (docs/store.md): active runs whose supervisor is gone become ``lost``.

A supervisor is alive only if a process with its pid exists *and* that process started when the
session says it did (``process_identity.process_alive``), since pids are reused. The pid alone
never counts.
"""

from __future__ import annotations

import time

from backprop_core.store.contract import Store
from backprop_core.store.process_identity import process_alive
from backprop_core.store.records import ACTIVE_STATUSES, RunStatus, SessionRecord

LOST_REASON = "the supervisor process is gone (crashed or killed)"


def supervisor_gone(session: SessionRecord) -> bool:
    """Whether the session's supervisor, on this machine, is known to be gone. A session that
    never recorded its supervisor cannot be judged and is not."""
    if session.supervisor_pid is None or session.supervisor_started is None:
        return False
    return not process_alive(session.supervisor_pid, session.supervisor_started)


def reconcile(store: Store) -> list[str]:
    """Mark every active run whose supervisor is gone as ``lost``; return their ids.

    One indexed query when nothing is active. The run's latest session is the one judged. Runs
    pulled from another host are that host's to judge: the next pull brings their state.
    """
    lost: list[str] = []
    for run in store.active_runs():
        if run.origin:
            continue
        sessions = store.sessions(run.id)
        if not sessions:
            continue
        latest = sessions[-1]
        if not supervisor_gone(latest):
            continue
        now = time.time()
        if latest.status in ACTIVE_STATUSES or latest.ended_at is None:
            store.update_session(
                run.id,
                latest.number,
                status=RunStatus.LOST,
                ended_at=latest.ended_at or now,
                reason=latest.reason or LOST_REASON,
            )
        # Re-read: the supervisor may have finished the run since we listed it.
        current = store.get_run(run.id)
        if current.status in ACTIVE_STATUSES:
            store.update_run(run.id, status=RunStatus.LOST, ended_at=now, reason=LOST_REASON)
            lost.append(run.id)
    return lost
