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
@governor_options
@settings_options
@click.argument("run_ref", metavar="RUN")
def resume_command(run_ref: str, **options: Any) -> None:
    """Start the next session of a run from its last checkpoint.

    RUN's stored script, arguments and options are used again, from the newest of its
    checkpoints that still exists (from scratch when none does). Flags given now override the
    stored options.
    """
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
        result = resume_run(settings, run_options_from(options), run, store)
    finally:
        store.close()
    finish(result, options["as_json"])
