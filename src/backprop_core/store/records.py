"""The record model (docs/store.md): runs, sessions, checkpoints, events and metric points.

Defined once here and mirrored by ``schemas/run-record.v1.schema.json``. Every store plugin
persists exactly these objects; every view reads them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from enum import Enum
from typing import Any

from backprop_core.events.event import Event
from backprop_core.events.file_identity import FileIdentity
from backprop_core.store.params import ParamCondition

#: Metrics the supervisor samples about the machine (``sys/cpu_pct``…) start with this; views
#: show them apart from, and after, the script's own.
SYSTEM_PREFIX = "sys/"


def is_system_metric(key: str) -> bool:
    return key.startswith(SYSTEM_PREFIX)


class RunStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    TIMEBOXED = "timeboxed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    KILLED = "killed"
    LOST = "lost"
    REFUSED = "refused"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATUSES


ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED})


@dataclass
class PauseRecord:
    """One pause of a session: why, from when, until when (``None`` while still paused)."""

    reason: str
    started_at: float
    ended_at: float | None = None


@dataclass
class SessionRecord:
    """One supervised execution of a run's script.

    Liveness (docs/store.md) is judged by ``heartbeat_at``, the last time the supervisor said it
    was alive, and, where the reader shares the supervisor's host, boot (``boot_id``) and PID
    namespace (``pid_namespace``), by ``supervisor_pid`` plus ``supervisor_started`` (the process
    start time from the OS), never by the pid alone, since pids are reused.

    ``launcher`` describes a session handed to a scheduler (docs/plugins.md, "Launchers"):
    ``name`` (the launcher), ``job_id``, ``state`` and ``state_reason`` (the scheduler's words,
    as last seen), ``node``, ``restart_count``, ``output`` (the job's own output file). Empty
    for a session the local launcher ran.
    """

    run_id: str
    number: int
    status: RunStatus
    started_at: float
    ended_at: float | None = None
    pid: int | None = None
    pid_started: float | None = None
    supervisor_pid: int | None = None
    supervisor_started: float | None = None
    host: str | None = None
    gpus: list[str] = field(default_factory=list)
    resumed_from: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    active_seconds: float = 0.0
    pauses: list[PauseRecord] = field(default_factory=list)
    first_step: int | None = None
    last_step: int | None = None
    resumed_step: int | None = None
    boot_id: str | None = None
    pid_namespace: int | None = None
    heartbeat_at: float | None = None
    launcher: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckpointRecord:
    """A checkpoint the script announced. ``path`` is stored as given (see ``resolve_path``).

    ``file`` is what backprop saw of the file at announcement, when it may belong to the run
    (``events.file_identity``); ``gc`` deletes a file outside the run's folder only while it
    still matches. Announcing the same path again replaces the record (``checkpoint_key``).
    ``found_by`` names the watcher that found the checkpoint when the script did not announce
    it (``checkpoints``: see "Checkpoints found by watching" in docs/unmodified-scripts.md).
    """

    run_id: str
    path: str
    time: float
    step: int | None = None
    session: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    best: bool = False
    file: FileIdentity | None = None
    found_by: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event as kept by a store: its run, its per-run sequence number, and the event."""

    run_id: str
    seq: int
    event: Event


@dataclass(frozen=True)
class MetricPoint:
    """One value of one metric. ``value`` keeps NaN and ±Inf."""

    key: str
    value: float
    time: float
    step: int | None = None
    session: int | None = None


@dataclass(frozen=True)
class MetricSeries:
    """A metric's points in the order they were logged, possibly downsampled.

    Arrival order is step order for any script that logs increasing steps; a resumed session
    that repeats steps appends its points after the earlier ones rather than interleaving
    (and, unless all sessions are asked for, the earlier ones it supersedes are left out).

    ``total`` is how many points the series has before downsampling; ``sessions[i]`` is the
    session that logged point ``i`` (``None`` when unknown).
    """

    key: str
    steps: list[int | None]
    times: list[float]
    values: list[float]
    total: int
    sessions: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class RunRecord:
    """A run: what was started, with which options, and where it stands.

    ``settings`` is the effective settings as a plain JSON object (config key names), so a
    resume can reuse them. ``params`` are the hyperparameters: parsed from ``argv``, merged with
    the SDK's ``config`` (which wins), see ``backprop_core.store.params``. ``last_metrics``/
    ``last_step`` (leaving out points a later session superseded), ``session_count``,
    ``checkpoint_count`` and ``active_seconds`` are kept up to date by the store so listing
    never has to scan events.
    """

    id: str
    status: RunStatus
    created_at: float
    name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    project: str | None = None
    script: str | None = None
    argv: list[str] = field(default_factory=list)
    cwd: str | None = None
    command: list[str] = field(default_factory=list)
    framework: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_step: int | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    session_count: int = 0
    checkpoint_count: int = 0
    active_seconds: float = 0.0
    done: bool = False
    #: The run this one repeats (``backprop rerun``).
    rerun_of: str | None = None
    #: The host a run was pulled from (``backprop pull HOST``, as written there); ``None`` for a
    #: run recorded on this machine. A pulled run's files belong to that host: nothing here may
    #: delete them outside the run's own folder, and liveness is that host's business.
    origin: str | None = None


#: ``RunFilter.origin`` for runs recorded on this machine (no origin).
LOCAL_ORIGIN = ""


@dataclass(frozen=True)
class RunFilter:
    """Filters for ``Store.list_runs``. ``name`` is a shell glob; ``tags`` and ``params``
    must all match (see ``ParamCondition`` for how parameters compare); ``origin`` is a host
    runs were pulled from, or ``LOCAL_ORIGIN`` for runs recorded here.

    Results are newest first (by ``created_at``, then id).
    """

    statuses: frozenset[RunStatus] | None = None
    name: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    params: tuple[ParamCondition, ...] = ()
    origin: str | None = None
    limit: int | None = None
    offset: int = 0


# --- plain-JSON forms ---------------------------------------------------------------------
# Stores, ``show --json`` and the viewer all use these, so every view of a record agrees.
# Non-finite floats are kept as floats here; ``json_safe`` turns them into the strings
# "NaN"/"Infinity"/"-Infinity" for output that must be strict JSON.


def json_safe(value: Any) -> Any:  # returns the same shape it was given
    """``value`` with every non-finite float replaced by "NaN", "Infinity" or "-Infinity"."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def json_restored(value: Any) -> Any:  # returns the same shape it was given
    """The inverse of ``json_safe``: "NaN", "Infinity" and "-Infinity" become floats again (for
    numbers that came back as strict JSON, e.g. from ``list --json`` on another machine)."""
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, Mapping):
        return {k: json_restored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_restored(v) for v in value]
    return value


def pause_to_dict(pause: PauseRecord) -> dict[str, Any]:
    return {"reason": pause.reason, "started_at": pause.started_at, "ended_at": pause.ended_at}


def pause_from_dict(data: dict[str, Any]) -> PauseRecord:
    return PauseRecord(str(data["reason"]), float(data["started_at"]), data.get("ended_at"))


def run_to_dict(run: RunRecord) -> dict[str, Any]:
    out = {name: getattr(run, name) for name in RunRecord.__dataclass_fields__}
    out["status"] = run.status.value
    out["tags"] = dict(run.tags)
    out["params"] = dict(run.params)
    return out


def run_from_dict(data: dict[str, Any]) -> RunRecord:
    known = {k: v for k, v in data.items() if k in RunRecord.__dataclass_fields__}
    known["status"] = RunStatus(known["status"])
    return RunRecord(**known)


def _tree_copy(value: Any) -> Any:
    """``value`` with every dict and list in it copied (a call per container, not per value)."""
    if type(value) is dict:
        return {k: _tree_copy(v) if type(v) in _NESTED else v for k, v in value.items()}
    return [_tree_copy(v) if type(v) in _NESTED else v for v in value]


_NESTED = frozenset({dict, list})


#: The fields of ``RunRecord`` that hold dicts or lists.
_RUN_CONTAINERS = tuple(
    name for name, f in RunRecord.__dataclass_fields__.items() if f.default_factory is not MISSING
)


def run_copy(run: RunRecord) -> RunRecord:
    """A copy of ``run`` that shares no dict or list with it, however deep: what a store keeps
    in memory stays its own whatever the caller then changes (several times cheaper than a
    round trip through JSON, or ``copy.deepcopy``)."""
    new = object.__new__(RunRecord)
    fields = new.__dict__
    fields.update(run.__dict__)
    for name in _RUN_CONTAINERS:
        value = fields[name]
        if type(value) in _NESTED:
            fields[name] = _tree_copy(value) if value else type(value)()
    return new


def session_to_dict(session: SessionRecord) -> dict[str, Any]:
    out = {name: getattr(session, name) for name in SessionRecord.__dataclass_fields__}
    out["status"] = session.status.value
    out["pauses"] = [pause_to_dict(p) for p in session.pauses]
    out["gpus"] = list(session.gpus)
    out["launcher"] = dict(session.launcher)
    return out


def session_from_dict(data: dict[str, Any]) -> SessionRecord:
    known = {k: v for k, v in data.items() if k in SessionRecord.__dataclass_fields__}
    known["status"] = RunStatus(known["status"])
    known["pauses"] = [
        p if isinstance(p, PauseRecord) else pause_from_dict(p) for p in known.get("pauses", [])
    ]
    return SessionRecord(**known)


def checkpoint_to_dict(checkpoint: CheckpointRecord) -> dict[str, Any]:
    out = {name: getattr(checkpoint, name) for name in CheckpointRecord.__dataclass_fields__}
    out["file"] = None if checkpoint.file is None else checkpoint.file.to_dict()
    return out


def checkpoint_from_dict(data: dict[str, Any]) -> CheckpointRecord:
    known = {k: v for k, v in data.items() if k in CheckpointRecord.__dataclass_fields__}
    known["file"] = FileIdentity.from_dict(known.get("file"))
    return CheckpointRecord(**known)


def coerce_changes(cls: type, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate ``update_run``/``update_session`` keyword changes against ``cls``'s fields.

    ``status`` may be given as a ``RunStatus`` or its string value; pauses as records or dicts.
    """
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s): {', '.join(unknown)}")
    out = dict(changes)
    if "status" in out:
        out["status"] = RunStatus(out["status"])
    if "pauses" in out:
        out["pauses"] = [
            p if isinstance(p, PauseRecord) else pause_from_dict(p) for p in out["pauses"]
        ]
    return out
