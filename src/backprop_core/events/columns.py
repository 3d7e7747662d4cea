"""Metric points read from printed lines, kept in columns (``MetricColumns``), and the few
``metrics`` events a run of them is stored as.

A script printing a progress line per step can print a million of them in seconds. An
``Event``, a dict and a stored event row per line would cost the supervisor several times what
the script spends printing them, so the output scalars parser hands over runs of lines that
share their keys as columns: one step per line, one list of values per key, and the time the
chunk was read. A store keeps each run as ``metrics`` events of up to about ``PIECE_BYTES`` of
payload each, every one holding a piece of the columns::

    {"source": "output", "steps": [10, 11, …], "data": {"loss": [2.34, 2.31, …], …}}

(Pieces stay small because SQLite keeps events in a table without rowids, where a row of tens
of kilobytes makes every later insert read it back whenever a search passes it.) ``steps`` may
hold ``null`` (no step known); values are numbers, NaN and ±Infinity written as Python's JSON
writes them. A script cannot send an event of this form: the JSON event parser keeps only
numbers in a ``metrics`` event's ``data``. ``columns_of`` reads the points back from a stored
event (the viewer's live charts and the JSON store do).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from backprop_core.events.event import Event

SOURCE = "output"
PIECE_BYTES = 800
_dumps = json.JSONEncoder(separators=(",", ":")).encode


@dataclass
class MetricColumns:
    """A run of printed lines' metric points in columns.

    ``steps[i]`` is line ``i``'s step; ``data[key][i]`` its value for ``key`` (every line has
    every key). ``step_text`` and ``value_text`` are the same as JSON number text (``null``
    for no step) when the parser has them from the numbers as printed (nothing is written
    twice); ``None`` makes them written from the numbers when needed.
    """

    session: int | None
    time: float
    steps: list[int | None]
    data: dict[str, list[float]]
    step_text: list[str] | None = None
    value_text: dict[str, list[str]] | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def last_step(self) -> int | None:
        return _last_step(self.steps)

    def _texts(self) -> tuple[list[str], dict[str, list[str]]]:
        if self.step_text is None or self.value_text is None:
            self.step_text = ["null" if s is None else str(s) for s in self.steps]
            self.value_text = {k: _dumps(v)[1:-1].split(",") for k, v in self.data.items()}
        return self.step_text, self.value_text

    def _piece_lines(self) -> int:
        """Lines per stored event: as many as fit in ``PIECE_BYTES`` (judged by the widest of
        the first and last lines, since numbers grow or shrink along a run)."""
        steps, values = self._texts()
        if not steps:
            return 1
        widths = [
            len(steps[i]) + sum(len(text[i]) + 1 for text in values.values()) + 1 for i in (0, -1)
        ]
        fixed = 40 + sum(len(key) + 5 for key in values)
        return max(1, (PIECE_BYTES - fixed) // max(widths))

    def payload_texts(self) -> list[tuple[int | None, str]]:
        """Each stored event's step (its last line's) and payload as JSON text, in order."""
        steps, values = self._texts()
        size = self._piece_lines()
        keys = [_dumps(key) for key in values]
        columns = list(values.values())
        out = []
        for a in range(0, len(steps), size):
            b = a + size
            body = ",".join(f"{k}:[{','.join(c[a:b])}]" for k, c in zip(keys, columns))
            text = f'{{"source":"{SOURCE}","steps":[{",".join(steps[a:b])}],"data":{{{body}}}}}'
            out.append((_last_step(self.steps[a:b]), text))
        return out

    def stored(self) -> list[Event]:
        """The ``metrics`` events this run is stored as (each one's step: its last line's)."""
        size = self._piece_lines()
        out = []
        for a in range(0, len(self.steps), size):
            steps = self.steps[a : a + size]
            data = {key: values[a : a + size] for key, values in self.data.items()}
            payload = {"source": SOURCE, "steps": steps, "data": data}
            out.append(Event("metrics", self.time, _last_step(steps), payload, self.session))
        return out

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
        if (
            self.step_text is not None
            and self.value_text is not None
            and other.step_text is not None
            and other.value_text is not None
        ):
            self.step_text.extend(other.step_text)
            for key, texts in self.value_text.items():
                texts.extend(other.value_text[key])
        else:
            self.step_text = self.value_text = None
        self.steps.extend(other.steps)
        for key, values in self.data.items():
            values.extend(other.data[key])
        return True


def _last_step(steps: list[int | None]) -> int | None:
    for step in reversed(steps):
        if step is not None:
            return step
    return None


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
