"""Records and events for the store contract suite."""

from __future__ import annotations

import math

from backprop_core.events.event import Event
from backprop_core.store.records import RunRecord, RunStatus

T0 = 1_790_000_000.0


def make_run(run_id: str, created: float = T0, **fields: object) -> RunRecord:
    fields.setdefault("status", RunStatus.RUNNING)
    return RunRecord(id=run_id, created_at=created, **fields)  # type: ignore[arg-type]


def metrics(step: int | None, session: int | None = 1, **values: object) -> Event:
    t = T0 + (step or 0)
    return Event("metrics", t, step=step, payload={"data": values}, session=session)


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b
