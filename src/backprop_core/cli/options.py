"""Options shared by several commands, and turning them into ``Settings``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from backprop_core.render.terminal import terminal_text
from backprop_core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

# Every flag that sets a setting: click parameter name -> (config key path, the flag). The
# flags take text, read and checked by the settings' schema exactly like a BACKPROP_* variable
# (click's own number types would let "nan" through and word their errors differently).
SETTING_FLAGS: dict[str, tuple[tuple[str, ...], str]] = {
    "home": (("home",), "--home"),
    "store": (("store",), "--store"),
    "gpu_probe": (("gpu", "probe"), "--gpu-probe"),
    "gpu_min_vram": (("gpu", "minFreeVramMB"), "--gpu-min-vram"),
    "gpu_max_temp": (("gpu", "maxTempC"), "--gpu-max-temp"),
    "min_free_ram": (("minFreeRamGB",), "--min-free-ram"),
    "max_cpu_load": (("maxCpuLoad",), "--max-cpu-load"),
    "max_run_minutes": (("maxRunMinutes",), "--max-run-minutes"),
    "framework": (("framework",), "--framework"),
    "checkpoint_every_minutes": (("checkpointEveryMinutes",), "--checkpoint-every-minutes"),
    "gpu_memory_limit": (("gpuMemoryLimit",), "--gpu-memory-limit"),
    "max_parallel": (("maxParallel",), "--max-parallel"),
    "gpus": (("gpu", "count"), "--gpus"),
    "wait_timeout": (("wait", "timeoutMinutes"), "--wait-timeout"),
    "grace": (("stop", "graceSeconds"), "--grace"),
    "stop_on_nan": (("monitors", "stopOnNan"), "--stop-on-nan"),
    "stall_minutes": (("monitors", "stallMinutes"), "--stall-minutes"),
}


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


settings_options = _stack(
    click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read settings from this file instead of the project's backprop.config.json.",
    ),
    click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where runs are stored (default: BACKPROP_HOME or the user data folder).",
    ),
    click.option("--store", metavar="NAME", help="Store plugin: sqlite (default) or json."),
)

governor_options = _stack(
    click.option(
        "--gpu-probe",
        metavar="NAME",
        help="GPU probe: auto (nvml, then nvidia-smi, then none), nvml, nvidia-smi, none.",
    ),
    click.option(
        "--gpu-min-vram",
        metavar="MIB",
        help="Free GPU memory a run needs, in MiB (gpu.minFreeVramMB).",
    ),
    click.option(
        "--gpu-max-temp",
        metavar="C",
        help="GPU temperature limit in °C (gpu.maxTempC).",
    ),
    click.option(
        "--min-free-ram",
        metavar="GB",
        help="Available RAM a run needs, in GB (minFreeRamGB).",
    ),
    click.option(
        "--max-cpu-load",
        metavar="X",
        help="Wait while the 1-minute load per core is above X (maxCpuLoad).",
    ),
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def overrides_from_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The config overrides (config key names) of the setting flags given in a click kwargs
    dict (other names ignored), and the flag behind each dotted key (``flag --grace``)."""
    from backprop_core.settings.schemas import CONFIG_SCHEMA, load_schema
    from backprop_core.settings.sources import text_overrides

    given: list[tuple[tuple[str, ...], str, Any]] = []
    for name, (path, flag) in SETTING_FLAGS.items():
        value = options.get(name)
        if value is None or value is False:  # not given (a switch is only ever turned on)
            continue
        if isinstance(value, Path):
            value = str(value.expanduser().resolve())
        given.append((path, f"flag {flag}", value))
    return text_overrides(given, load_schema(CONFIG_SCHEMA))


def settings_from_options(options: Mapping[str, Any]) -> Settings:
    """Resolve settings with the setting flags found in a click kwargs dict. Warnings go to
    stderr."""
    from backprop_core.settings import resolve_with_warnings

    overrides, labels = overrides_from_options(options)
    settings, warnings = resolve_with_warnings(
        overrides, config_file=options.get("config_file"), labels=labels
    )
    echo_warnings(warnings)
    return settings


def echo_warnings(warnings: Iterable[str]) -> None:
    """Settings warnings (unknown variables, ignored keys) as one line each on stderr."""
    for warning in warnings:
        click.echo(f"backprop: warning: {terminal_text(warning)}", err=True)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (non-finite floats kept as ``NaN``/``Infinity``; control
    characters escaped, see ``render.terminal``)."""
    from backprop_core.render.terminal import terminal_json

    click.echo(terminal_json(json.dumps(data, indent=2, default=str, ensure_ascii=False)))


def is_terminal() -> bool:
    return sys.stdout.isatty()
