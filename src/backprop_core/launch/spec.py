"""What is launched and how: the ``LaunchSpec`` handed from admission to the launcher, and the
plugin base classes for framework adapters, launchers, in-run monitors and watchers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
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


def _unknown_step() -> int | None:
    return None


def _never_announced(path: str) -> float | None:
    return None


def _no_metrics() -> bool:
    return False


@dataclass(frozen=True)
class WatchContext:
    """What a watcher knows about the session it watches.

    ``cwd`` is the run's working directory (where a script writes its files), ``home`` the
    backprop home (never watched), ``created_at`` when the run was created and ``started_at``
    when this session started (unix seconds). ``last_step()`` is the last step seen in the
    session's output and events (the run's last recorded step until then).
    ``announced(path)`` is when the script itself last announced a checkpoint of that file in
    this session (``None``: never), so that a watcher does not record it a second time.
    ``reported_metrics()`` says whether the script has reported metrics itself this session,
    as event lines or through the SDK (a watcher that reads metrics may then stand down).
    """

    run_id: str
    session: int
    cwd: Path
    home: Path
    settings: Settings
    created_at: float
    started_at: float
    last_step: Callable[[], int | None] = _unknown_step
    announced: Callable[[str], float | None] = _never_announced
    reported_metrics: Callable[[], bool] = _no_metrics


class Watcher(ABC):
    """Watches what a session leaves on disk (checkpoint files, log files...) and turns it
    into events, which are recorded like the events the script prints.

    One instance per session, made before the script starts (``create`` can take a baseline of
    what is already there), polled every ``poll_seconds`` on the supervisor's watcher thread,
    and polled a last time by ``finish`` once the script and every process it started ended.
    """

    name: ClassVar[str]
    #: Seconds between polls (an instance may set its own from the settings).
    poll_seconds: float = 2.0

    @classmethod
    def create(cls, context: WatchContext) -> Watcher | None:
        """An instance for this session, or ``None`` when the settings turn the watcher off.
        Called before the script starts."""
        return None

    @abstractmethod
    def poll(self, now: float) -> list[Event]:
        """What changed since the last poll, as events (``session`` set, ``time`` ``now``)."""

    def finish(self, now: float) -> list[Event]:
        """The last poll, after the script ended: nothing is written any more."""
        return self.poll(now)

    @classmethod
    def resumable(cls, context: WatchContext) -> list[Event]:
        """``checkpoint_saved`` events for checkpoints of the run already on disk (changed
        since the run was created), for a resume to choose from when its records name none
        that still exists. Called before a session, outside it."""
        return []
