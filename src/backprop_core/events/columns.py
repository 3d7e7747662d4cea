"""Metric points read from printed lines, kept in columns (``MetricColumns``), and the one
``metrics`` event a run of them is stored as.

A script printing a progress line per step can print a million of them in seconds. An
``Event``, a dict and a stored event row per line would cost the supervisor several times what
the script spends printing them, so the output scalars parser hands over runs of lines that
share their keys as columns: one step per line, one list of values per key, and the time the
chunk was read. A store keeps each run as ONE ``metrics`` event whose payload holds the columns::

    {"source": "output", "steps": [10, 11, …], "data": {"loss": [2.34, 2.31, …], …}}

``steps`` may hold ``null`` (no step known); values are numbers, NaN and ±Infinity written as
Python's JSON writes them. A script cannot send an event of this form: the JSON event parser
keeps only numbers in a ``metrics`` event's ``data``. ``columns_of`` reads the points back
from the stored event (the viewer's live charts and the JSON store do).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from backprop_core.events.event import Event

SOURCE = "output"


@dataclass
class MetricColumns:
    """A run of printed lines' metric points in columns.

    ``steps[i]`` is line ``i``'s step; ``data[key][i]`` its value for ``key`` (every line has
    every key). ``text`` is the stored payload as JSON text when the parser wrote it from the
    numbers as printed (nothing is written twice); ``None`` makes ``payload_text`` write it.
    """

    session: int | None
    time: float
    steps: list[int | None]
    data: dict[str, list[float]]
    text: str | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def last_step(self) -> int | None:
        for step in reversed(self.steps):
            if step is not None:
                return step
        return None

    def payload(self) -> dict[str, Any]:
        return {"source": SOURCE, "steps": list(self.steps), "data": dict(self.data)}

    def payload_text(self) -> str:
        if self.text is None:
            self.text = json.dumps(self.payload(), separators=(",", ":"))
        return self.text

    def stored(self) -> Event:
        """The one ``metrics`` event this run is stored as (its step: the last one)."""
        return Event("metrics", self.time, self.last_step(), self.payload(), self.session)

    def event(self, i: int) -> Event:
        """Line ``i`` as a ``metrics`` event of its own, as listeners and monitors see it."""
        step = self.steps[i]
        data = {key: values[i] for key, values in self.data.items()}
        payload = {"step": step, "data": data, "source": SOURCE}
        return Event("metrics", self.time, step, payload, self.session)

    def events(self) -> list[Event]:
        return [self.event(i) for i in range(len(self.steps))]

    def non_finite(self) -> list[int]:
        """Indexes of the lines holding a NaN or ±Inf value."""
        columns = [v for v in self.data.values() if not math.isfinite(sum(v))]
        if not columns:  # the common case, settled a column at a time at C speed
            return []
        return [
            i
            for i in range(len(self.steps))
            if not all(math.isfinite(values[i]) for values in columns)
        ]

    def extend(self, other: MetricColumns) -> bool:
        """Append ``other``'s lines when they share this run's keys, session and time."""
        if (
            other.data.keys() != self.data.keys()
            or other.session != self.session
            or other.time != self.time
        ):
            return False
        self.steps.extend(other.steps)
        for key, values in self.data.items():
            values.extend(other.data[key])
        self.text = None
        return True


def _number(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float: no point
            return None
    return None


def columns_of(event: Event) -> tuple[list[int | None], dict[str, list[float | None]]] | None:
    """The steps and value columns of a stored ``MetricColumns`` event, or ``None`` when
    ``event`` is not one. A value that is not a number reads as ``None`` (no point)."""
    payload = event.payload
    steps = payload.get("steps")
    data = payload.get("data")
    if (
        event.kind != "metrics"
        or payload.get("source") != SOURCE
        or type(steps) is not list
        or not isinstance(data, dict)
        or not data
        # A script's own metrics event keeps only numbers in its data (even with a "steps"
        # field of its own): a list there is a stored run of printed lines.
        or not all(type(values) is list for values in data.values())
    ):
        return None
    n = len(steps)
    if set(map(type, steps)) - {int, type(None)}:
        steps = [s if type(s) is int else None for s in steps]
    out: dict[str, list[float | None]] = {}
    for key, values in data.items():
        if len(values) != n:
            continue
        if set(map(type, values)) - {float}:
            values = list(map(_number, values))
        out[str(key)] = values
    return steps, out
