"""Options shared by ``backprop run`` and ``backprop resume``, and their config overrides."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from backprop_core.errors import UsageError

if TYPE_CHECKING:
    from backprop_core.run.runner import RunOptions

F = TypeVar("F", bound=Callable[..., Any])


def run_settings_options(func: F) -> F:
    """The options of ``run`` and ``resume``; the ones that become settings (time box, GPUs,
    governor, stop, wait, monitors) are listed in ``options.SETTING_FLAGS``."""
    decorators = [
        click.option(
            "-m",
            "--max-run-minutes",
            metavar="MIN",
            help="Time box per session in active minutes (0 = none).",
        ),
        click.option("-f", "--framework", help="pytorch, tensorflow, jax, generic or auto."),
        click.option(
            "-c",
            "--checkpoint-every-minutes",
            metavar="MIN",
            help="Checkpoint interval passed to the script.",
        ),
        click.option(
            "-g",
            "--gpu-memory-limit",
            metavar="CAP",
            help='GPU memory cap: "80%" of the GPU, or GB ("12").',
        ),
        click.option(
            "-p",
            "--max-parallel",
            metavar="N",
            help="Active runs allowed at once under this home.",
        ),
        click.option("--gpus", metavar="N", help="How many GPUs the run gets (0 = CPU only)."),
        click.option(
            "--wait/--no-wait",
            default=None,
            help="Wait for resources (default) or give up at once.",
        ),
        click.option("--wait-timeout", metavar="MIN", help="Give up waiting after MIN minutes."),
        click.option(
            "--grace",
            metavar="SECONDS",
            help="Seconds between the stop signal and SIGKILL.",
        ),
        click.option(
            "--stop-on-nan",
            is_flag=True,
            default=None,
            help="Stop the run when a logged loss is NaN/Inf.",
        ),
        click.option(
            "--stall-minutes",
            metavar="M",
            help="Alert and stop when the script is silent M minutes.",
        ),
        click.option(
            "--until-done", is_flag=True, help="Chain sessions until the script reports done."
        ),
        click.option(
            "--max-sessions",
            type=click.IntRange(min=1),
            metavar="N",
            help="With --until-done: at most N sessions.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def run_options_from(options: dict[str, Any], **extra: Any) -> RunOptions:
    """How ``run``/``resume`` drive their sessions, from their click options."""
    from backprop_core.run.runner import RunOptions

    return RunOptions(
        wait=options["wait"] if options["wait"] is not None else True,
        until_done=options["until_done"],
        max_sessions=options["max_sessions"],
        json_output=options["as_json"],
        **extra,
    )


def parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"invalid --tag '{value}'", hint="use --tag KEY=VALUE")
        tags[key.strip()] = rest
    return tags
