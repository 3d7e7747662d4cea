"""Handing sessions to a scheduler (``--launcher slurm``): the run and a queued session are
recorded first, then the job is submitted; inside it, ``backprop supervise RUN SESSION`` runs
the session (``run.in_job``). With ``--wait`` the run is followed here (``run.follow``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from backprop_core.errors import LaunchError, StoreError
from backprop_core.launch.scheduler import JobRequest, SchedulerLauncher
from backprop_core.run.records import mark_failed_launch
from backprop_core.run.runner import RunOptions, RunResult, command_options
from backprop_core.run.spec import Command
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.home import Home
from backprop_core.store.params import params_from_argv
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from backprop_core.supervisor import Display


def supervise_command(settings: Settings, run_id: str, number: int) -> list[str]:
    """What the job runs: this interpreter's backprop, supervising the session."""
    return [
        sys.executable,
        "-m",
        "backprop_core.cli",
        "supervise",
        "--home",
        str(settings.home),
        "--store",
        settings.store,
        run_id,
        str(number),
    ]


def job_request(
    settings: Settings,
    launcher: SchedulerLauncher,
    run_id: str,
    number: int,
    cwd: Path,
    after: str | None = None,
) -> JobRequest:
    output = Home(settings.home).run_dir(run_id) / f"session-{number}.{launcher.name}.out"
    return JobRequest(
        run_id=run_id,
        session=number,
        settings=settings,
        supervise=supervise_command(settings, run_id, number),
        cwd=cwd,
        output=output,
        after=after,
    )


def queue_session(
    store: Store,
    launcher: SchedulerLauncher,
    request: JobRequest,
    resume_from: str | None = None,
) -> str:
    """Record the request's session as queued, submit its job, record the job id; the id."""
    request.output.parent.mkdir(parents=True, exist_ok=True)
    job = {"name": launcher.name, "job_id": None, "output": str(request.output)}
    run_id, number = request.run_id, request.session
    store.add_session(
        SessionRecord(
            run_id, number, RunStatus.QUEUED, time.time(), resumed_from=resume_from, launcher=job
        )
    )
    try:
        job_id = launcher.submit(request)
    except LaunchError as exc:
        store.update_session(
            run_id, number, status=RunStatus.FAILED, ended_at=time.time(), reason=str(exc)
        )
        raise
    # The job may have started already and recorded where it runs: keep that.
    current = next(s for s in store.sessions(run_id) if s.number == number)
    store.update_session(run_id, number, launcher={**job, **current.launcher, "job_id": job_id})
    return job_id


def submit_run(
    settings: Settings,
    options: RunOptions,
    store: Store,
    launcher: SchedulerLauncher,
    command: Command,
    cwd: Path,
    run: RunRecord | None,
    run_id: str,
    first: int,
    resume_from: str | None = None,
) -> RunResult:
    """Record the run (new, or resumed from ``first``) and submit its session ``first``."""
    request = job_request(settings, launcher, run_id, first, cwd)
    launcher.check(request)  # before anything is recorded: a typo must leave no run behind
    launch = {
        **command_options(command, resume_from),
        "launcher": launcher.name,
        "untilDone": options.until_done,
        "maxSessions": options.max_sessions,
        "chainFrom": first,
    }
    if run is None:
        run = store.create_run(
            RunRecord(
                id=run_id,
                status=RunStatus.QUEUED,
                created_at=time.time(),
                name=options.name,
                tags=dict(options.tags),
                params=params_from_argv(command.script_args()),
                script=str(command.script) if command.script else None,
                argv=list(command.args),
                cwd=str(cwd),
                command=command.argv(None),
                settings=dict(settings.config),
                environment={"launch": launch},
            )
        )
    else:
        environment = {**run.environment, "launch": launch}
        run = store.update_run(
            run_id, status=RunStatus.QUEUED, ended_at=None, reason=None, environment=environment
        )
    try:
        job_id = queue_session(store, launcher, request, resume_from)
    except (LaunchError, StoreError) as exc:
        mark_failed_launch(store, run, str(exc))
        raise
    display = Display(sys.stderr)
    display.message(
        f"run {run_id} session {first} submitted as {launcher.scheduler} job {job_id}"
        + ("" if options.follow else f"; follow it with: backprop logs -f {run_id}")
    )
    if options.follow:
        from backprop_core.run.follow import follow

        return follow(store, settings, run_id, display, options.json_output)
    return RunResult(run_id, RunStatus.QUEUED, 0, 0, None, None, job_id=job_id)
