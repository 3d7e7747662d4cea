"""``backprop logs RUN``: print, or follow, the output of a run's sessions."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import UsageError
from backprop_core.store.contract import Store
from backprop_core.store.records import ACTIVE_STATUSES, RunStatus

POLL_S = 0.25
LIVENESS_CHECK_S = 1.0


def _copy(path: Path, offset: int) -> int:
    """Write ``path`` from ``offset`` to stdout; return the new offset."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return offset
    if data:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return offset + len(data)


def _follow(store: Store, run_id: str, session: int | None, start: int, lost_after: float) -> None:
    """Print new output until the run is no longer active, switching to new sessions. The
    run's heartbeat is checked as well, so a dead or frozen supervisor ends the wait."""
    from backprop_core.store.liveness import check_run

    current, offset = start, 0
    next_check = 0.0
    while True:
        path = store.home.session_log(run_id, current)
        offset = _copy(path, offset)
        run = store.get_run(run_id)
        if session is None and run.session_count > current:
            offset = _copy(path, offset)
            current, offset = current + 1, 0
            continue
        if run.status in ACTIVE_STATUSES and time.monotonic() >= next_check:
            run = check_run(store, run, lost_after)
            next_check = time.monotonic() + LIVENESS_CHECK_S
        if run.status not in ACTIVE_STATUSES:
            _copy(path, offset)
            if run.status is RunStatus.LOST:
                click.echo(f"backprop: run {run_id} is lost: {run.reason}", err=True)
            return
        time.sleep(POLL_S)


@click.command("logs")
@click.argument("run_ref", metavar="RUN")
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Keep printing new output while the run is active (until it ends, or is lost).",
)
@click.option("--session", type=click.IntRange(min=1), help="Only this session (default: all).")
@settings_options
def logs_command(run_ref: str, follow: bool, session: int | None, **options: Any) -> None:
    """Print (or follow) a run's output.

    The stdout and stderr of RUN's sessions, as the run printed them.
    """
    settings, store = open_from_options(options)
    with store:
        run = store.resolve(run_ref)
        numbers = [s.number for s in store.sessions(run.id)] or list(
            range(1, run.session_count + 1)
        )
        if session is not None:
            if session not in numbers:
                raise UsageError(
                    f"run {run.id} has no session {session}",
                    hint=f"it has sessions {', '.join(map(str, numbers)) or 'none yet'}",
                )
            numbers = [session]
        last = numbers[-1] if numbers else 1
        for n in numbers if not follow else numbers[:-1]:
            if len(numbers) > 1 and sys.stdout.isatty():
                click.echo(click.style(f"── session {n} ──", dim=True))
            _copy(store.home.session_log(run.id, n), 0)
        if follow:
            try:
                _follow(store, run.id, session, last, settings.liveness.lost_after_seconds)
            except KeyboardInterrupt:
                pass
