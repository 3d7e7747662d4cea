"""``backprop resume RUN``: the next session of a run, from its newest existing checkpoint."""

from __future__ import annotations

from typing import Any

import click

from backprop_core.cli.options import (
    echo_warnings,
    governor_options,
    overrides_from_options,
    settings_options,
)
from backprop_core.cli.run_options import run_options_from, run_settings_options


@click.command("resume")
@run_settings_options
@click.option(
    "-r",
    "--resume-from",
    metavar="PATH",
    help="Start from this checkpoint instead of the newest known (remembered).",
)
@click.option(
    "--resume-arg",
    metavar="TEMPLATE",
    help="Arguments added when resuming, from now on: a preset (hf, lightning, nanogpt, "
    'resume, self) or a template such as "--resume {checkpoint}".',
)
@click.option(
    "--from-scratch",
    is_flag=True,
    help="Start over without a checkpoint, even next to checkpoints of the run.",
)
@governor_options
@settings_options
@click.argument("run_ref", metavar="RUN")
def resume_command(run_ref: str, **options: Any) -> None:
    """Start the next session of a run from its last checkpoint.

    RUN's stored script, arguments and options are used again, from the newest of its
    checkpoints that still exists (from scratch when none does). Flags given now override the
    stored options. A run whose only checkpoints were found by watching, and whose script has
    no --resume-arg, is refused: it would start from scratch.
    """
    if options["from_scratch"] and options["resume_from"]:
        from backprop_core.errors import UsageError

        raise UsageError("--from-scratch and --resume-from contradict each other")
    from backprop_core.cli.run import finish
    from backprop_core.run.runner import open_run_store
    from backprop_core.run.start import resume_run
    from backprop_core.settings import resolve_with_warnings
    from backprop_core.settings.resolve import stored_overrides
    from backprop_core.settings.sources import deep_merge, leaf_keys

    now, flags = overrides_from_options(options)
    config_file = options.get("config_file")
    # First resolve with today's flags only to find the home and store the run lives in.
    where, _ = resolve_with_warnings(now, config_file=config_file, labels=flags)
    store = open_run_store(where)
    try:
        run = store.resolve(run_ref)
        stored = stored_overrides(run.settings)
        labels = {key: f"stored settings of run {run.id}" for key in leaf_keys(stored)}
        settings, warnings = resolve_with_warnings(
            deep_merge(stored, now), config_file=config_file, labels={**labels, **flags}
        )
        echo_warnings(warnings)
        result = resume_run(
            settings,
            run_options_from(options),
            run,
            store,
            resume_from=_absolute(options["resume_from"]),
            resume_arg=options["resume_arg"],
        )
    finally:
        store.close()
    finish(result, options["as_json"])


def _absolute(path: str | None) -> str | None:
    """A checkpoint given on the command line, made absolute against the current folder (the
    run's own folder may be another one)."""
    if path is None:
        return None
    from pathlib import Path

    return str(Path(path).expanduser().absolute())
