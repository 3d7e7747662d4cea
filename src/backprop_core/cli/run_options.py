"""Options shared by ``backprop run`` and ``backprop resume`` (the setting flags among them are
rows of ``cli.options.SETTING_FLAGS``), and how they drive the sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from backprop_core.cli.options import json_option, setting_option
from backprop_core.errors import UsageError

#: ``--until-done``'s limit on sessions (``backprop_core.run.runner.DEFAULT_MAX_SESSIONS``,
#: repeated here so that ``--help`` does not import the runner).
DEFAULT_MAX_SESSIONS = 50

if TYPE_CHECKING:
    from backprop_core.run.runner import RunOptions

F = TypeVar("F", bound=Callable[..., Any])


def _metric_choice(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from backprop_core.settings.sources import metric_choice

    return metric_choice(value)


def keep_best_option(text: str) -> Callable[[F], F]:
    """``--keep-best METRIC[:min|max]`` of ``gc``, over every run's ``checkpoints.keep.best``
    (``run`` and ``resume`` take the setting flag ``keep_best`` instead)."""
    return click.option(
        "--keep-best", metavar="METRIC[:min|max]", callback=_metric_choice, help=text
    )


def run_settings_options(func: F) -> F:
    """The options of ``run`` and ``resume``; the ones that become settings (time box, GPUs,
    stop, wait, monitors, output scalars, launcher, checkpoint retention and watching) are made
    from their rows in ``options.SETTING_FLAGS``."""
    decorators = [
        setting_option("max_run_minutes"),
        setting_option("framework"),
        setting_option("checkpoint_every_minutes"),
        setting_option("gpu_memory_limit"),
        setting_option("max_parallel"),
        setting_option("gpus"),
        click.option(
            "--wait/--no-wait",
            default=None,
            help="Wait for resources (default) or give up at once; with a scheduler's "
            "launcher, --wait also follows the run here until it ends.",
        ),
        setting_option("wait_timeout"),
        setting_option("grace"),
        setting_option("stop_on_nan"),
        setting_option("stall_minutes"),
        setting_option("output_scalars"),
        setting_option("watch_checkpoints"),
        click.option(
            "--show-events",
            is_flag=True,
            help="Also print event lines (JSON events, SDK lines on stdout) on the terminal.",
        ),
        setting_option("keep_last"),
        setting_option("keep_best"),
        click.option(
            "--until-done", is_flag=True, help="Chain sessions until the script reports done."
        ),
        click.option(
            "--max-sessions",
            type=click.IntRange(min=1),
            metavar="N",
            help=f"With --until-done: at most N sessions (default {DEFAULT_MAX_SESSIONS}).",
        ),
        setting_option("launcher"),
        setting_option("partition"),
        setting_option("slurm_args"),
        json_option,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def run_options_from(options: dict[str, Any], **extra: Any) -> RunOptions:
    """How ``run``/``resume`` drive their sessions, from their click options."""
    from backprop_core.run.runner import RunOptions

    return RunOptions(
        wait=options["wait"] if options["wait"] is not None else True,
        follow=options["wait"] is True,
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
