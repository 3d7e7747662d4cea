"""What is launched and how: the ``LaunchSpec`` handed from admission to the launcher, and the
plugin base classes for framework adapters, launchers and in-run monitors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from backprop_core.events.event import Event
from backprop_core.store.records import RunStatus

if TYPE_CHECKING:
    from backprop_core.settings import Settings


@dataclass
class LaunchSpec:
    """Everything needed to start one session of a run.

    ``argv`` is the full command (interpreter included for scripts); ``env`` is the complete
    child environment. Framework adapters return changes to it through ``Preparation``.
    """

    run_id: str
    session: int
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    settings: Settings
    script: Path | None = None
    framework: str = "generic"
    gpus: tuple[int, ...] = ()
    gpu_memory_limit_bytes: int | None = None
    gpu_memory_total_bytes: int | None = None
    resume_from: str | None = None
    deadline: float | None = None
    #: Unix time by which the stop must begin whatever the active time: a scheduler's job time
    #: limit less its margin (paused time still counts against a job's wall-clock limit).
    stop_by: float | None = None


@dataclass(frozen=True)
class Preparation:
    """A framework adapter's changes to a launch, and a sentence for ``--dry-run``."""

    env: dict[str, str] = field(default_factory=dict)
    pythonpath: tuple[str, ...] = ()
    note: str = ""


class FrameworkAdapter(ABC):
    """Detects a framework from a script's source and prepares its launch (memory cap etc.).

    ``priority`` orders detection for ``-f auto``: lowest first; ``generic`` matches anything
    and comes last.
    """

    name: ClassVar[str]
    priority: ClassVar[int] = 100

    @abstractmethod
    def detect(self, script: Path) -> bool:
        """True if the script uses this framework. Must not import the framework."""

    @abstractmethod
    def prepare(self, spec: LaunchSpec) -> Preparation:
        """Environment and PYTHONPATH additions that enforce the GPU memory cap."""


class Launcher(ABC):
    """Starts and supervises sessions. ``local`` (the default) runs them on this machine."""

    name: ClassVar[str]

    @abstractmethod
    def launch(self, spec: LaunchSpec, context: Any) -> Any:
        """Run one session described by ``spec`` to its end and return its outcome."""


@dataclass(frozen=True)
class MonitorAction:
    """What a monitor asks the supervisor to do: raise an alert, and maybe stop the run."""

    alert: str | None = None
    level: str = "warning"
    stop: bool = False
    status: RunStatus | None = None
    reason: str | None = None


class Monitor(ABC):
    """Watches a running session (NaN losses, stalls...). One instance per session."""

    name: ClassVar[str]
    #: ``False`` for a monitor that only looks at non-finite metric values and at activity:
    #: of a run of hot-path metrics events it is then shown only those holding a NaN/±Inf
    #: value plus the last one, which keeps the supervisor fast. ``True`` (the default) shows
    #: it every event.
    sees_every_event: ClassVar[bool] = True

    @classmethod
    def create(cls, settings: Settings) -> Monitor | None:
        """An instance for this session, or ``None`` when the settings turn the monitor off."""
        return cls()

    def on_event(self, event: Event, now: float) -> MonitorAction | None:
        """Called for every parsed event."""
        return None

    def on_output(self, now: float) -> None:  # noqa: B027 - optional
        """Called whenever the session printed anything (a line, events or not)."""

    def on_tick(self, now: float) -> MonitorAction | None:
        """Called every governor poll while the session is running (not while paused)."""
        return None
