"""``backprop run --launcher slurm --wait``: follow a submitted run from here as if it ran
here: its output as the job prints it, a live status line, a line whenever its job moves on
(pending with the scheduler's reason, running on a node, the next session queued), and the
exit code of its end. Ctrl-C once stops it gracefully (a waiting job is cancelled), twice at
once."""

from __future__ import annotations

import sys
import time
from typing import BinaryIO

from backprop_core.errors import BackpropError
from backprop_core.render.runs import job_text
from backprop_core.run.jobs import stop_scheduled
from backprop_core.run.records import exit_code_for, newest_checkpoint
from backprop_core.run.runner import RunResult
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.liveness import check_run, latest_session
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from backprop_core.supervisor import Display
from backprop_core.supervisor.display import format_duration, status_text

POLL_S = 0.25
CHECK_S = 1.0


class _Tail:
    """Copies the sessions' logs to the terminal as they grow, moving on to newer ones."""

    def __init__(
        self, store: Store, run_id: str, first: int, out: BinaryIO, display: Display
    ) -> None:
        self.store, self.run_id, self.out, self.display = store, run_id, out, display
        self.number, self.offset = first, 0

    def copy(self, latest: int) -> None:
        while True:
            path = self.store.home.session_log(self.run_id, self.number)
            try:
                with open(path, "rb") as fh:
                    fh.seek(self.offset)
                    data = fh.read()
            except FileNotFoundError:
                data = b""
            if data:
                with self.display.lock:
                    self.display.clear_for_output()
                    self.out.write(data)
                    self.out.flush()
                self.offset += len(data)
            if self.number >= latest:
                return
            self.number, self.offset = self.number + 1, 0


def _line(session: SessionRecord) -> str:
    where = job_text(session.launcher) or "here"
    return f"session {session.number} {session.status.value}: {where}"


def _live(run: RunRecord, session: SessionRecord, settings: Settings) -> str:
    box = settings.time_box_seconds
    active = max(0.0, time.time() - session.started_at)
    pause = session.pauses[-1] if session.pauses else None
    text = status_text(
        elapsed=active,
        remaining=(box - active) if box is not None else None,
        paused=pause.reason if pause is not None and pause.ended_at is None else None,
        step=run.last_step,
        total=None,
        metrics=run.last_metrics,
        snapshot=None,
        gpus=(),
    )
    return f"{job_text(session.launcher) or ''} │ {text}"


def follow(
    store: Store, settings: Settings, run_id: str, display: Display, json_output: bool
) -> RunResult:
    """Follow ``run_id`` until it is no longer active; its result."""
    first = latest_session(store, run_id)
    out = sys.stderr.buffer if json_output else sys.stdout.buffer
    tail = _Tail(store, run_id, first.number if first else 1, out, display)
    shown, next_check, stops = "", 0.0, 0
    while True:
        try:
            run = store.get_run(run_id)
            if run.status.active and time.monotonic() >= next_check:
                run = check_run(store, run, settings.liveness.lost_after_seconds)
                next_check = time.monotonic() + CHECK_S
            session = latest_session(store, run_id)
            if session is not None:
                tail.copy(session.number)
                line = _line(session)
                if line != shown:
                    display.message(line)
                    shown = line
                if run.status.active and session.status is RunStatus.RUNNING:
                    display.status(_live(run, session, settings))
            if not run.status.active:
                display.finish()
                break
            time.sleep(POLL_S)
        except KeyboardInterrupt:
            stops += 1
            session = latest_session(store, run_id)
            if session is None:
                continue
            try:
                what = stop_scheduled(session, now=stops > 1)
            except BackpropError as exc:
                display.message(f"could not stop it: {exc}")
                continue
            display.message(what + ("; press Ctrl-C again to stop at once" if stops == 1 else ""))
    display.message(
        f"run {run.id} {run.status.value} after {format_duration(run.active_seconds)}"
        + (f" ({run.reason})" if run.reason else "")
    )
    return RunResult(
        run.id,
        run.status,
        exit_code_for(run.status),
        run.session_count,
        run.reason,
        newest_checkpoint(store, run),
    )
