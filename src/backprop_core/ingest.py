"""Events → what a store persists (SPEC §6): metric points, checkpoints, summary, last metrics.

Every store calls ``digest`` on each batch it appends, so they all derive the same records from
the same events. Only numbers become metric points: ints and floats (not bools), and the strings
"NaN", "Infinity", "-Infinity" (also "inf"/"+inf"/"-inf", any case) that JSON payloads use for
non-finite values. Other values are skipped for points; the event itself is always stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backprop_core.events import Event
from backprop_core.records import CheckpointRecord

_NON_FINITE = {
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


def as_number(value: Any) -> float | None:
    """``value`` as a float if it is a metric value, else ``None``."""
    if type(value) is float:  # the common case first: this runs once per metric value
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return _NON_FINITE.get(value.strip().lower())
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
    if event.step is not None:
        return event.step
    step = event.payload.get("step")
    if isinstance(step, int) and not isinstance(step, bool):
        return step
    if isinstance(step, float) and step.is_integer():
        return int(step)
    return None


def metric_values(event: Event) -> dict[str, float]:
    """The metric values a ``metrics`` event carries: its ``data`` object, or, when it has none,
    its numeric top-level fields (the Node-tool ``{"step": 1, "loss": 0.5}`` form)."""
    data = event.data
    if data:
        return numeric_items(data)
    return numeric_items({k: v for k, v in event.payload.items() if k not in _RESERVED})


#: A metric point as ``digest`` yields it: (key, value, time, step, session). Plain tuples,
#: because a batch can hold hundreds of thousands of them; ``MetricPoint(*row)`` builds one.
PointRow = tuple[str, float, float, "int | None", "int | None"]


@dataclass
class Digest:
    """What one batch of events changes in a store."""

    points: list[PointRow] = field(default_factory=list)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_step: int | None = None
    done: bool = False

    def apply_to(
        self, last_metrics: dict[str, float], summary: dict[str, Any]
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """The run's ``last_metrics`` and ``summary`` after this batch."""
        return {**last_metrics, **self.last_metrics}, {**summary, **self.summary}


def checkpoint_of(run_id: str, event: Event) -> CheckpointRecord | None:
    path = event.payload.get("path")
    if not isinstance(path, str) or not path:
        return None
    metrics = event.payload.get("metrics")
    return CheckpointRecord(
        run_id=run_id,
        path=path,
        time=event.time,
        step=event_step(event),
        session=event.session,
        metrics=numeric_items(metrics) if isinstance(metrics, Mapping) else {},
        best=event.payload.get("best") is True,
    )


def digest(run_id: str, events: Sequence[Event] | Iterable[Event]) -> Digest:
    """Derive metric points, checkpoints, summary changes and flags from ``events`` in order."""
    out = Digest()
    for event in events:
        step = event_step(event)
        if step is not None:
            out.last_step = step
        kind = event.kind
        if kind == "metrics":
            values = metric_values(event)
            t, session = event.time, event.session
            out.points.extend([(key, value, t, step, session) for key, value in values.items()])
            out.last_metrics.update(values)
        elif kind == "checkpoint_saved":
            checkpoint = checkpoint_of(run_id, event)
            if checkpoint is not None:
                out.checkpoints.append(checkpoint)
        elif kind == "summary":
            data = event.data
            if data:
                out.summary.update({str(k): v for k, v in data.items()})
        elif kind == "done":
            out.done = True
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
