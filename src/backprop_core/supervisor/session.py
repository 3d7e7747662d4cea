"""Supervising one session: launch, tee and parse output, time box, pause, stop, record.

The loop runs in the main thread and wakes when the child exits (a pidfd), when a signal
arrives (the wake-up pipe), at the deadline, or at the next governor poll. Output is handled by
reader threads, events are written by the sink thread, the heartbeat by its own thread. When
recording fails for lack of space, the session stops the way a time box does and ends
``failed`` with reason ``disk full`` (docs/store.md, "When the disk is full").
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import subprocess
import time

from backprop_core.admission.resources import Snapshot
from backprop_core.errors import BackpropError
from backprop_core.launch.spec import MonitorAction
from backprop_core.store.records import PauseRecord, RunStatus
from backprop_core.supervisor.cgroup import RunCgroup
from backprop_core.supervisor.context import SessionContext
from backprop_core.supervisor.deadline import Deadline
from backprop_core.supervisor.display import status_text
from backprop_core.supervisor.ending import SessionOutcome, classify, drain, record_start
from backprop_core.supervisor.guardian_client import Guardian
from backprop_core.supervisor.heartbeat import Heartbeat
from backprop_core.supervisor.observers import Observers
from backprop_core.supervisor.output import StreamReader, Tee, open_log
from backprop_core.supervisor.pausing import PauseGovernor, SnapshotSource
from backprop_core.supervisor.process import ProcessTree, become_subreaper, launch
from backprop_core.supervisor.routing import EventRouter
from backprop_core.supervisor.signals import StopRequests
from backprop_core.supervisor.sink import EventSink
from backprop_core.supervisor.space import DISK_FULL_REASON, SpaceAlarm, unrecorded
from backprop_core.supervisor.watching import Watching

LEFTOVER_GRACE_SECONDS = 1.0
GC_THRESHOLD = 50_000  # allocations between young-generation collections (default 700)


class Supervisor:
    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        self.settings = ctx.spec.settings
        self.requests = StopRequests(in_job=ctx.job is not None)
        self.alarm = SpaceAlarm()
        self.alarm.wake_with(self.requests.wake_w)
        self._disk_full_seen = False
        self.stop_kind: str | None = None
        self.stop_reason: str | None = None
        self.stop_status: RunStatus | None = None
        self._monitor_stop: MonitorAction | None = None
        self.paused_total = 0.0
        self.pause_started: float | None = None
        self.pauses: list[PauseRecord] = []
        self.snapshot: Snapshot | None = None
        self.deadline = Deadline(
            self.settings.time_box_seconds, self.settings.max_run_minutes, ctx.spec.stop_by
        )

    def _monitor_stops(self, action: MonitorAction) -> None:
        if self._monitor_stop is None:
            self._monitor_stop = action
            with contextlib.suppress(OSError):
                os.write(self.requests.wake_w, b"m")

    # pause ---------------------------------------------------------------------------------
    def _pause(self, reason: str) -> None:
        self.tree.refresh()
        self.tree.signal(signal.SIGSTOP)
        now = time.time()
        self.pause_started = time.monotonic()
        self.pauses.append(PauseRecord(reason=reason, started_at=now))
        self.ctx.display.message(f"paused: {reason}")
        self._record(status=RunStatus.PAUSED, pauses=list(self.pauses))

    def _resume(self, why: str) -> None:
        if self.pause_started is None:
            return
        self.tree.signal(signal.SIGCONT)
        self.paused_total += time.monotonic() - self.pause_started
        self.pause_started = None
        self.pauses[-1].ended_at = time.time()
        self.ctx.display.message(f"resumed: {why}")
        self._record(status=RunStatus.RUNNING, pauses=list(self.pauses))

    def _record(self, status: RunStatus, pauses: list[PauseRecord]) -> None:
        spec = self.ctx.spec
        try:
            self.ctx.store.update_session(spec.run_id, spec.session, status=status, pauses=pauses)
            self.ctx.store.update_run(spec.run_id, status=status)
        except Exception as exc:
            if not self.alarm.report("the pause state", exc):
                self.ctx.display.message(f"warning: could not record pause state: {exc}")

    def _govern(self) -> None:
        self.snapshot = self.snapshots.take()
        if self.snapshot is None:
            return
        paused = self.pause_started is not None
        reason = self.governor.reason(self.snapshot, paused)
        if reason and not paused:
            self._pause(reason)
        elif paused and reason is None:
            self._resume("the machine is back within limits")

    # stop ----------------------------------------------------------------------------------
    def active_seconds(self, now: float) -> float:
        paused = self.paused_total + (now - self.pause_started if self.pause_started else 0.0)
        return now - self.start_mono - paused

    def _begin_stop(self, kind: str, reason: str, status: RunStatus) -> None:
        self.stop_kind, self.stop_reason, self.stop_status = kind, reason, status
        self.stop_at = time.monotonic()
        if self.pause_started is not None:
            self._resume("stopping")
        sig = self.settings.stop.signal_number
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.tree.pgid, sig)
        grace = self.settings.stop.grace_seconds
        self.ctx.display.message(
            f"{reason}: sent {sig.name}, SIGKILL in {grace:g}s if still running"
        )

    def _kill(self, why: str) -> None:
        self.killed = True
        self.ctx.display.message(why)
        self.tree.kill_all()

    def _disk_full(self) -> None:
        """Say at once that recording failed for lack of space, and stop the script the way
        the time box does, so it can still checkpoint (to another disk, or once space is
        freed). The session ends ``failed``, ``disk full``, whatever else stopped it."""
        self._disk_full_seen = True
        self.ctx.display.message(
            f"error: disk full under {self.settings.home} ({self.alarm.first}); stopping the "
            "run so it can checkpoint; what is not recorded yet waits in memory for space"
        )
        if self.tree.alive() and self.stop_kind is None:
            self._begin_stop("disk", DISK_FULL_REASON, RunStatus.FAILED)
        else:
            self.stop_reason, self.stop_status = DISK_FULL_REASON, RunStatus.FAILED

    def _check_requests(self, now: float) -> None:
        if self.alarm.tripped and not self._disk_full_seen:
            self._disk_full()
        req = self.requests
        if req.graceful and self.stop_kind is None:
            self._begin_stop("user", f"stopped by {req.source}", RunStatus.INTERRUPTED)
            if req.source == "Ctrl-C" and not req.immediate:
                self.ctx.display.message("press Ctrl-C again to stop at once")
        if req.immediate and not self.killed:
            if self.stop_kind is None:
                self._begin_stop("user", f"stopped by {req.source}", RunStatus.INTERRUPTED)
            self._kill("stopping at once: SIGKILL to the whole process tree")
        action = self._monitor_stop
        if action is not None and self.stop_kind is None:
            status = action.status or RunStatus.FAILED
            self._begin_stop(
                "monitor", action.reason or action.alert or "stopped by a monitor", status
            )
        due = self.deadline.due(self.active_seconds(now), req.deadline)
        if self.stop_kind is None and due is not None:
            self._begin_stop("deadline", due, RunStatus.TIMEBOXED)
        grace = self.settings.stop.grace_seconds
        if self.stop_kind is not None and not self.killed and now >= self.stop_at + grace:
            self._kill("grace period over: SIGKILL to every remaining process of the run")

    def _next_wake(self, now: float, next_govern: float) -> float:
        wake = min(0.5, next_govern - now)
        paused = self.pause_started is not None
        if self.stop_kind is None:
            wake = min(wake, self.deadline.seconds_left(self.active_seconds(now), paused))
        elif not self.killed:
            wake = min(wake, self.stop_at + self.settings.stop.grace_seconds - now)
        return max(0.005, wake)

    def _wait(self, timeout: float) -> None:
        fds = [self.requests.wake_r] + ([self._pidfd] if self._pidfd is not None else [])
        if self._pidfd is None:
            timeout = min(timeout, 0.05)
        with contextlib.suppress(InterruptedError, OSError, ValueError):
            select.select(fds, [], [], timeout)
        self.requests.drain()

    def _draw(self, now: float) -> None:
        display = self.ctx.display
        if not display.live:
            return
        box = self.settings.time_box_seconds
        active = self.active_seconds(now)
        paused = self.pauses[-1].reason if self.pause_started is not None else None
        display.status(
            status_text(
                elapsed=active,
                remaining=(box - active) if box is not None else None,
                paused=paused,
                step=self.state.step,
                total=self.state.total,
                metrics=self.state.metrics,
                snapshot=self.snapshot,
                gpus=self.ctx.spec.gpus,
            )
        )

    # the session -----------------------------------------------------------------------------
    def run(self) -> SessionOutcome:
        spec, ctx = self.ctx.spec, self.ctx
        log = open_log(ctx.log_path)  # first: a home that cannot take it stops everything here
        events_r, events_w = os.pipe()
        env = dict(spec.env)
        env["BACKPROP_EVENTS_FD"] = str(events_w)
        become_subreaper()
        # Before the script starts, so the watchers see what was there before it. They deliver
        # only from their own thread, started once the router below exists.
        routed: list[EventRouter] = []
        self.watching = Watching(
            ctx,
            lambda items: routed[0].on_items(items),
            lambda: routed[0].parse_state.step,
            lambda: routed[0].parse_state.reported_metrics,
        )
        cgroup = RunCgroup.create(f"backprop-{spec.run_id}-{spec.session}-{os.getpid()}")
        guardian = Guardian(spec.run_id, spec.session, cgroup)
        self.requests.install()
        try:
            try:
                proc = launch(spec.argv, str(spec.cwd), env, (events_w,), cgroup)
            finally:
                os.close(events_w)
        except BaseException:
            os.close(events_r)
            log.close()
            guardian.done()
            if cgroup is not None:
                cgroup.remove()
            self.requests.restore()
            raise
        self.start_mono = time.monotonic()
        started_at = time.time()
        self.killed = False
        self.tree = ProcessTree(proc.pid, [guardian.pid] if guardian.pid else [], cgroup)
        self._pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self._pidfd = os.pidfd_open(proc.pid)
        try:
            record_start(self.ctx, proc.pid, started_at)
        except BackpropError as exc:
            if not self.alarm.report("the session's start", exc):
                raise

        say = ctx.display.message
        self.sink = EventSink(spec.run_id, ctx.open_store, self.alarm, say)
        router = EventRouter(ctx, self.sink, self._monitor_stops, self.watching.note)
        routed.append(router)
        self.state, self.monitors = router.state, router.monitors
        heartbeat = Heartbeat(
            spec.run_id,
            spec.session,
            ctx.open_store,
            self.settings.liveness.heartbeat_seconds,
            self.alarm,
            say,
        )
        tee = Tee(log, ctx.display.lock, lambda exc: self.alarm.report("the output log", exc))
        if ctx.display.live:
            tee.before_write = ctx.display.clear_for_output
            tee.after_write = ctx.display.output_written
        on_chunk = self.monitors.output if self.monitors else None
        stdout, stderr = proc.stdout, proc.stderr
        assert stdout is not None and stderr is not None  # both are pipes
        readers = [
            StreamReader(
                stdout.fileno(),
                "stdout",
                tee,
                ctx.terminal_out,
                lambda lines: router.on_lines("stdout", lines),
                on_chunk,
                show_events=ctx.show_events,
            ),
            StreamReader(
                stderr.fileno(),
                "stderr",
                tee,
                ctx.terminal_err,
                lambda lines: router.on_lines("stderr", lines),
                on_chunk,
                show_events=ctx.show_events,
            ),
        ]
        readers.append(
            StreamReader(
                events_r,
                "events",
                None,
                None,
                lambda lines: router.on_lines("events", lines),
                close_fd=True,
            )
        )
        for reader in readers:
            reader.start()
        self.sink.start()
        self.watching.start()
        observers = Observers.start(spec, self.tree, self.sink, lambda: self.snapshot)
        heartbeat.start()
        self.snapshots = SnapshotSource(self.settings)
        self.governor = PauseGovernor(self.settings, spec.gpus)
        poll = max(0.05, self.settings.governor.poll_seconds)
        # The output threads allocate two dicts per JSON line, none of them cyclic: with the
        # default thresholds the cyclic collector would run every 700 of them and rescan
        # everything the supervisor holds. Older objects are frozen out of its way, and it
        # runs less often (refcounting still frees every line's objects at once).
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *thresholds[1:])
        try:
            rc = self._loop(proc, poll, tee)
            self._finish_tree()
        finally:
            if self.pause_started is not None:
                self.tree.signal(signal.SIGCONT)
            self.requests.restore()
            drain(readers)
            # Close our ends of the pipes only when their reader is done with them: closing
            # under a reader still blocked in read() would let the fd number be reused.
            for reader, pipe in zip(readers, (proc.stdout, proc.stderr)):
                if reader.finished and pipe is not None:
                    pipe.close()
            self.watching.close()
            observers.stop()
            self.sink.close()
            router.close()
            heartbeat.stop()
            tee.flush()
            with contextlib.suppress(OSError):
                log.close()
            self.tree.release()
            guardian.done()
            self.snapshots.close()
            if self._pidfd is not None:
                os.close(self._pidfd)
            ctx.display.finish()
            gc.set_threshold(*thresholds)
            gc.unfreeze()
        self._report_unrecorded(tee)
        return self._outcome(rc, started_at)

    def _report_unrecorded(self, tee: Tee) -> None:
        """Say what a full disk, or a store that stayed unreachable, kept out of the records,
        once everything has been tried."""
        if not self.alarm.tripped:
            lost = self.sink.unwritten + self.sink.dropped
            if lost:
                self.ctx.display.message(f"error: {lost} events could not be recorded")
            return
        missing = unrecorded(self.sink.unwritten + self.sink.dropped, tee)
        if missing:
            self.ctx.display.message(f"error: disk full: {missing} could not be recorded")
        elif not self._disk_full_seen:
            self._disk_full()

    def _loop(self, popen: subprocess.Popen[bytes], poll: float, tee: Tee) -> int:
        next_govern = time.monotonic()
        next_refresh = time.monotonic()
        while True:
            rc = popen.poll()
            if rc is not None:
                return int(rc)
            now = time.monotonic()
            self._check_requests(now)
            if now >= next_govern:
                if self.stop_kind is None:
                    self._govern()
                    if self.pause_started is None:
                        self.monitors.tick()
                next_govern = now + poll
            if now >= next_refresh:
                self.tree.refresh()
                self.tree.reap()
                tee.flush()
                next_refresh = now + 0.5
            self._draw(now)
            self._wait(self._next_wake(time.monotonic(), next_govern))

    def _finish_tree(self) -> None:
        """The script has exited: stop whatever it left behind, quickly."""
        self.tree.refresh()
        leftovers = self.tree.alive(include_root=False)
        if leftovers and not self.killed:
            sig = self.settings.stop.signal_number
            self.tree.signal(sig, include_root=False)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.tree.pgid, sig)
            deadline = time.monotonic() + min(
                LEFTOVER_GRACE_SECONDS, self.settings.stop.grace_seconds
            )
            while time.monotonic() < deadline and self.tree.alive(include_root=False):
                self.tree.reap()
                time.sleep(0.05)
        self.tree.kill_all()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.tree.pgid, signal.SIGKILL)
        self.tree.reap()

    def _outcome(self, rc: int, started_at: float) -> SessionOutcome:
        status, exit_code, sig, reason = classify(rc, self.stop_status, self.stop_reason)
        if self.alarm.tripped:  # even when it filled up after the script had ended
            status, reason = RunStatus.FAILED, DISK_FULL_REASON
        return SessionOutcome(
            status=status,
            exit_code=exit_code,
            signal=sig,
            reason=reason,
            started_at=started_at,
            ended_at=time.time(),
            active_seconds=self.active_seconds(time.monotonic()),
            pauses=self.pauses,
            done=self.state.done,
            last_checkpoint=self.state.last_checkpoint,
        )
