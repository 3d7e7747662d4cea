"""Events → what a store persists (docs/events.md): points, checkpoints, summary, last metrics.

Every store calls ``digest`` on each batch it appends, so they all derive the same records from
the same events. Only numbers become metric points: ints and floats (not bools), and the strings
"NaN", "Infinity", "-Infinity" (also "inf"/"+inf"/"-inf", any case) that JSON payloads use for
non-finite values. Other values are skipped for points; the event itself is always stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Union

from backprop_core.artifacts.records import ArtifactUse, ArtifactVersion
from backprop_core.events.columns import MetricColumns, columns_of
from backprop_core.events.event import Event
from backprop_core.events.points import add_columns, add_lines, add_pending, add_point
from backprop_core.events.sessions import UNSET, Columns, Mark, Segments, close_run, mark, segments
from backprop_core.store.params import flatten
from backprop_core.store.records import CheckpointRecord, RunRecord, SessionRecord

#: The strings JSON payloads use for NaN and ±Inf (lower case), with their values.
NON_FINITE_TEXT = {
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
}
# Fields of a metrics payload that are about the event, not metrics (Node-tool form).
_RESERVED = frozenset({"event", "step", "time", "session", "epoch", "data"})


#: Steps are 64-bit integers; the smallest one is left out so that packed arrays can use it
#: to mean "no step" (``screening`` drops the others, keeping their events).
STEP_LIMIT = 2**63


def valid_step(value: Any) -> bool:
    """Whether ``value`` is a step every store can keep: an int (not a bool), |step| < 2**63."""
    return type(value) is int and -STEP_LIMIT < value < STEP_LIMIT


def as_step(value: Any) -> int | None:
    """``value`` as a step if it is one (integral floats count), else ``None``."""
    if type(value) is float and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if valid_step(value) else None


def as_number(value: Any) -> float | None:
    """``value`` as a float if it is a metric value, else ``None``."""
    if type(value) is float:  # the common case first: this runs once per metric value
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float: that value is lost, not its event
            return None
    if isinstance(value, str):
        return NON_FINITE_TEXT.get(value.strip().lower())
    return None


def numeric_items(data: Mapping[str, Any]) -> dict[str, float]:
    """The entries of ``data`` that are metric values, as floats."""
    out: dict[str, float] = {}
    for key, value in data.items():
        if type(value) is float and type(key) is str:  # the hot path: skip the checks
            out[key] = value
            continue
        number = as_number(value)
        if number is not None:
            out[str(key)] = number
    return out


def event_step(event: Event) -> int | None:
    """The event's step, or its payload's when it has none; ``None`` unless it is a step
    every store can keep."""
    if event.step is not None:
        return event.step if valid_step(event.step) else None
    return as_step(event.payload.get("step"))


def metric_values(event: Event) -> dict[str, float]:
    """The metric values a ``metrics`` event carries: its ``data`` object, or, when it has none,
    its numeric top-level fields (the Node-tool ``{"step": 1, "loss": 0.5}`` form)."""
    data = event.data
    if data:
        return numeric_items(data)
    return numeric_items({k: v for k, v in event.payload.items() if k not in _RESERVED})


@dataclass
class MetricLines:
    """Consecutive ``metrics`` events from the output hot path, kept in columns so that a
    million of them need no ``Event`` object each.

    ``texts[i]`` is the line as printed (a JSON object with ``"event": "metrics"``),
    ``data[i]`` its ``data`` object, whose values are all numbers (ints or floats, not bools);
    ``times[i]``/``steps[i]`` as on ``Event``. Only these are kept (memory): ``event(i)``
    decodes the line again when an ``Event`` is wanted after all.
    """

    session: int | None
    times: list[float] = field(default_factory=list)
    steps: list[int | None] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.steps)

    def event(self, i: int) -> Event:
        obj = json.loads(self.texts[i])
        payload = {k: v for k, v in obj.items() if k != "event"}
        payload["data"] = {k: float(v) for k, v in self.data[i].items()}
        return Event("metrics", self.times[i], self.steps[i], payload, self.session)

    def events(self) -> list[Event]:
        return [self.event(i) for i in range(len(self.times))]

    def non_finite(self) -> list[int]:
        """Indexes of the events holding a NaN or ±Inf value."""
        total = sum(map(sum, map(dict.values, self.data)))
        if math.isfinite(total):  # the common case, settled in one pass at C speed
            return []
        return [
            i
            for i, data in enumerate(self.data)
            if not all(math.isfinite(v) for v in data.values())
        ]


#: What parsers hand to the supervisor and the supervisor to the stores.
Item = Union[Event, MetricLines, MetricColumns]


def expand(items: Iterable[Item]) -> list[Event]:
    """``items`` as plain events, in order, one per line (what listeners and monitors see)."""
    out: list[Event] = []
    for item in items:
        if isinstance(item, Event):
            out.append(item)
        else:
            out.extend(item.events())
    return out


def stored_events(items: Iterable[Item]) -> list[Event]:
    """``items`` as stores keep them, in order: a ``MetricColumns`` as its few events."""
    out: list[Event] = []
    for item in items:
        if isinstance(item, Event):
            out.append(item)
        elif isinstance(item, MetricColumns):
            out.extend(item.stored())
        else:
            out.extend(item.events())
    return out


@dataclass
class Digest:
    """What one batch of events changes in a store."""

    #: Every metric point of the batch, in order, per key (keys in first-seen order):
    #: (steps, times, values). Plain lists, because a batch can hold millions of points.
    columns: dict[str, Columns] = field(default_factory=dict)
    #: The sessions of ``columns``' points, per key.
    segments: dict[str, Segments] = field(default_factory=dict)
    #: Per session, the first and the latest step its metric points carried in this batch.
    session_steps: dict[int, list[int]] = field(default_factory=dict)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_step: int | None = None
    done: bool = False
    #: ``environment`` events' data merged (the supervisor's capture, the SDK's), if any.
    environment: dict[str, Any] | None = None
    #: Parameters from ``params`` events (and the ``config`` of ``summary`` events), flattened.
    params: dict[str, Any] = field(default_factory=dict)
    #: What ``init`` events said: ``name``, ``project`` (latest wins) and ``tags`` (merged).
    init: dict[str, Any] = field(default_factory=dict)
    #: Artifact versions the run produced (``artifact`` events backprop stored), to number.
    artifacts: list[ArtifactVersion] = field(default_factory=list)
    #: Artifact versions the run read (``use_artifact`` events backprop resolved).
    uses: list[ArtifactUse] = field(default_factory=list)

    def apply_to(
        self, last_metrics: dict[str, float], summary: dict[str, Any]
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """The run's ``last_metrics`` and ``summary`` after this batch."""
        return {**last_metrics, **self.last_metrics}, {**summary, **self.summary}

    def apply_run(self, run: RunRecord, checkpoints: int = 0) -> None:
        """Fold this batch into ``run`` (the store adds ``checkpoints`` it actually recorded):
        last metrics, summary, last step, done, environment, and name/project/tags from ``init``
        (a name the run already has is kept), params and environment merged over the run's."""
        run.last_metrics, run.summary = self.apply_to(run.last_metrics, run.summary)
        if self.last_step is not None:
            run.last_step = self.last_step
        run.done = run.done or self.done
        run.checkpoint_count += checkpoints
        if self.environment is not None:
            # Merged: what backprop recorded at launch (``launch``, ``source``) stays.
            run.environment = {**run.environment, **self.environment}
        if self.params:
            run.params = {**run.params, **self.params}
        init = self.init
        if init:
            if "name" in init and not run.name:
                run.name = init["name"]
            if "project" in init:
                run.project = init["project"]
            if "tags" in init:
                run.tags = {**run.tags, **init["tags"]}

    def apply_sessions(
        self, sessions: Mapping[int, SessionRecord]
    ) -> tuple[list[SessionRecord], bool]:
        """Fold this batch's steps into ``sessions`` (the run's, by number): the sessions it
        changed, and whether a session after the first logged its first step in it. That step
        is a new boundary (``backprop_core.store.series.session_boundary``) that may supersede
        earlier points, so the store then calls ``refresh_last``."""
        changed: list[SessionRecord] = []
        started = False
        for number, (first, last) in self.session_steps.items():
            session = sessions.get(number)
            if session is None:
                continue
            if session.first_step is None:
                session.first_step = first
                started = started or any(n < number for n in sessions)
            session.last_step = last
            changed.append(session)
        return changed, started

    def refresh_last(self, run: RunRecord, last_visible: Callable[[str], float | None]) -> None:
        """The run's last values of the keys this batch did not log, read again from their
        newest point not superseded (``last_visible``); a key with none left is dropped."""
        for key in [k for k in run.last_metrics if k not in self.columns]:
            value = last_visible(key)
            if value is None:
                del run.last_metrics[key]
            else:
                run.last_metrics[key] = value


def _apply_init(out: Digest, payload: Mapping[str, Any]) -> None:
    for field_name in ("name", "project"):
        value = payload.get(field_name)
        if isinstance(value, str) and value:
            out.init[field_name] = value
    tags = payload.get("tags")
    if isinstance(tags, Mapping):
        merged = out.init.setdefault("tags", {})
        merged.update({str(k): str(v) for k, v in tags.items()})


def checkpoint_of(run_id: str, event: Event) -> CheckpointRecord | None:
    path = event.payload.get("path")
    if not isinstance(path, str) or not path:
        return None
    metrics = event.payload.get("metrics")
    found_by = event.payload.get("found_by")
    return CheckpointRecord(
        run_id=run_id,
        path=path,
        time=event.time,
        step=event_step(event),
        session=event.session,
        metrics=numeric_items(metrics) if isinstance(metrics, Mapping) else {},
        best=event.payload.get("best") is True,
        file=event.file,
        found_by=found_by if isinstance(found_by, str) else None,
    )


def _artifact_of(out: Digest, run_id: str, event: Event, step: int | None) -> None:
    """What backprop witnessed for an ``artifact`` / ``use_artifact`` event; the payload alone
    (what the script claims) never makes a version or a use."""
    seen = event.artifact
    assert seen is not None
    if event.kind == "artifact":
        out.artifacts.append(replace(seen, run_id=run_id, created_at=event.time, step=step))
    elif event.kind == "use_artifact" and seen.version is not None:
        ref = event.payload.get("ref")
        out.uses.append(
            ArtifactUse(
                run_id,
                seen.name,
                seen.version,
                seen.digest,
                ref if isinstance(ref, str) and ref else f"v{seen.version}",
                event.time,
            )
        )


def digest(run_id: str, events: Iterable[Item]) -> Digest:
    """Derive metric points, checkpoints, summary changes and flags from ``events`` in order."""
    out = Digest()
    marks: list[Mark] = []
    current: Any = UNSET  # the session of the metric points being added
    first: int | None = None  # the first and last step of its current run of points
    last: int | None = None
    # Consecutive metrics events of the current session, added together, column by column:
    # a point at a time would cost more than the rest of the batch.
    pending = MetricLines(None)
    for event in events:
        if (
            isinstance(event, Event)
            and event.kind == "metrics"
            and event.session == current
            and "steps" not in event.payload
        ):
            data = event.payload.get("data")
            values = numeric_items(data) if type(data) is dict else metric_values(event)
            if values:
                pending.times.append(event.time)
                pending.steps.append(event_step(event))
                pending.data.append(values)
                continue
        if pending.steps:
            first, last = add_pending(out, pending, first, last)
            pending = MetricLines(None)
        if not isinstance(event, Event):  # a run of metrics lines or printed lines' points
            if event.session != current:
                close_run(out.session_steps, current, first, last)
                current, first, last = event.session, None, None
                marks.append(mark(out.columns, current))
            if isinstance(event, MetricLines):
                span = add_lines(out, event)
            else:
                span = add_columns(out, event.time, event.steps, event.data)
            if span is not None:
                first = span[0] if first is None else first
                last = span[1]
            continue
        step = event_step(event)
        kind = event.kind
        # A checkpoint found by watching is seen after the output that followed its save: its
        # step is not the run's latest.
        if step is not None and (kind != "checkpoint_saved" or "found_by" not in event.payload):
            out.last_step = step
        if kind == "metrics":
            if event.session != current:
                close_run(out.session_steps, current, first, last)
                current, first, last = event.session, None, None
                marks.append(mark(out.columns, current))
            found = columns_of(event) if "steps" in event.payload else None
            if found is not None:  # a stored run of printed lines
                span = add_columns(out, event.time, *found)
                if span is not None:
                    first = span[0] if first is None else first
                    last = span[1]
                continue
            values = metric_values(event)
            t = event.time
            for key, value in values.items():
                add_point(out.columns, key, value, t, step)
            out.last_metrics.update(values)
            if step is not None and values:
                if first is None:
                    first = step
                last = step
        elif kind == "checkpoint_saved":
            checkpoint = checkpoint_of(run_id, event)
            if checkpoint is not None:
                out.checkpoints.append(checkpoint)
        elif kind == "summary":
            data = event.data
            if data:
                out.summary.update({str(k): v for k, v in data.items()})
                if isinstance(data.get("config"), Mapping):  # how older SDKs sent ``config``
                    out.params.update(flatten(data["config"]))
        elif kind == "params":
            data = event.data
            if data:
                out.params.update(flatten({str(k): v for k, v in data.items()}))
        elif kind == "done":
            out.done = True
        elif kind == "environment":
            data = event.payload.get("data", event.payload)
            if isinstance(data, Mapping):
                out.environment = {**(out.environment or {}), **data}
        elif kind == "init":
            _apply_init(out, event.payload)
        elif event.artifact is not None:
            _artifact_of(out, run_id, event, step)
    if pending.steps:
        first, last = add_pending(out, pending, first, last)
    close_run(out.session_steps, current, first, last)
    out.segments = segments(out.columns, marks)
    if out.last_metrics:  # ints from hot-path metrics become floats, as everywhere else
        out.last_metrics = {k: float(v) for k, v in out.last_metrics.items()}
    return out


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as stores keep it (``payload`` as the script sent it, minus ``event``)."""
    return {
        "kind": event.kind,
        "time": event.time,
        "step": event.step,
        "session": event.session,
        "payload": dict(event.payload),
    }


def event_from_dict(data: Mapping[str, Any]) -> Event:
    return Event(
        kind=str(data["kind"]),
        time=float(data["time"]),
        step=data.get("step"),
        payload=dict(data.get("payload") or {}),
        session=data.get("session"),
    )
