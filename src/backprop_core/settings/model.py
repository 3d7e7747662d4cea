"""The typed ``Settings`` object: the effective configuration of one command, with the source
of every value. Built by ``backprop_core.settings.resolve``; everything downstream reads it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backprop_core.units import GIB

if TYPE_CHECKING:
    from signal import Signals

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(key: str) -> str:
    """``maxTempC`` → ``max_temp_c``; ``minFreeVramMB`` → ``min_free_vram_mb``."""
    return _CAMEL.sub("_", key).lower()


# Each settings class has a docstring: without one, ``dataclass`` builds it from
# ``inspect.signature`` at import, a cost every command would pay.


@dataclass(frozen=True)
class GpuSettings:
    """``gpu.*``: the probe, and what a GPU must offer to be handed to a run."""

    probe: str = "auto"
    min_free_vram_mb: float = 2500
    max_temp_c: float = 85
    count: int = 1


@dataclass(frozen=True)
class GovernorSettings:
    """``governor.*``: how often a running session re-checks the machine, and when it pauses."""

    poll_seconds: float = 5
    pause_below_free_ram_gb: float = 0.5
    resume_hysteresis_c: float = 5


@dataclass(frozen=True)
class StopSettings:
    """``stop.*``: the signal a session gets at its deadline and the grace before SIGKILL."""

    grace_seconds: float = 30
    signal: str = "SIGTERM"

    @property
    def signal_number(self) -> Signals:
        """``signal`` as a signal (SIGTERM for a name this platform does not have)."""
        import signal as signals  # only the supervisor needs it

        return signals.Signals.__members__.get(self.signal, signals.SIGTERM)


@dataclass(frozen=True)
class WaitSettings:
    """``wait.*``: how long a run waits for admission."""

    timeout_minutes: float = 60


@dataclass(frozen=True)
class MonitorSettings:
    """``monitors.*``: the NaN and stall monitors."""

    stop_on_nan: bool = False
    stall_minutes: float | None = None


@dataclass(frozen=True)
class KeepPolicy:
    """Which checkpoints of a run ``gc`` keeps: the newest ``last``, and the best by
    ``best_metric`` (lowest with ``best_mode`` ``min``, highest with ``max``)."""

    last: int = 3
    best_metric: str | None = None
    best_mode: str = "min"

    @classmethod
    def from_config(cls, keep: Any) -> KeepPolicy:
        """From a ``checkpoints.keep`` object as stored (missing or odd parts: defaults)."""
        keep = keep if isinstance(keep, Mapping) else {}
        last = keep.get("last")
        best = keep.get("best")
        best = best if isinstance(best, Mapping) and isinstance(best.get("metric"), str) else None
        return cls(
            last=last if type(last) is int and last >= 0 else cls.last,
            best_metric=best["metric"] if best else None,
            best_mode="max" if best and best.get("mode") == "max" else "min",
        )


@dataclass(frozen=True)
class CheckpointSettings:
    """``checkpoints.*``: which checkpoints ``gc`` keeps (docs/artifacts.md), and which files
    are found without being announced ("Checkpoints found by watching" in
    docs/unmodified-scripts.md; an empty ``watch`` turns watching off)."""

    keep: Mapping[str, Any] = field(default_factory=lambda: {"last": 3, "best": None})
    watch: tuple[str, ...] = (
        "*.pt", "*.pth", "*.ckpt", "*.safetensors", "*.bin", "*.h5", "*.keras",
    )  # fmt: skip
    max_depth: int = 6
    poll_seconds: float = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "watch", tuple(self.watch))  # config values are JSON arrays

    @property
    def keep_policy(self) -> KeepPolicy:
        return KeepPolicy.from_config(self.keep)


@dataclass(frozen=True)
class SystemMetricsSettings:
    """How often the supervisor samples the run's CPU, memory and GPUs (``sys/…`` metrics)."""

    every_seconds: float = 10


@dataclass(frozen=True)
class LivenessSettings:
    """Heartbeats and when a silent supervisor counts as gone (docs/store.md, "Liveness")."""

    heartbeat_seconds: float = 5
    lost_after_seconds: float = 60


@dataclass(frozen=True)
class SlurmSettings:
    """The ``slurm`` launcher's batch jobs (docs/slurm.md)."""

    partition: str | None = None
    args: tuple[str, ...] = ()
    signal_margin_seconds: float = 90

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", tuple(self.args))


@dataclass(frozen=True)
class OutputScalarSettings:
    """Metrics read from printed lines (docs/unmodified-scripts.md)."""

    enabled: bool = True
    builtin_rules: bool = True
    patterns: tuple[str, ...] = ()
    ignore_keys: tuple[str, ...] = (
        "v_num", "pid", "port", "seed", "rank", "local_rank", "world_size", "version",
    )  # fmt: skip

    def __post_init__(self) -> None:
        # Config values arrive as JSON arrays.
        object.__setattr__(self, "patterns", tuple(self.patterns))
        object.__setattr__(self, "ignore_keys", tuple(self.ignore_keys))


@dataclass(frozen=True)
class TensorBoardSettings:
    """Event files a script writes, followed while it runs and recorded as its metrics
    ("Live TensorBoard logs" in docs/interop.md). An empty ``watch`` turns following off."""

    watch: tuple[str, ...] = ("**/*tfevents*",)
    poll_seconds: float = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "watch", tuple(self.watch))  # config values are JSON arrays


@dataclass(frozen=True)
class RemoteSettings:
    """How other machines are reached over SSH (docs/remote.md)."""

    ssh_command: str = "ssh"
    command: str | None = None
    connect_timeout_seconds: float = 10


_NESTED = {
    "gpu": GpuSettings,
    "governor": GovernorSettings,
    "stop": StopSettings,
    "wait": WaitSettings,
    "monitors": MonitorSettings,
    "checkpoints": CheckpointSettings,
    "system_metrics": SystemMetricsSettings,
    "liveness": LivenessSettings,
    "slurm": SlurmSettings,
    "output_scalars": OutputScalarSettings,
    "tensorboard": TensorBoardSettings,
    "remote": RemoteSettings,
}


@dataclass(frozen=True)
class Settings:
    """Effective settings (docs/architecture.md). Attribute names are the config keys in snake case.

    ``config`` is the merged JSON object with the config key names (what ``config show`` prints
    and what a run record stores); ``sources`` maps each dotted key (``gpu.maxTempC``) to where
    its value came from (``default``, ``user config <path>``, ``project config <path>``,
    ``env BACKPROP_…``, ``flag --…``).
    """

    home: Path
    max_run_minutes: float = 10
    max_parallel: int = 2
    gpu_memory_limit: str | float = "80%"
    min_free_ram_gb: float = 4
    max_cpu_load: float | None = None
    checkpoint_every_minutes: float | None = None
    framework: str = "auto"
    store: str = "sqlite"
    launcher: str = "local"
    capture_environment: bool = True
    gpu: GpuSettings = field(default_factory=GpuSettings)
    governor: GovernorSettings = field(default_factory=GovernorSettings)
    stop: StopSettings = field(default_factory=StopSettings)
    wait: WaitSettings = field(default_factory=WaitSettings)
    monitors: MonitorSettings = field(default_factory=MonitorSettings)
    checkpoints: CheckpointSettings = field(default_factory=CheckpointSettings)
    system_metrics: SystemMetricsSettings = field(default_factory=SystemMetricsSettings)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    output_scalars: OutputScalarSettings = field(default_factory=OutputScalarSettings)
    tensorboard: TensorBoardSettings = field(default_factory=TensorBoardSettings)
    remote: RemoteSettings = field(default_factory=RemoteSettings)
    config: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], home: Path, sources: Mapping[str, str] | None = None
    ) -> Settings:
        """Build from a merged, validated config object (config key names)."""
        top: dict[str, Any] = {}
        for key, value in config.items():
            name = snake(key)
            if name in _NESTED and isinstance(value, Mapping):
                top[name] = _NESTED[name](**{snake(k): v for k, v in value.items()})
            elif name in cls.__dataclass_fields__ and name not in ("home", "config", "sources"):
                top[name] = value
        return cls(home=home, config=dict(config), sources=dict(sources or {}), **top)

    def source(self, dotted_key: str) -> str:
        """Where ``dotted_key`` (config names, e.g. ``gpu.count``) came from."""
        return self.sources.get(dotted_key, "default")

    def is_default(self, dotted_key: str) -> bool:
        return self.source(dotted_key) == "default"

    @property
    def time_box_seconds(self) -> float | None:
        return self.max_run_minutes * 60 if self.max_run_minutes > 0 else None

    @property
    def checkpoint_every_seconds(self) -> float | None:
        m = self.checkpoint_every_minutes
        return m * 60 if m else None

    def gpu_memory_limit_bytes(self, gpu_total_bytes: int | None) -> int | None:
        """The per-run cap in bytes: a percentage of ``gpu_total_bytes`` or an absolute GB.

        ``None`` when it is a percentage and the GPU's total is unknown.
        """
        value = self.gpu_memory_limit
        if isinstance(value, (int, float)):
            return int(value * GIB)
        text = value.strip().lower()
        if text.endswith("%"):
            if gpu_total_bytes is None:
                return None
            return int(gpu_total_bytes * float(text[:-1].strip()) / 100)
        number = re.sub(r"\s*(gib|gb|g)$", "", text)
        return int(float(number) * GIB)
