"""``backprop run --dry-run``: the decision, GPUs, environment and command; nothing starts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from backprop_core.run.admit import preview
from backprop_core.run.spec import Command, build_spec, choose_gpus, select_framework
from backprop_core.settings.model import Settings

SHOWN_ENV_PREFIXES = (
    "BACKPROP_",
    "CUDA_",
    "XLA_PYTHON_",
    "TF_FORCE_GPU",
    "PYTHONPATH",
    "PYTHONUNBUFFERED",
)


def dry_run(settings: Settings, args: tuple[str, ...], options: dict[str, Any]) -> None:
    cwd = Path.cwd()
    command = Command.parse(
        args, options.get("python") or sys.executable, cwd, options.get("resume_arg")
    )
    from backprop_core.launch.scheduler import SchedulerLauncher, launcher_named

    launcher = launcher_named(settings.launcher)
    if isinstance(launcher, SchedulerLauncher):
        _dry_job(settings, launcher, cwd, options)
        return
    adapter = select_framework(settings, command, cwd)
    decision, snapshot = preview(settings, options.get("run_id"))
    gpus = choose_gpus(settings, decision.gpus, snapshot)
    run_id = options.get("run_id") or "DRY-RUN"
    spec, prep = build_spec(
        run_id=run_id,
        session=1,
        command=command,
        cwd=cwd,
        settings=settings,
        gpus=gpus,
        adapter=adapter,
        resume_from=options.get("resume_from"),
        create_dirs=False,
    )
    env = {k: v for k, v in sorted(spec.env.items()) if k.startswith(SHOWN_ENV_PREFIXES)}
    result = {
        "verdict": decision.verdict.value,
        "reasons": decision.reasons,
        "votes": [
            {"policy": v.policy, "verdict": v.verdict.value, "reason": v.reason}
            for v in decision.votes
        ],
        "gpus": list(gpus.labels),
        "gpu_notes": gpus.notes,
        "gpu_memory_limit_bytes": gpus.limit_bytes,
        "framework": adapter.name,
        "memory_cap": prep.note,
        "time_box_seconds": settings.time_box_seconds,
        "command": spec.argv,
        "cwd": str(cwd),
        "env": env,
    }
    if options.get("as_json"):
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"decision:   {decision.verdict.value}")
    for reason in decision.reasons:
        click.echo(f"  - {reason}")
    click.echo(f"GPUs:       {', '.join(gpus.labels) or 'none'}")
    for note in gpus.notes:
        click.echo(f"  - {note}")
    click.echo(f"framework:  {adapter.name}")
    click.echo(f"memory cap: {prep.note}")
    box = settings.time_box_seconds
    click.echo(
        f"time box:   {f'{box:g} s' if box else 'none'}, grace {settings.stop.grace_seconds:g} s"
    )
    click.echo(f"command:    {' '.join(spec.argv)}")
    click.echo("environment:")
    for key, value in env.items():
        click.echo(f"  {key}={value}")


def _dry_job(settings: Settings, launcher: Any, cwd: Path, options: dict[str, Any]) -> None:
    """The exact batch script a scheduler's launcher would submit; nothing is recorded."""
    from backprop_core.errors import LaunchError
    from backprop_core.run.submit import job_request

    request = job_request(settings, launcher, options.get("run_id") or "DRY-RUN", 1, cwd)
    try:
        launcher.check(request)
    except LaunchError as exc:  # the script can be shown all the same
        click.echo(f"backprop: warning: {exc}", err=True)
    script = launcher.batch_script(request)
    if options.get("as_json"):
        click.echo(json.dumps({"launcher": launcher.name, "batch_script": script}, indent=2))
        return
    click.echo(script, nl=False)
