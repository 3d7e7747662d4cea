"""Fields a store cannot hold, made harmless before a batch is stored (docs/store.md, "What
events become").

Every store passes each batch through ``screen_batch`` before storing and digesting it, so one
bad field never costs the events around it, and every store keeps the same thing:

* a ``step`` that is not an integer with ``|step| < 2**63`` (``1e300``, ``2**70``, NaN, ±Inf, a
  bool) is dropped: the event is kept without a step, and one ``alert`` event after the first
  such event of the batch says how many there were;
* a ``time`` that is not a finite number becomes the time the batch is stored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from backprop_core.events.event import Event
from backprop_core.events.ingest import STEP_LIMIT, MetricLines, as_step, valid_step


def _lines_ok(lines: MetricLines) -> bool:
    steps: list[Any] = lines.steps
    try:  # two passes at C speed; a None among several steps makes them raise
        lo, hi = min(steps, default=0), max(steps, default=0)
    except TypeError:
        lo = hi = None
    if lo is None or hi is None:
        ints = [s for s in steps if s is not None]
        lo, hi = min(ints, default=0), max(ints, default=0)
    return lo > -STEP_LIMIT and hi < STEP_LIMIT and math.isfinite(sum(lines.times))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def screen_batch(
    items: Sequence[Event | MetricLines], now: float | None = None
) -> list[Event | MetricLines]:
    """``items`` with every step and time a store could not keep replaced (see above)."""
    out: list[Event | MetricLines] = []
    bad_steps = 0
    first_bad: Any = None
    alert_at = -1
    stamp = time.time() if now is None else now
    for item in items:
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
            if not (type(event.time) in (int, float) and math.isfinite(event.time)):
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
