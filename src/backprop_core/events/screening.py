"""Fields a store cannot hold, made harmless before a batch is stored (docs/store.md, "What
events become").

Every store passes each batch through ``screen_batch`` before storing and digesting it, so one
bad field never costs the events around it, and every store keeps the same thing:

* a ``step`` that is not an integer with ``|step| < 2**63`` (``1e300``, ``2**70``, NaN, ±Inf, a
  bool) is dropped: the event is kept without a step (a printed line in ``MetricColumns``, its
  points), and one ``alert`` event after the first such event of the batch says how many there
  were;
* a ``time`` that is not a finite number becomes the time the batch is stored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from backprop_core.events.columns import MetricColumns
from backprop_core.events.event import Event
from backprop_core.events.ingest import STEP_LIMIT, Item, MetricLines, as_step, valid_step


def _steps_ok(steps: list[Any]) -> bool:
    try:  # two passes at C speed; a None among several steps makes them raise
        lo, hi = min(steps, default=0), max(steps, default=0)
    except TypeError:
        lo = hi = None
    if lo is None or hi is None:
        ints = [s for s in steps if s is not None]
        lo, hi = min(ints, default=0), max(ints, default=0)
    return lo > -STEP_LIMIT and hi < STEP_LIMIT


def _lines_ok(lines: MetricLines) -> bool:
    return _steps_ok(lines.steps) and math.isfinite(sum(lines.times))


def _time_ok(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _screen_columns(columns: MetricColumns, stamp: float) -> tuple[MetricColumns, list[Any]]:
    """A run of printed lines' points with its bad steps dropped (the lines are kept without
    a step) and a bad time replaced, still in columns; the steps dropped."""
    bad = [s for s in columns.steps if s is not None and not valid_step(s)]
    steps = [s if s is None or valid_step(s) else as_step(s) for s in columns.steps]
    fixed = replace(
        columns,
        time=columns.time if _time_ok(columns.time) else stamp,
        steps=steps,
        step_text=None,
    )
    return fixed, [s for s in bad if as_step(s) is None]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def screen_batch(items: Sequence[Item], now: float | None = None) -> list[Item]:
    """``items`` with every step and time a store could not keep replaced (see above)."""
    out: list[Item] = []
    bad_steps = 0
    first_bad: Any = None
    alert_at = -1
    stamp = time.time() if now is None else now
    for item in items:
        if isinstance(item, MetricColumns):
            if _steps_ok(item.steps) and _time_ok(item.time):
                out.append(item)
                continue
            fixed, dropped = _screen_columns(item, stamp)
            out.append(fixed)
            if dropped:
                bad_steps += len(dropped)
                if first_bad is None:
                    first_bad, alert_at = dropped[0], len(out)
            continue
        if isinstance(item, MetricLines):
            if _lines_ok(item):
                out.append(item)
                continue
            events: Sequence[Event] = item.events()
        else:
            events = (item,)
        for event in events:
            changes: dict[str, Any] = {}
            if event.step is not None and not valid_step(event.step):
                step = as_step(event.step)
                if step is None:
                    bad_steps += 1
                    if first_bad is None:
                        first_bad, alert_at = event.step, len(out) + 1
                changes["step"] = step
            if not _time_ok(event.time):
                changes["time"] = stamp
            out.append(replace(event, **changes) if changes else event)
    if bad_steps:
        text = (
            f"{bad_steps} event(s) had a step that is not a 64-bit integer (first:"
            f" {_show(first_bad)}); they were recorded without a step"
        )
        session = out[alert_at - 1].session
        alert = Event("alert", stamp, None, {"level": "warning", "text": text}, session)
        out.insert(alert_at, alert)
    return out
