"""Reading metric series from SQLite, downsampled in SQL.

Each bucket's finite min and max (with the step and time of the row holding them, through
SQLite's bare-column rule for ``min()``/``max()``) come from two grouped scans of the series'
primary-key range; the non-finite points come from a partial index. ``backprop_core.series.pick``
then chooses what each bucket keeps, exactly as the pure-Python path does.
"""

from __future__ import annotations

import math
import sqlite3

from backprop_core.records import MetricSeries
from backprop_core.series import Point, downsample, pick, plan

_NF = {1: math.nan, 2: math.inf, 3: -math.inf}


def _value(value: float | None, nf: int | None) -> float:
    return _NF[nf or 1] if value is None else value


def _series_id(conn: sqlite3.Connection, run_id: str, key: str) -> tuple[int, int] | None:
    row = conn.execute(
        "SELECT id, count FROM series WHERE run_id = ? AND key = ?", (run_id, key)
    ).fetchone()
    return None if row is None else (row[0], row[1])


def _to_series(key: str, points: list[Point], total: int) -> MetricSeries:
    return MetricSeries(
        key=key,
        steps=[p[1] for p in points],
        times=[p[2] for p in points],
        values=[p[3] for p in points],
        total=total,
    )


def read_series(
    conn: sqlite3.Connection,
    run_id: str,
    key: str,
    max_points: int | None,
    after_step: int | None,
) -> MetricSeries:
    found = _series_id(conn, run_id, key)
    if found is None:
        return MetricSeries(key, [], [], [], 0)
    sid, total = found
    if after_step is not None:
        rows = conn.execute(
            "SELECT idx, step, time, value, nf FROM points WHERE series = ? AND step > ?"
            " ORDER BY idx",
            (sid, after_step),
        ).fetchall()
        points: list[Point] = [(i, s, t, _value(v, nf)) for i, s, t, v, nf in rows]
        renumbered = [(n, p[1], p[2], p[3]) for n, p in enumerate(points)]
        kept = downsample(renumbered, max_points) if max_points else renumbered
        return _to_series(key, kept, len(points))
    p = plan(total, max_points or 0)
    if p is None or (max_points or 0) <= 2:
        rows = conn.execute(
            "SELECT idx, step, time, value, nf FROM points WHERE series = ? ORDER BY idx", (sid,)
        ).fetchall()
        points = [(i, s, t, _value(v, nf)) for i, s, t, v, nf in rows]
        return _to_series(key, downsample(points, max_points) if max_points else points, total)
    return _to_series(key, _downsampled(conn, sid, total, p.bucket_size), total)


def _downsampled(conn: sqlite3.Connection, sid: int, total: int, size: int) -> list[Point]:
    lows: dict[int, Point] = {}
    highs: dict[int, Point] = {}
    for target, agg in ((lows, "min"), (highs, "max")):
        for b, i, s, t, v in conn.execute(
            f"SELECT idx / ?, idx, step, time, {agg}(value) FROM points"
            " WHERE series = ? AND value IS NOT NULL GROUP BY idx / ?",
            (size, sid, size),
        ):
            target[b] = (i, s, t, v)
    nans: dict[int, Point] = {}
    for i, s, t, nf in conn.execute(
        "SELECT idx, step, time, nf FROM points WHERE series = ? AND value IS NULL ORDER BY idx",
        (sid,),
    ):
        b = i // size
        point = (i, s, t, _NF[nf or 1])
        if nf == 1 or nf is None:
            nans.setdefault(b, point)
        elif nf == 2:
            if b not in highs or highs[b][3] != math.inf:
                highs[b] = point
        elif b not in lows or lows[b][3] != -math.inf:
            lows[b] = point
        if nf == 2:
            lows.setdefault(b, point)
        elif nf == 3:
            highs.setdefault(b, point)
    out: dict[int, Point] = {}
    for edge in conn.execute(
        "SELECT idx, step, time, value, nf FROM points WHERE series = ? AND idx IN (?, ?)",
        (sid, 0, total - 1),
    ):
        out[edge[0]] = (edge[0], edge[1], edge[2], _value(edge[3], edge[4]))
    for b in set(lows) | set(highs) | set(nans):
        for point in pick(lows.get(b), highs.get(b), nans.get(b)):
            out[point[0]] = point
    return [out[i] for i in sorted(out)]
