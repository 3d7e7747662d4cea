"""``backprop rerun RUN [--strict]``: a new run of the same command, settings and folder,
after saying what differs from the original (code, interpreter, inputs)."""

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


@click.command("rerun")
@run_settings_options
@governor_options
@settings_options
@click.option("-n", "--name", help="A name for the new run.")
@click.option(
    "--strict", is_flag=True, help="Start nothing if anything differs from the original run."
)
@click.argument("run_ref", metavar="RUN")
def rerun_command(run_ref: str, strict: bool, name: str | None, **options: Any) -> None:
    """Run a run again, after saying what changed since.

    First compares what the run started from with now: the git commit and uncommitted
    changes of its folder, the Python version and packages, the checkpoint it started from,
    and every artifact it read (by the same NAME:VERSION it asked for). Each difference is
    printed; --strict refuses to start then (exit 2). The new run records which run it
    repeats (rerun_of). Flags given now override the stored settings.
    """
    from backprop_core.cli.run import finish
    from backprop_core.errors import RerunMismatch
    from backprop_core.run.rerun import mismatches, resumed_from
    from backprop_core.run.runner import open_run_store
    from backprop_core.run.spec import stored_command
    from backprop_core.run.start import start_command
    from backprop_core.settings import resolve_with_warnings
    from backprop_core.settings.resolve import stored_overrides
    from backprop_core.settings.sources import deep_merge, leaf_keys

    now, flags = overrides_from_options(options)
    config_file = options.get("config_file")
    where, _ = resolve_with_warnings(now, config_file=config_file, labels=flags)
    store = open_run_store(where)
    try:
        run = store.resolve(run_ref)
        command, cwd = stored_command(run)
        differences = mismatches(store, run)
        start = resumed_from(store, run)
        stored = stored_overrides(run.settings)
        labels = {key: f"stored settings of run {run.id}" for key in leaf_keys(stored)}
        settings, warnings = resolve_with_warnings(
            deep_merge(stored, now), config_file=config_file, cwd=cwd, labels={**labels, **flags}
        )
    finally:
        store.close()
    echo_warnings(warnings)
    for line in differences:
        click.echo(f"backprop: differs: {line}", err=True)
    if differences and strict:
        raise RerunMismatch(
            f"{len(differences)} difference(s) from run {run.id}; nothing started",
            hint="restore what changed, or rerun without --strict",
        )
    if not differences:
        click.echo(f"backprop: same code, interpreter and inputs as run {run.id}", err=True)
    result = start_command(
        settings,
        run_options_from(options, name=name, tags=dict(run.tags), rerun_of=run.id),
        command,
        cwd,
        resume_from=start if start is None or not differences or _exists(start, cwd) else None,
    )
    finish(result, options["as_json"])


def _exists(path: str, cwd: Any) -> bool:
    from pathlib import Path

    p = Path(path).expanduser()
    return (p if p.is_absolute() else Path(cwd) / p).exists()
