"""Starting ``backprop run`` and ``backprop resume``: here, session after session, or handed to
a scheduler's launcher (``run.submit``)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from backprop_core.errors import BackpropError, RunStateError, UsageError
from backprop_core.launch.scheduler import SchedulerLauncher, launcher_named
from backprop_core.run.resume_args import resume_template
from backprop_core.run.resuming import Start, launch_options, next_start
from backprop_core.run.runner import Runner, RunOptions, RunResult, open_run_store
from backprop_core.run.spec import Command, stored_command
from backprop_core.sdk.environment import EnvironmentProbe
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.home import is_valid_run_id
from backprop_core.store.ids import new_run_id
from backprop_core.store.records import RunRecord


def start_run(
    settings: Settings,
    options: RunOptions,
    args: tuple[str, ...],
    *,
    python: str | None,
    run_id: str | None,
    resume_from: str | None,
    resume_arg: str | None,
) -> RunResult:
    cwd = Path.cwd()
    command = Command.parse(args, python or sys.executable, cwd, resume_arg)
    if run_id is not None and not is_valid_run_id(run_id):
        raise UsageError(f"invalid run id '{run_id}'", hint="use letters, digits, '.', '_' and '-'")
    return start_command(settings, options, command, cwd, run_id=run_id, resume_from=resume_from)


def start_command(
    settings: Settings,
    options: RunOptions,
    command: Command,
    cwd: Path,
    *,
    run_id: str | None = None,
    resume_from: str | None = None,
) -> RunResult:
    """A new run of ``command`` in ``cwd``: ``run`` and ``rerun``, here or handed to a
    scheduler's launcher."""
    if run_id is not None and not is_valid_run_id(run_id):
        raise UsageError(f"invalid run id '{run_id}'", hint="use letters, digits, '.', '_' and '-'")
    store = open_run_store(settings)
    try:
        rid = run_id or new_run_id()
        if run_id is not None:
            try:
                store.get_run(run_id)
            except BackpropError:
                pass
            else:
                raise UsageError(
                    f"a run with id '{run_id}' already exists", hint="choose another --run-id"
                )
        launcher = launcher_named(settings.launcher)
        if isinstance(launcher, SchedulerLauncher):
            from backprop_core.run.submit import submit_run

            return submit_run(
                settings, options, store, launcher, command, cwd, None, rid, 1, resume_from
            )
        runner = Runner(settings, options)
        # git runs while the run waits for admission; nothing with captureEnvironment off
        if settings.capture_environment:
            runner.source = EnvironmentProbe(cwd, gpus=False)
        return runner.run_sessions(
            store, command, cwd, None, rid, Start(resume_from), first_session=1
        )
    finally:
        store.close()


def resume_run(
    settings: Settings,
    options: RunOptions,
    run: RunRecord,
    store: Store,
    *,
    resume_from: str | None = None,
    resume_arg: str | None = None,
) -> RunResult:
    """The next session(s) of a stored run, here or handed to a scheduler's launcher, from its
    newest known checkpoint (or ``resume_from``); ``resume_arg`` replaces the stored
    ``--resume-arg`` from now on."""
    if run.origin:
        raise RunStateError(
            f"run {run.id} was pulled from {run.origin}; its script and checkpoints are there",
            hint=f"resume it there: ssh {run.origin} backprop resume {run.id}",
        )
    if run.status.active:
        raise RunStateError(
            f"run {run.id} is still {run.status.value}",
            hint=f"wait for it to end or stop it with: backprop stop {run.id}",
        )
    command, cwd = stored_command(run)
    launch = launch_options(run)
    if resume_arg is not None:
        command = replace(command, resume_arg=resume_template(resume_arg))
    if resume_arg is not None or resume_from is not None:
        launch["resumeArg"] = command.resume_arg
        if resume_from is not None:
            launch["resumeFrom"] = resume_from
        run = store.update_run(run.id, environment={**run.environment, "launch": launch})
    first = max((s.number for s in store.sessions(run.id)), default=0) + 1
    launcher = launcher_named(settings.launcher)
    if isinstance(launcher, SchedulerLauncher):
        from backprop_core.run.submit import submit_run

        return submit_run(
            settings, options, store, launcher, command, cwd, run, run.id, first, resume_from
        )
    start = next_start(
        store, run, command, settings, given=resume_from, from_scratch=options.from_scratch
    )
    runner = Runner(settings, options)
    if start.note:
        runner.display.message(start.note)
    return runner.run_sessions(store, command, cwd, run, run.id, start, first_session=first)
