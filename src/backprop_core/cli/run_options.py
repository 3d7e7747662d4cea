"""Options shared by ``backprop run`` and ``backprop resume`` (their settings keys are in
``cli.options.OPTION_KEYS``), and how they drive the sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from backprop_core.cli.options import json_option
from backprop_core.errors import UsageError

#: ``--until-done``'s limit on sessions (``backprop_core.run.runner.DEFAULT_MAX_SESSIONS``,
#: repeated here so that ``--help`` does not import the runner).
DEFAULT_MAX_SESSIONS = 50

if TYPE_CHECKING:
    from backprop_core.run.runner import RunOptions

F = TypeVar("F", bound=Callable[..., Any])


def _number_or_text(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``"12"`` is 12 GB, as a number; ``"80%"`` and ``"12GB"`` stay text for the schema."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def run_settings_options(func: F) -> F:
    """The options of ``run`` and ``resume``; the ones that become settings are mapped to
    their keys in ``OPTION_KEYS`` (time box, GPUs, stop, wait, monitors, output scalars) or by
    ``watch_overrides`` (checkpoint watching)."""
    decorators = [
        click.option(
            "-m",
            "--max-run-minutes",
            type=float,
            help="Time box per session in active minutes (0 = none).",
        ),
        click.option("-f", "--framework", help="pytorch, tensorflow, jax, generic or auto."),
        click.option(
            "-c",
            "--checkpoint-every-minutes",
            type=float,
            help="Checkpoint interval passed to the script.",
        ),
        click.option(
            "-g",
            "--gpu-memory-limit",
            callback=_number_or_text,
            help='GPU memory cap: "80%" of the GPU, or GB ("12").',
        ),
        click.option(
            "-p", "--max-parallel", type=int, help="Active runs allowed at once under this home."
        ),
        click.option(
            "--gpus", type=click.IntRange(min=0), help="How many GPUs the run gets (0 = CPU only)."
        ),
        click.option(
            "--wait/--no-wait",
            default=None,
            help="Wait for resources (default) or give up at once.",
        ),
        click.option(
            "--wait-timeout", type=float, metavar="MIN", help="Give up waiting after MIN minutes."
        ),
        click.option(
            "--grace",
            type=float,
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
            type=float,
            metavar="M",
            help="Alert and stop when the script is silent M minutes.",
        ),
        click.option(
            "--output-scalars/--no-output-scalars",
            default=None,
            help="Read metrics from the script's printed progress lines (default: on).",
        ),
        click.option(
            "--watch-checkpoints",
            "watch_checkpoints",
            multiple=True,
            metavar="GLOB",
            help="Record files matching GLOB as checkpoints when the script writes them "
            "(repeatable; replaces checkpoints.watch; default: *.pt *.pth *.ckpt …).",
        ),
        click.option(
            "--no-watch-checkpoints",
            is_flag=True,
            default=None,
            help="Do not look for checkpoint files the script does not announce.",
        ),
        click.option(
            "--show-events",
            is_flag=True,
            help="Also print event lines (JSON events, SDK lines on stdout) on the terminal.",
        ),
        click.option(
            "--until-done", is_flag=True, help="Chain sessions until the script reports done."
        ),
        click.option(
            "--max-sessions",
            type=click.IntRange(min=1),
            help=f"With --until-done: at most N sessions (default {DEFAULT_MAX_SESSIONS}).",
        ),
        json_option,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def watch_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """Config overrides (config key names) from ``--watch-checkpoints`` and
    ``--no-watch-checkpoints``: the globs replace ``checkpoints.watch`` as a whole."""
    globs = list(options.get("watch_checkpoints") or ())
    if options.get("no_watch_checkpoints"):
        if globs:
            raise UsageError("--watch-checkpoints and --no-watch-checkpoints contradict each other")
        return {"checkpoints": {"watch": []}}
    if globs:
        return {"checkpoints": {"watch": globs}}
    return {}


def run_options_from(options: dict[str, Any], **extra: Any) -> RunOptions:
    """How ``run``/``resume`` drive their sessions, from their click options."""
    from backprop_core.run.runner import RunOptions

    return RunOptions(
        wait=options["wait"] if options["wait"] is not None else True,
        until_done=options["until_done"],
        max_sessions=options["max_sessions"],
        json_output=options["as_json"],
        show_events=options["show_events"],
        from_scratch=bool(options.get("from_scratch")),
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
