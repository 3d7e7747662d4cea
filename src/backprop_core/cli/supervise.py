"""``backprop supervise RUN SESSION`` (hidden): what a job submitted by a scheduler's launcher
runs. It supervises the run's queued session here, with the settings the run was submitted
with (docs/slurm.md)."""

from __future__ import annotations

from typing import Any

import click

from backprop_core.cli.options import echo_warnings, overrides_from_options, settings_options


@click.command("supervise", hidden=True)
@settings_options
@click.argument("run_id", metavar="RUN")
@click.argument("number", metavar="SESSION", type=click.IntRange(min=1))
def supervise_command(run_id: str, number: int, **options: Any) -> None:
    """Supervise session SESSION of RUN inside the scheduler's job that was submitted for it."""
    from backprop_core.cli.run import finish
    from backprop_core.run.in_job import supervise_in_job
    from backprop_core.run.runner import open_run_store
    from backprop_core.settings import resolve_with_warnings
    from backprop_core.settings.resolve import stored_overrides
    from backprop_core.settings.sources import deep_merge

    where, flags = overrides_from_options(options)
    found, _ = resolve_with_warnings(where, config_file=options.get("config_file"), labels=flags)
    with open_run_store(found) as store:
        stored = store.get_run(run_id).settings
    submitted = stored_overrides(stored)
    settings, warnings = resolve_with_warnings(
        deep_merge(submitted, where), config_file=options.get("config_file"), labels=flags
    )
    echo_warnings(warnings)
    finish(supervise_in_job(settings, run_id, number), as_json=False)
