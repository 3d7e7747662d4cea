"""The orchestration of ``backprop run`` and ``backprop resume`` (the run lifecycle in
docs/architecture.md).

settings → admission (wait, slots, GPUs) → framework adapter → ``LaunchSpec`` → supervisor →
records; repeated per session for ``--until-done``.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backprop_core.env_vars import env_flag
from backprop_core.errors import (
    LaunchError,
    RunStateError,
    StoreError,
    StoreFull,
)
from backprop_core.launch.scheduler import JobHere, SchedulerLauncher, launcher_named
from backprop_core.launch.spec import Launcher
from backprop_core.plugin.manager import get_plugins
from backprop_core.run.admit import admit
from backprop_core.run.progress import Progress
from backprop_core.run.records import (
    exit_code_for,
    mark_failed_launch,
    newest_checkpoint,
    record_outcome,
    unrecorded_outcome,
)
from backprop_core.run.resuming import Start, next_start
from backprop_core.run.spec import Command, build_spec, choose_gpus, select_framework
from backprop_core.sdk.environment import EnvironmentProbe
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.home import Home
from backprop_core.store.params import params_from_argv
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord, is_system_metric
from backprop_core.supervisor import Display, SessionContext
from backprop_core.supervisor.display import format_duration, format_value

#: How many of the last metrics the end-of-session summary shows.
SUMMARY_METRICS = 4
#: Sessions ``--until-done`` runs at most unless ``--max-sessions`` says otherwise (also in
#: ``cli/run_options.py``, for the help text).
DEFAULT_MAX_SESSIONS = 50


@dataclass(frozen=True)
class JobSession:
    """A session that runs inside a scheduler's job: the job, what its session record keeps
    about it, and a lock folder of its own (the scheduler, not the home's slots, decides what
    runs at once; the job's GPUs are its allocation)."""

    here: JobHere
    record: dict[str, Any]
    locks_dir: Path


@dataclass
class RunOptions:
    """How to run, beyond the settings: what the CLI flags say."""

    wait: bool = True
    until_done: bool = False
    max_sessions: int | None = None
    json_output: bool = False
    show_events: bool = False
    name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: Copy the script's output to this terminal (not inside a scheduler's job, where the
    #: session log keeps it and the job's own output file keeps backprop's messages).
    tee: bool = True
    #: With a scheduler's launcher: follow the submitted run here until it ends (``--wait``).
    follow: bool = False
    #: The run this one repeats (``backprop rerun``).
    rerun_of: str | None = None
    #: Start over without a checkpoint, even next to the run's checkpoints (``--from-scratch``).
    from_scratch: bool = False


@dataclass
class RunResult:
    """How a ``run``/``resume`` ended: the last session's status and the exit code."""

    run_id: str
    status: RunStatus
    exit_code: int
    sessions: int
    reason: str | None
    checkpoint: str | None
    #: The scheduler's job of a run just submitted (``--launcher slurm`` without ``--wait``).
    job_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "run_id": self.run_id,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "sessions": self.sessions,
            "reason": self.reason,
            "checkpoint": self.checkpoint,
        }
        if self.job_id is not None:
            out["job_id"] = self.job_id
        return out


def open_run_store(settings: Settings) -> Store:
    from backprop_core.store.opening import open_store

    return open_store(settings, require_writable=True)


def open_writer_store(settings: Settings) -> Store:
    """The event writer's own store (already reconciled and checked by the runner's)."""
    from backprop_core.store.opening import open_store

    return open_store(settings, reconcile=False)


class Runner:
    def __init__(self, settings: Settings, options: RunOptions) -> None:
        self.settings = settings
        self.options = options
        self.display = Display(sys.stderr)
        self.plugins = get_plugins()
        self.parsers = self.plugins.parser_chain()
        # Per-event notifications cost a hook call per line; skip them when nobody listens.
        self.notify_events = self.plugins.has_run_event_listeners()
        #: Captures the code and interpreter a new run starts from (``source_of``).
        self.source: EnvironmentProbe | None = None

    def run_sessions(
        self,
        store: Store,
        command: Command,
        cwd: Path,
        run: RunRecord | None,
        run_id: str,
        start: Start,
        first_session: int,
    ) -> RunResult:
        number = first_session
        ran = 0
        until_done = self.options.until_done
        limit = self.options.max_sessions or (DEFAULT_MAX_SESSIONS if until_done else 1)
        before = Progress.of(store, run)
        while True:
            run, outcome = self._one_session(store, command, cwd, run, run_id, number, start)
            ran += 1
            checkpoint = newest_checkpoint(store, run)
            # Whether --until-done goes on. The resume hint comes once, with the summary of the
            # session that ends the chain, unless a stall ends it with an error line instead.
            chain = (
                until_done
                and outcome.status == RunStatus.TIMEBOXED
                and not outcome.done
                and not run.done
            )
            stalled = before.stalled(store, run, number) if chain else None
            at_limit = chain and stalled is None and ran >= limit
            if at_limit:
                self.display.message(
                    f"--until-done: stopping after {ran} sessions (--max-sessions {limit})"
                )
            self.summarise(
                run,
                number,
                outcome.status,
                outcome.reason,
                outcome.active_seconds,
                checkpoint,
                last=not chain or at_limit,
            )
            result = RunResult(
                run.id,
                outcome.status,
                exit_code_for(outcome.status),
                ran,
                outcome.reason,
                checkpoint,
            )
            if not chain or at_limit:
                return result
            if stalled is not None:
                return self._stop_chain(result, stalled)
            try:
                start = next_start(store, run, command, self.settings)
            except RunStateError as exc:
                return self._stop_chain(result, f"session {number + 1} not started: {exc}")
            before = Progress.of(store, run, before.step)
            number += 1
            self.display.message(f"--until-done: starting session {number}")

    @staticmethod
    def _stop_chain(result: RunResult, why: str) -> RunResult:
        """The chain ends with exit 1; the error line says why (``cli/run.py``)."""
        result.exit_code = 1
        result.reason = f"--until-done stopped: {why}"
        return result

    def _one_session(
        self,
        store: Store,
        command: Command,
        cwd: Path,
        run: RunRecord | None,
        run_id: str,
        number: int,
        start: Start,
    ) -> tuple[RunRecord, Any]:
        ctx, outcome = self.supervise(store, command, cwd, run, run_id, number, start)
        run, _ = self.record(store, ctx.run, number, outcome)
        return run, outcome

    def supervise(
        self,
        store: Store,
        command: Command,
        cwd: Path,
        run: RunRecord | None,
        run_id: str,
        number: int,
        start: Start,
        job: JobSession | None = None,
    ) -> tuple[SessionContext, Any]:
        """Admit, launch and supervise one session to its end (lifecycle steps 2-6); its
        outcome is not recorded yet. ``job``: the session runs inside a scheduler's job."""
        settings = self.settings
        adapter = select_framework(settings, command, cwd)
        admission = admit(
            settings,
            run_id,
            self.options.wait,
            self.display,
            locks_dir=job.locks_dir if job else None,
            only_gpus=job.here.gpus if job else None,
        )
        try:
            gpus = choose_gpus(settings, admission.decision.gpus, admission.snapshot)
            spec, prep = build_spec(
                run_id=run_id,
                session=number,
                command=command,
                cwd=cwd,
                settings=settings,
                gpus=gpus,
                adapter=adapter,
                resume_from=start.checkpoint,
                resume_step=start.step,
                resume_epoch=start.epoch,
                stop_by=job.here.stop_by if job else None,
            )
            if run is None:
                run = store.create_run(
                    RunRecord(
                        id=run_id,
                        status=RunStatus.RUNNING,
                        created_at=time.time(),
                        name=self.options.name,
                        tags=dict(self.options.tags),
                        params=params_from_argv(command.script_args()),
                        script=str(command.script) if command.script else None,
                        argv=list(command.args),
                        cwd=str(cwd),
                        command=command.argv(None),
                        framework=adapter.name,
                        settings=dict(settings.config),
                        environment={
                            "launch": command_options(command, start.checkpoint),
                            **self._source(command),
                        },
                        rerun_of=self.options.rerun_of,
                    )
                )
            else:
                run = store.update_run(run_id, framework=adapter.name)
            self._announce(
                spec.argv, run_id, number, adapter.name, gpus.labels, prep.note, start.checkpoint
            )
            terminal = sys.stderr.buffer if self.options.json_output else sys.stdout.buffer
            ctx = SessionContext(
                spec=spec,
                run=run,
                store=store,
                open_store=lambda: open_writer_store(settings),
                log_path=Home(settings.home).session_log(run_id, number),
                plugins=self.plugins,
                display=self.display,
                terminal_out=terminal if self.options.tee else None,
                terminal_err=sys.stderr.buffer if self.options.tee else None,
                gpu_labels=gpus.labels,
                parsers=self.parsers,
                show_events=self.options.show_events,
                notify_events=self.notify_events,
                job=job.record if job else None,
            )
            try:
                outcome = self._launcher().launch(spec, ctx)
            except (LaunchError, StoreError) as exc:  # the script never ran, or is killed
                mark_failed_launch(store, run, str(exc))
                raise
        finally:
            admission.reservation.release()
        return ctx, outcome

    def record(
        self,
        store: Store,
        run: RunRecord,
        number: int,
        outcome: Any,
        then: RunStatus | None = None,
    ) -> tuple[RunRecord, SessionRecord]:
        """Record how session ``number`` ended (``then``: the run's status from now on, when
        another session follows at once) and notify plugins."""
        try:
            run, session = record_outcome(store, run, number, outcome, then=then)
        except StoreFull as exc:
            self.display.message(
                f"error: disk full: how session {number} ended is not recorded ({exc}); "
                "the run will show as lost"
            )
            run, session = unrecorded_outcome(run, number, outcome)
        self.plugins.run_finished(run, session)
        return run, session

    def _source(self, command: Command) -> dict[str, Any]:
        """The git state, interpreter and packages the run starts from (what ``manifest``
        shows and ``rerun`` checks). The packages are known only for backprop's own
        interpreter; the supervisor's capture records the script's own."""
        if self.source is None:
            return {}
        try:
            found = self.source.source()
        except Exception:  # the run matters more than this record of it
            return {}
        if os.path.realpath(command.python) != os.path.realpath(sys.executable):
            found["python"] = {"executable": command.python}
            found["packages"] = {}
        return found

    def _launcher(self) -> Launcher:
        launcher = launcher_named(self.settings.launcher)
        if isinstance(launcher, SchedulerLauncher):  # inside its job: the session runs here
            launcher = launcher_named("local")
        return launcher

    def _announce(
        self,
        argv: list[str],
        run_id: str,
        number: int,
        framework: str,
        gpus: tuple[str, ...],
        note: str,
        resume_from: str | None,
    ) -> None:
        box = self.settings.time_box_seconds
        parts = [f"run {run_id} session {number}", f"framework {framework}"]
        parts.append(f"GPU {', '.join(gpus)}" if gpus else "no GPU")
        parts.append(f"time box {format_duration(box)}" if box else "no time box")
        if resume_from:
            parts.append(f"resuming from {resume_from}")
        self.display.message(" · ".join(parts))
        if env_flag("BACKPROP_DEBUG"):
            self.display.message(f"command: {argv!r}; {note}")

    def summarise(
        self,
        run: RunRecord,
        number: int,
        status: RunStatus,
        reason: str | None,
        active: float,
        checkpoint: str | None,
        *,
        last: bool,
    ) -> None:
        """One line per session. The hint comes once, after the last session, and only for a
        run that ends without an error: otherwise the error line says what to do."""
        text = f"run {run.id} session {number} {status.value} after {format_duration(active)}"
        if reason:
            text += f": {reason}"
        if run.last_step is not None:
            text += f"; step {run.last_step}"
        if run.last_metrics:
            # The script's own metrics first, the sampled ``sys/…`` ones after them.
            ordered = sorted(run.last_metrics.items(), key=lambda kv: is_system_metric(kv[0]))
            shown = ordered[:SUMMARY_METRICS]
            text += "; " + " ".join(f"{k}={format_value(v)}" for k, v in shown)
        if checkpoint:
            text += f"; last checkpoint {checkpoint}"
        if last and status == RunStatus.TIMEBOXED and not run.done:
            text += "; " + resume_hint(run.id, checkpoint)
        self.display.message(text)


def resume_hint(run_id: str, checkpoint: str | None) -> str:
    """What to do next with a run that stopped before it was done: resume it from its
    checkpoint, or, with none, know that resuming starts over."""
    if checkpoint:
        return f"resume it with: backprop resume {run_id}"
    return f"it saved no checkpoint, so backprop resume {run_id} would start over"


def command_options(command: Command, given: str | None) -> dict[str, Any]:
    """What ``resume`` needs beyond the settings to rebuild the command line, and the
    checkpoint given with ``-r`` (known for every later session)."""
    return {
        "mode": "script" if command.script else "command",
        "python": command.python,
        "resumeArg": command.resume_arg,
        "resumeFrom": given,
    }
