"""Liveness reconciliation (SPEC §5 step 6): active runs whose supervisor is gone become ``lost``.

A supervisor is alive only if a process with its pid exists *and* that process started when the
session says it did (within ``TOLERANCE_S``), since pids are reused. The pid alone never counts.
"""

from __future__ import annotations

import os
import sys
import time

from backprop_core.records import ACTIVE_STATUSES, RunStatus, SessionRecord
from backprop_core.store import Store

TOLERANCE_S = 1.0
LOST_REASON = "the supervisor process is gone (crashed or killed)"


def process_alive(pid: int | None, started: float | None) -> bool:
    """Whether the process ``pid`` that started at ``started`` (unix seconds) still runs."""
    if pid is None or started is None:
        return False
    import psutil  # only needed when some run is active; keeps `backprop list` start-up lean

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - started) <= TOLERANCE_S
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _linux_start_time(pid: int) -> float | None:
    """psutil's ``create_time`` computed the way it does on Linux (boot time plus the process's
    start in clock ticks), without importing psutil: the SDK calls this in ``init`` and
    ``import psutil`` alone costs ~12 ms there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open("/proc/stat", "rb") as fh:
            btime = next(line for line in fh if line.startswith(b"btime "))
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])
        return float(btime.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_start_time(pid: int) -> float:
    """The OS's start time of ``pid`` (what sessions store as ``supervisor_started``)."""
    if sys.platform.startswith("linux"):
        started = _linux_start_time(pid)
        if started is not None:
            return started
    import psutil

    return float(psutil.Process(pid).create_time())


def _supervised_by_dead(session: SessionRecord) -> bool:
    # A session that never recorded its supervisor cannot be judged; leave it alone.
    if session.supervisor_pid is None or session.supervisor_started is None:
        return False
    return not process_alive(session.supervisor_pid, session.supervisor_started)


def reconcile(store: Store) -> list[str]:
    """Mark every active run whose supervisor is gone as ``lost``; return their ids.

    One indexed query when nothing is active. The run's latest session is the one judged.
    """
    lost: list[str] = []
    for run in store.active_runs():
        sessions = store.sessions(run.id)
        if not sessions:
            continue
        latest = sessions[-1]
        if not _supervised_by_dead(latest):
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
