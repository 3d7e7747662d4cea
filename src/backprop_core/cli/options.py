"""Options shared by several commands, and turning them into ``Settings``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from backprop_core.settings import Settings
from backprop_core.settings.sources import deep_merge

F = TypeVar("F", bound=Callable[..., Any])

#: Every flag that overrides a setting, for every command: click parameter name -> path of the
#: config key it sets. A flag not given (``None``) leaves the key to the other sources.
OPTION_KEYS: dict[str, tuple[str, ...]] = {
    # settings_options
    "home": ("home",),
    "store": ("store",),
    # governor_options
    "gpu_probe": ("gpu", "probe"),
    "gpu_min_vram": ("gpu", "minFreeVramMB"),
    "gpu_max_temp": ("gpu", "maxTempC"),
    "min_free_ram": ("minFreeRamGB",),
    "max_cpu_load": ("maxCpuLoad",),
    # run_settings_options (run and resume)
    "max_run_minutes": ("maxRunMinutes",),
    "framework": ("framework",),
    "checkpoint_every_minutes": ("checkpointEveryMinutes",),
    "gpu_memory_limit": ("gpuMemoryLimit",),
    "max_parallel": ("maxParallel",),
    "gpus": ("gpu", "count"),
    "wait_timeout": ("wait", "timeoutMinutes"),
    "grace": ("stop", "graceSeconds"),
    "stop_on_nan": ("monitors", "stopOnNan"),
    "stall_minutes": ("monitors", "stallMinutes"),
    "output_scalars": ("outputScalars", "enabled"),
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
        type=float,
        metavar="MIB",
        help="Free GPU memory a run needs, in MiB (gpu.minFreeVramMB).",
    ),
    click.option(
        "--gpu-max-temp",
        type=float,
        metavar="C",
        help="GPU temperature limit in °C (gpu.maxTempC).",
    ),
    click.option(
        "--min-free-ram",
        type=float,
        metavar="GB",
        help="Available RAM a run needs, in GB (minFreeRamGB).",
    ),
    click.option(
        "--max-cpu-load",
        type=float,
        metavar="X",
        help="Wait while the 1-minute load per core is above X (maxCpuLoad).",
    ),
)

#: The one ``--json`` of every command that prints data.
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON on stdout instead of text."
)


def overrides_from_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The config overrides (config key names) carried by known option names in ``options``."""
    out: dict[str, Any] = {}
    for name, path in OPTION_KEYS.items():
        value = options.get(name)
        if value is None:
            continue
        if isinstance(value, Path):
            value = str(value.expanduser().resolve())
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def settings_from_options(
    options: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> Settings:
    """Resolve settings with the flags found in a click kwargs dict (names not in
    ``OPTION_KEYS`` ignored) and ``extra`` overrides (config key names) on top. Warnings go to
    stderr."""
    from backprop_core.settings import resolve_with_warnings

    overrides = overrides_from_options(options)
    if extra:
        overrides = deep_merge(overrides, extra)
    settings, warnings = resolve_with_warnings(overrides, config_file=options.get("config_file"))
    echo_warnings(warnings)
    return settings


def echo_warnings(warnings: Iterable[str]) -> None:
    """Settings warnings (unknown variables, ignored keys) as one line each on stderr."""
    for warning in warnings:
        click.echo(f"backprop: warning: {warning}", err=True)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (non-finite floats kept as ``NaN``/``Infinity``)."""
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def is_terminal() -> bool:
    return sys.stdout.isatty()
