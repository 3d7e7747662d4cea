"""Adding runs of metric points to a batch's ``Digest`` (``ingest.digest``): one point at a
time, hot-path metrics lines (``MetricLines``, and runs of metrics events gathered the same
way) and printed lines' points in columns (``MetricColumns`` and the events they are stored
as), each a column at a time where it can.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

from backprop_core.events.sessions import Columns

if TYPE_CHECKING:
    from backprop_core.events.ingest import Digest, MetricLines


def add_point(
    columns: dict[str, Columns], key: str, value: float, t: float, step: int | None
) -> None:
    cols = columns.get(key)
    if cols is None:
        cols = columns[key] = ([], [], [])
    cols[0].append(step)
    cols[1].append(t)
    cols[2].append(value)


def add_lines(out: Digest, lines: MetricLines) -> tuple[int, int] | None:
    """Add the lines' points; the first and last step among them, if any."""
    columns, datas = out.columns, lines.data
    if not datas:
        return None
    keys = list(datas[0])
    values: list[list[Any]] | None = None
    # The usual case, at C speed: every line has the same keys (as many as the first, and
    # each of the first's; a missing one raises KeyError).
    if sum(map(len, datas)) == len(keys) * len(datas):
        try:
            values = [list(map(itemgetter(key), datas)) for key in keys]
        except KeyError:
            values = None
    if values is not None:
        for key, column in zip(keys, values):
            cols = columns.get(key)
            if cols is None:
                cols = columns[key] = ([], [], [])
            cols[0].extend(lines.steps)
            cols[1].extend(lines.times)
            cols[2].extend(column)
        out.last_metrics.update(datas[-1])
    else:  # lines of differing keys (imports: one value each): add_point, inlined
        get = columns.get
        for t, step, data in zip(lines.times, lines.steps, datas):
            for key, value in data.items():
                cols = get(key)
                if cols is None:
                    cols = columns[key] = ([], [], [])
                cols[0].append(step)
                cols[1].append(t)
                cols[2].append(value)
        deque(map(out.last_metrics.update, datas), maxlen=0)
    for step in reversed(lines.steps):
        if step is not None:
            out.last_step = step
            return next(s for s in lines.steps if s is not None), step
    return None


def add_pending(
    out: Digest, pending: MetricLines, first: int | None, last: int | None
) -> tuple[int | None, int | None]:
    """Add the points of consecutive metrics events gathered as ``pending`` lines; the first
    and last step of the current run of points after them, ``first`` and ``last`` before."""
    span = add_lines(out, pending)
    if span is None:
        return first, last
    return (span[0] if first is None else first), span[1]


def add_columns(
    out: Digest, time: float, steps: list[int | None], data: Mapping[str, Sequence[float | None]]
) -> tuple[int, int] | None:
    """Add a run of printed lines' points (a value that is ``None`` is no point); the first
    and last step among them, if any."""
    for key, values in data.items():
        point_steps = steps
        if None in values:
            kept = [i for i, v in enumerate(values) if v is not None]
            point_steps = [steps[i] for i in kept]
            values = [values[i] for i in kept]
        if not values:
            continue
        cols = out.columns.get(key)
        if cols is None:
            cols = out.columns[key] = ([], [], [])
        cols[0].extend(point_steps)
        cols[1].extend([time] * len(values))
        cols[2].extend(cast("Sequence[float]", values))
        out.last_metrics[key] = cast(float, values[-1])
    for step in reversed(steps):
        if step is not None:
            out.last_step = step
            return next(s for s in steps if s is not None), step
    return None
