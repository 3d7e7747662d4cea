"""Turning sessions into records: run creation, session outcomes, the newest usable checkpoint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from backprop_core.records import RunRecord, RunStatus
from backprop_core.store import Store
from backprop_core.supervisor.session import SessionOutcome

EXIT_CODES = {
    RunStatus.COMPLETED: 0,
    RunStatus.TIMEBOXED: 0,
    RunStatus.INTERRUPTED: 130,
}


def exit_code_for(status: RunStatus) -> int:
    """SPEC §4: 0 completed or time-boxed, 130 stopped by the user, 1 any failure."""
    return EXIT_CODES.get(status, 1)


def record_outcome(
    store: Store, run: RunRecord, session: int, outcome: SessionOutcome
) -> RunRecord:
    store.update_session(
        run.id,
        session,
        status=outcome.status,
        ended_at=outcome.ended_at,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        reason=outcome.reason,
        active_seconds=outcome.active_seconds,
        pauses=outcome.pauses,
    )
    total_active = sum(s.active_seconds for s in store.sessions(run.id))
    changes: dict[str, Any] = dict(
        status=outcome.status,
        ended_at=outcome.ended_at,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        reason=outcome.reason,
        active_seconds=total_active,
    )
    return store.update_run(run.id, **changes)


def resolve_checkpoint(path: str, cwd: str | None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(cwd or ".") / p


def newest_checkpoint(store: Store, run: RunRecord) -> str | None:
    """The newest announced checkpoint whose file or folder still exists, as it was announced."""
    checkpoints = sorted(store.checkpoints(run.id), key=lambda c: (c.time, c.step or -1))
    for cp in reversed(checkpoints):
        if resolve_checkpoint(cp.path, run.cwd).exists():
            return cp.path
    return None


def mark_failed_launch(store: Store, run: RunRecord, reason: str) -> None:
    store.update_run(run.id, status=RunStatus.FAILED, ended_at=time.time(), reason=reason)
