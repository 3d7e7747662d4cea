"""Options shared by several commands, and turning them into ``Settings``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from backprop_core.render.terminal import terminal_text
from backprop_core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SettingFlag:
    """A flag that sets a settings key: the flag as typed, the key, how its value is read and
    its help (the option of every command that takes it is made from this, ``setting_option``).

    ``parse``: ``"text"`` is read and checked by the settings' schema exactly like a
    ``BACKPROP_*`` variable (click's own number types would let "nan" through and word their
    errors differently); ``"switch"`` only ever turns the key on; ``"toggle"`` turns it on,
    and its ``--no-`` form off; ``"folder"`` is a path, made absolute; ``"append"`` is
    repeatable, each value one item added after the list the other sources give; ``"globs"``
    is repeatable, its values replacing the key's list as a whole, and its ``--no-`` form
    (help: ``off_help``) sets the list empty.
    """

    decls: tuple[str, ...]
    key: tuple[str, ...]
    help: str
    metavar: str | None = None
    parse: Literal["text", "switch", "toggle", "folder", "append", "globs"] = "text"
    off_help: str | None = None

    @property
    def flag(self) -> str:
        """The long form, which errors name (``flag --grace``)."""
        return self.decls[-1]

    @property
    def forms(self) -> tuple[str, ...]:
        """Every form as typed: the declarations, and a toggle's ``--no-`` form."""
        if self.parse in ("toggle", "globs"):
            return (*self.decls, f"--no-{self.flag.removeprefix('--')}")
        return self.decls


#: Every flag that sets a setting, for every command: click parameter name -> its flag. A flag
#: not given (``None``) leaves the key to the other sources. docs/settings.md lists them by key.
SETTING_FLAGS: dict[str, SettingFlag] = {
    # settings_options
    "home": SettingFlag(
        ("--home",),
        ("home",),
        "Where runs are stored (default: BACKPROP_HOME or the user data folder).",
        parse="folder",
    ),
    "store": SettingFlag(
        ("--store",),
        ("store",),
        "Store: sqlite (default) or json in the home, or a postgresql:// URL.",
        "NAME|URL",
    ),
    # governor_options
    "gpu_probe": SettingFlag(
        ("--gpu-probe",),
        ("gpu", "probe"),
        "GPU probe: auto (nvml, then nvidia-smi, then none), nvml, nvidia-smi, none.",
        "NAME",
    ),
    "gpu_min_vram": SettingFlag(
        ("--gpu-min-vram",),
        ("gpu", "minFreeVramMB"),
        "Free GPU memory a run needs, in MiB (gpu.minFreeVramMB).",
        "MIB",
    ),
    "gpu_max_temp": SettingFlag(
        ("--gpu-max-temp",),
        ("gpu", "maxTempC"),
        "GPU temperature limit in °C (gpu.maxTempC).",
        "C",
    ),
    "min_free_ram": SettingFlag(
        ("--min-free-ram",),
        ("minFreeRamGB",),
        "Available RAM a run needs, in GB (minFreeRamGB).",
        "GB",
    ),
    "max_cpu_load": SettingFlag(
        ("--max-cpu-load",),
        ("maxCpuLoad",),
        "Wait while the 1-minute load per core is above X (maxCpuLoad).",
        "X",
    ),
    # run_settings_options (run and resume)
    "max_run_minutes": SettingFlag(
        ("-m", "--max-run-minutes"),
        ("maxRunMinutes",),
        "Time box per session in active minutes (0 = none).",
        "MIN",
    ),
    "framework": SettingFlag(
        ("-f", "--framework"), ("framework",), "pytorch, tensorflow, jax, generic or auto."
    ),
    "checkpoint_every_minutes": SettingFlag(
        ("-c", "--checkpoint-every-minutes"),
        ("checkpointEveryMinutes",),
        "Checkpoint interval passed to the script.",
        "MIN",
    ),
    "gpu_memory_limit": SettingFlag(
        ("-g", "--gpu-memory-limit"),
        ("gpuMemoryLimit",),
        'GPU memory cap: "80%" of the GPU, or GB ("12").',
        "CAP",
    ),
    "max_parallel": SettingFlag(
        ("-p", "--max-parallel"),
        ("maxParallel",),
        "Active runs allowed at once under this home.",
        "N",
    ),
    "gpus": SettingFlag(
        ("--gpus",), ("gpu", "count"), "How many GPUs the run gets (0 = CPU only).", "N"
    ),
    "wait_timeout": SettingFlag(
        ("--wait-timeout",),
        ("wait", "timeoutMinutes"),
        "Give up waiting after MIN minutes.",
        "MIN",
    ),
    "grace": SettingFlag(
        ("--grace",),
        ("stop", "graceSeconds"),
        "Seconds between the stop signal and SIGKILL.",
        "SECONDS",
    ),
    "stop_on_nan": SettingFlag(
        ("--stop-on-nan",),
        ("monitors", "stopOnNan"),
        "Stop the run when a logged loss is NaN/Inf.",
        parse="switch",
    ),
    "stall_minutes": SettingFlag(
        ("--stall-minutes",),
        ("monitors", "stallMinutes"),
        "Alert and stop when the script is silent M minutes.",
        "M",
    ),
    "output_scalars": SettingFlag(
        ("--output-scalars",),
        ("outputScalars", "enabled"),
        "Read metrics from the script's printed progress lines (default: on).",
        parse="toggle",
    ),
    "launcher": SettingFlag(
        ("--launcher",),
        ("launcher",),
        "Where sessions run: local (this machine, the default) or slurm (a batch job "
        "per session; see docs/slurm.md).",
        "NAME",
    ),
    "partition": SettingFlag(
        ("--partition",),
        ("slurm", "partition"),
        "With --launcher slurm: the partition.",
        "P",
    ),
    "slurm_args": SettingFlag(
        ("--slurm",),
        ("slurm", "args"),
        "With --launcher slurm: an sbatch option (repeatable), added after slurm.args "
        'from the settings, e.g. --slurm=--gres=gpu:1 --slurm="--account=ml".',
        "ARG",
        parse="append",
    ),
    "watch_checkpoints": SettingFlag(
        ("--watch-checkpoints",),
        ("checkpoints", "watch"),
        "Record files matching GLOB as checkpoints when the script writes them "
        "(repeatable; replaces checkpoints.watch; default: *.pt *.pth *.ckpt …).",
        "GLOB",
        parse="globs",
        off_help="Do not look for checkpoint files the script does not announce.",
    ),
    # the root group
    "remote_command": SettingFlag(
        ("--remote-command",),
        ("remote", "command"),
        "The backprop to run on the other machine, e.g. "
        '"env BACKPROP_HOME=/data/bp /opt/venv/bin/backprop".',
        "CMD",
    ),
    "keep_last": SettingFlag(
        ("--keep-last",),
        ("checkpoints", "keep", "last"),
        "Checkpoints backprop gc keeps for this run, newest first.",
        "N",
    ),
    "keep_best": SettingFlag(
        ("--keep-best",),
        ("checkpoints", "keep", "best"),
        "Also keep this run's best checkpoint by METRIC (default min).",
        "METRIC[:min|max]",
    ),
}


def setting_option(name: str) -> Callable[[F], F]:
    """The click option of the setting flag ``SETTING_FLAGS[name]``."""
    flag = SETTING_FLAGS[name]
    if flag.parse == "switch":
        return click.option(*flag.decls, name, is_flag=True, default=None, help=flag.help)
    if flag.parse == "toggle":
        on_off = f"{flag.flag}/{flag.forms[-1]}"
        return click.option(*flag.decls[:-1], on_off, name, default=None, help=flag.help)
    if flag.parse == "folder":
        folder = click.Path(file_okay=False, path_type=Path)
        return click.option(*flag.decls, name, type=folder, help=flag.help)
    if flag.parse == "append":
        return click.option(*flag.decls, name, multiple=True, metavar=flag.metavar, help=flag.help)
    if flag.parse == "globs":
        return _stack(
            click.option(*flag.decls, name, multiple=True, metavar=flag.metavar, help=flag.help),
            click.option(
                flag.forms[-1], f"no_{name}", is_flag=True, default=None, help=flag.off_help
            ),
        )
    return click.option(*flag.decls, name, metavar=flag.metavar, help=flag.help)


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
    setting_option("home"),
    setting_option("store"),
)

governor_options = _stack(
    *(
        setting_option(name)
        for name in ("gpu_probe", "gpu_min_vram", "gpu_max_temp", "min_free_ram", "max_cpu_load")
    )
)

#: The one ``--json`` of every command that prints data.
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON on stdout instead of text."
)


def overrides_from_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The config overrides (config key names) of the setting flags given in a click kwargs
    dict (names not in ``SETTING_FLAGS`` ignored), and the flag behind each dotted key
    (``flag --grace``)."""
    from backprop_core.settings.schemas import CONFIG_SCHEMA, load_schema
    from backprop_core.settings.sources import deep_merge, text_overrides

    given: list[tuple[tuple[str, ...], str, Any]] = []
    appended: list[tuple[tuple[str, ...], str, list[str]]] = []
    for name, flag in SETTING_FLAGS.items():
        value = options.get(name)
        if flag.parse == "globs":
            value = _globs(flag, value, options.get(f"no_{name}"))
        elif value == ():
            continue  # a repeatable option not given
        if value is None or (value is False and flag.parse == "switch"):
            continue  # not given (a switch is only ever turned on)
        if isinstance(value, Path):
            value = str(value.expanduser().resolve())
        if flag.parse == "append":
            appended.append((flag.key, f"flag {flag.flag}", list(value)))
            continue
        off = value is False or (flag.parse == "globs" and not value)
        typed = flag.forms[-1] if off else flag.flag  # a toggle's --no- form
        given.append((flag.key, f"flag {typed}", value))
    overrides, labels = text_overrides(given, load_schema(CONFIG_SCHEMA))
    if appended:
        configured = _configured(overrides, options.get("config_file"))
        more = [(key, label, [*configured(key), *items]) for key, label, items in appended]
        extra, extra_labels = text_overrides(more, load_schema(CONFIG_SCHEMA))
        overrides, labels = deep_merge(overrides, extra), {**labels, **extra_labels}
    return overrides, labels


def _configured(
    overrides: dict[str, Any], config_file: Path | None
) -> Callable[[tuple[str, ...]], list[Any]]:
    """The list each key holds in the settings without the repeatable flags (which add to it)."""
    from backprop_core.settings import resolve_with_warnings

    settings, _ = resolve_with_warnings(overrides, config_file=config_file)
    data = settings.config

    def value(key: tuple[str, ...]) -> list[Any]:
        node: Any = data
        for part in key:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return list(node) if isinstance(node, list) else []

    return value


def _globs(flag: SettingFlag, values: Any, off: Any) -> list[str] | None:
    """A ``globs`` flag's list: the values given, empty for its ``--no-`` form, ``None`` when
    neither was given."""
    if off:
        if values:
            from backprop_core.errors import UsageError

            raise UsageError(f"{flag.flag} and {flag.forms[-1]} contradict each other")
        return []
    return list(values) if values else None


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
