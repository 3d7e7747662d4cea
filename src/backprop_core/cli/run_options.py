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
    """The options that become settings (time box, GPUs, governor, stop, wait, monitors)."""
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
            "-g", "--gpu-memory-limit", help='GPU memory cap: "80%" of the GPU, or GB ("12").'
        ),
        click.option(
            "-p", "--max-parallel", type=int, help="Active runs allowed at once under this home."
        ),
        click.option("--gpus", type=int, help="How many GPUs the run gets (0 = CPU only)."),
        click.option(
            "--wait/--no-wait",
            default=None,
            help="Wait for resources (default) or give up at once; with a scheduler's "
            "launcher, --wait also follows the run here until it ends.",
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
            "--until-done", is_flag=True, help="Chain sessions until the script reports done."
        ),
        click.option("--max-sessions", type=int, help="With --until-done: at most N sessions."),
        click.option(
            "--launcher",
            metavar="NAME",
            help="Where sessions run: local (this machine, the default) or slurm (a batch job "
            "per session; see docs/slurm.md).",
        ),
        click.option("--partition", metavar="P", help="With --launcher slurm: the partition."),
        click.option(
            "--slurm",
            "slurm_args",
            multiple=True,
            metavar="ARG",
            help="With --launcher slurm: an sbatch option (repeatable), added after slurm.args "
            'from the settings, e.g. --slurm=--gres=gpu:1 --slurm="--account=ml".',
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def run_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """Config overrides (config key names) from the run options that were given."""
    out: dict[str, Any] = {}
    top = {
        "max_run_minutes": "maxRunMinutes",
        "framework": "framework",
        "checkpoint_every_minutes": "checkpointEveryMinutes",
        "max_parallel": "maxParallel",
    }
    for name, key in top.items():
        if options.get(name) is not None:
            out[key] = options[name]
    limit = options.get("gpu_memory_limit")
    if limit is not None:
        try:
            out["gpuMemoryLimit"] = float(limit)
        except ValueError:
            out["gpuMemoryLimit"] = limit
    if options.get("gpus") is not None:
        if options["gpus"] < 0:
            raise UsageError("--gpus must be 0 or more")
        out.setdefault("gpu", {})["count"] = options["gpus"]
    if options.get("wait_timeout") is not None:
        out["wait"] = {"timeoutMinutes": options["wait_timeout"]}
    if options.get("grace") is not None:
        out["stop"] = {"graceSeconds": options["grace"]}
    if options.get("launcher") is not None:
        out["launcher"] = options["launcher"]
    slurm: dict[str, Any] = {}
    if options.get("partition") is not None:
        slurm["partition"] = options["partition"]
    if options.get("slurm_args"):
        slurm["args"] = [*_configured_slurm_args(options), *options["slurm_args"]]
    if slurm:
        out["slurm"] = slurm
    monitors: dict[str, Any] = {}
    if options.get("stop_on_nan"):
        monitors["stopOnNan"] = True
    if options.get("stall_minutes") is not None:
        monitors["stallMinutes"] = options["stall_minutes"]
    if monitors:
        out["monitors"] = monitors
    return out


def _configured_slurm_args(options: dict[str, Any]) -> list[str]:
    """``slurm.args`` from the settings without this command's flags (the flags add to it)."""
    from backprop_core.cli.options import overrides_from_options
    from backprop_core.settings import resolve_with_warnings

    settings, _ = resolve_with_warnings(
        overrides_from_options(options), config_file=options.get("config_file")
    )
    return list(settings.slurm.args)


def run_options_from(options: dict[str, Any], **extra: Any) -> RunOptions:
    """How ``run``/``resume`` drive their sessions, from their click options."""
    from backprop_core.run.runner import RunOptions

    return RunOptions(
        wait=options["wait"] if options["wait"] is not None else True,
        follow=options["wait"] is True,
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
