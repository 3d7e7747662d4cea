"""Launchers that hand each session to a batch scheduler (``slurm``; a Ray Jobs or Kubernetes
Job launcher would plug in the same way, see "Launchers" in docs/plugins.md).

backprop does the rest itself: the run and a queued session are recorded before the job is
submitted; inside the job, ``backprop supervise RUN SESSION`` (the command in
``JobRequest.supervise``) is the session's supervisor, exactly as a local one; readers ask the
launcher about jobs whose supervisor has not recorded anything (``jobs``), and ``stop`` goes
through it (``cancel``, ``signal``).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backprop_core.errors import LaunchError
from backprop_core.launch.spec import Launcher, LaunchSpec

if TYPE_CHECKING:
    from backprop_core.settings import Settings


class JobPhase(str, Enum):
    """Where a job stands, in backprop's words (the scheduler's own is ``JobInfo.state``)."""

    QUEUED = "queued"  # waiting: pending, held, requeued, being configured
    RUNNING = "running"  # started; its supervisor may not have recorded itself yet
    ENDED = "ended"  # over, for whatever reason
    UNKNOWN = "unknown"  # the scheduler no longer knows it and keeps no accounting of it


@dataclass(frozen=True)
class JobInfo:
    """What the scheduler says about one job."""

    job_id: str
    phase: JobPhase
    state: str | None = None  # the scheduler's word: PENDING, RUNNING, TIMEOUT, CANCELLED...
    reason: str | None = None  # why it waits, or why it ended
    node: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    cancelled: bool = False  # ended by a cancellation rather than by running to its end
    restart_count: int | None = None


@dataclass(frozen=True)
class JobRequest:
    """One session to hand to the scheduler."""

    run_id: str
    session: int
    settings: Settings
    #: The command that runs the session's supervisor inside the job (it must be ``exec``ed,
    #: so that the scheduler's signals reach the supervisor itself).
    supervise: list[str]
    cwd: Path
    #: The job's own output file: the supervisor's messages, and anything printed before it
    #: started (the script's output goes to the session log, as for a local run).
    output: Path
    #: A job this one must wait for: the previous session's, for ``--until-done``.
    after: str | None = None


@dataclass(frozen=True)
class JobHere:
    """The job this process runs in, as the scheduler's environment and records describe it."""

    job_id: str
    restart_count: int = 0
    node: str | None = None
    #: Unix time by which the session must have begun stopping (the job's time limit less
    #: the margin), when the scheduler has one.
    stop_by: float | None = None
    #: GPU indices (as GPU probes number them) the job was allocated; ``None``: no restriction.
    gpus: tuple[int, ...] | None = None


class SchedulerLauncher(Launcher):
    """A launcher whose sessions run as jobs of a batch scheduler."""

    #: How the scheduler is named to users ("Slurm").
    scheduler: str = "scheduler"

    def launch(self, spec: LaunchSpec, context: Any) -> Any:
        raise LaunchError(
            f"the {self.name} launcher submits jobs; it does not run sessions here",
            hint="this is a bug in the caller",
        )

    def check(self, request: JobRequest) -> None:
        """Raise ``LaunchError`` (or ``UsageError``) if ``request`` could not be submitted from
        here: called before anything is recorded."""

    @abstractmethod
    def batch_script(self, request: JobRequest) -> str:
        """The exact job description that ``submit`` hands to the scheduler (``--dry-run``)."""

    @abstractmethod
    def submit(self, request: JobRequest) -> str:
        """Submit the job; its id. ``LaunchError`` with the scheduler's own words on failure."""

    @abstractmethod
    def jobs(self, job_ids: list[str]) -> dict[str, JobInfo]:
        """What the scheduler says about these jobs (``JobPhase.UNKNOWN`` for those it no
        longer knows). ``LaunchError`` when the scheduler cannot be asked from here."""

    @abstractmethod
    def cancel(self, job_id: str) -> None:
        """Cancel the job, whether it waits or runs."""

    @abstractmethod
    def signal(self, job_id: str, signum: int) -> None:
        """Send ``signum`` to the job's supervisor only (graceful or immediate stop)."""

    @abstractmethod
    def current_job(self, settings: Settings) -> JobHere | None:
        """The job this process runs in, or ``None`` outside one."""

    def job_record(self, job: JobHere) -> dict[str, Any]:
        """What a session's ``launcher`` field keeps about the job it runs in."""
        return {
            "name": self.name,
            "job_id": job.job_id,
            "node": job.node,
            "restart_count": job.restart_count,
            "state": None,
            "state_reason": None,
        }


def launcher_named(name: str) -> Launcher:
    """An instance of the installed launcher called ``name`` (the ``launcher`` setting)."""
    from backprop_core.errors import UsageError
    from backprop_core.plugin.manager import get_plugins

    launchers = get_plugins().launchers()
    if name not in launchers:
        raise UsageError(
            f"unknown launcher '{name}'", hint=f"choose one of: {', '.join(sorted(launchers))}"
        )
    return launchers[name]()


def scheduler_of(launcher: dict[str, Any]) -> SchedulerLauncher | None:
    """The launcher that submitted a session, from its record's ``launcher`` field; ``None``
    for a local session, or one whose launcher is not installed here."""
    from backprop_core.plugin.manager import get_plugins

    name = launcher.get("name")
    if not name:
        return None
    cls = get_plugins().launchers().get(str(name))
    if cls is None or not issubclass(cls, SchedulerLauncher):
        return None
    return cls()
