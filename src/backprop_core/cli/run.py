"""``backprop run SCRIPT [ARGS...]`` / ``backprop run -- COMMAND [ARGS...]``."""

from __future__ import annotations

import json
from typing import Any

import click

from backprop_core.cli.options import (
    governor_options,
    settings_from_options,
    settings_options,
)
from backprop_core.cli.run_options import (
    parse_tags,
    run_options_from,
    run_settings_options,
)
from backprop_core.errors import TrainingFailed, UserInterrupted


# Options end at the script: everything after it goes to the script untouched, while an unknown
# option before it is a usage error (never taken for the command to run).
@click.command("run", context_settings={"allow_interspersed_args": False})
@run_settings_options
@click.option(
    "-r",
    "--resume-from",
    metavar="PATH",
    help="Start from this checkpoint (BACKPROP_RESUME_FROM); remembered for resumes.",
)
@click.option("--run-id", help="Use this run id instead of a generated one.")
@click.option("-n", "--name", help="A name for the run (usable instead of its id).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the run (repeatable).")
@click.option(
    "--resume-arg",
    metavar="TEMPLATE",
    help="Arguments added when a session resumes: a preset (hf, lightning, nanogpt, resume, "
    'self) or a template such as "--resume {checkpoint}".',
)
@click.option(
    "--python", metavar="PATH", help="Interpreter for the script (default: backprop's own)."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show the decision, GPU, environment and command; start nothing.",
)
@governor_options
@settings_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def run_command(command: tuple[str, ...], **options: Any) -> None:
    """Run a training script, governed and time-boxed.

    COMMAND is a Python script and its arguments (run with backprop's own interpreter, or
    --python), or, after --, any command. backprop's options go before the script; everything
    after it is passed to the script untouched.
    """
    settings = settings_from_options(options)
    if options["dry_run"]:
        from backprop_core.cli.run_dry import dry_run

        dry_run(settings, command, options)
        return

    from backprop_core.run.start import start_run

    run_options = run_options_from(options, name=options["name"], tags=parse_tags(options["tags"]))
    result = start_run(
        settings,
        run_options,
        command,
        python=options["python"],
        run_id=options["run_id"],
        resume_from=options["resume_from"],
        resume_arg=options["resume_arg"],
    )
    finish(result, run_options.json_output)


def finish(result: Any, as_json: bool) -> None:
    """Print the result and leave with the exit code its status maps to (docs/architecture.md)."""
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    from backprop_core.run.runner import resume_hint

    if result.exit_code == 130:
        raise UserInterrupted(
            f"run {result.run_id} {result.reason or 'was stopped'}",
            hint=resume_hint(result.run_id, result.checkpoint),
        )
    if result.exit_code != 0:
        # A crash is resumable only from a checkpoint; without one, its output is what helps.
        hint = f"see its output: backprop logs {result.run_id}"
        if result.checkpoint:
            hint += f", or resume it from its last checkpoint: backprop resume {result.run_id}"
        raise TrainingFailed(
            f"run {result.run_id} {result.status.value}: {result.reason or 'training failed'}",
            hint=hint,
        )
