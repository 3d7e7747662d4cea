"""Reading metric series from SQLite, downsampled without reading every point.

Inserts keep, per ``TILE`` consecutive points, the finite min and max and where they are
(``tiles``). A long series is downsampled from those (buckets are whole tiles, see
``backprop_core.series.plan``); a short one from two grouped scans using SQLite's bare-column
rule for ``min()``/``max()``. Non-finite points come from a partial index. Either way
``backprop_core.series.pick`` chooses what each bucket keeps, exactly as the pure-Python path
does, so both stores return the same series.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from backprop_core.records import MetricSeries
from backprop_core.series import TILE, Point, downsample, pick, plan

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


def update_tiles(
    conn: sqlite3.Connection, starts: dict[int, int], rows: list[tuple[Any, ...]]
) -> None:
    """Fold new ``points`` rows (series, idx, step, time, value, nf, session) into their tiles.

    ``starts`` maps each series in ``rows`` to its first new index; non-finite rows (value
    NULL) do not count.
    """
    tiles: dict[tuple[int, int], list[Point | None]] = {}
    for sid, start in starts.items():
        if start % TILE:  # the series' last tile is partly filled: start from what it holds
            row = conn.execute(
                "SELECT lo, lo_idx, lo_step, lo_time, hi, hi_idx, hi_step, hi_time FROM tiles"
                " WHERE series = ? AND tile = ?",
                (sid, start // TILE),
            ).fetchone()
            if row is not None and row[0] is not None:
                tiles[(sid, start // TILE)] = [
                    (row[1], row[2], row[3], row[0]),
                    (row[5], row[6], row[7], row[4]),
                ]
    for sid, idx, step, t, value, _, _ in rows:
        slot = tiles.get((sid, idx // TILE))
        if slot is None:
            slot = tiles[(sid, idx // TILE)] = [None, None]
        if value is None:
            continue
        lo, hi = slot
        if lo is None or value < lo[3]:
            slot[0] = (idx, step, t, value)
        if hi is None or value > hi[3]:
            slot[1] = (idx, step, t, value)
    conn.executemany(
        "INSERT OR REPLACE INTO tiles (series, tile, lo, lo_idx, lo_step, lo_time,"
        " hi, hi_idx, hi_step, hi_time) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [(sid, tile, *_tile_half(lo), *_tile_half(hi)) for (sid, tile), (lo, hi) in tiles.items()],
    )


def _tile_half(point: Point | None) -> tuple[object, ...]:
    if point is None:
        return (None, None, None, None)
    return (point[3], point[0], point[1], point[2])


def _extremes(
    conn: sqlite3.Connection, sid: int, size: int
) -> tuple[dict[int, Point], dict[int, Point]]:
    """Each bucket's finite min and max point (first occurrence on ties)."""
    lows: dict[int, Point] = {}
    highs: dict[int, Point] = {}
    if size % TILE == 0:
        per = size // TILE
        for target, agg, col in ((lows, "min", "lo"), (highs, "max", "hi")):
            for b, i, s, t, v in conn.execute(
                f"SELECT tile / ?, {col}_idx, {col}_step, {col}_time, {agg}({col}) FROM tiles"
                " WHERE series = ? AND lo IS NOT NULL GROUP BY tile / ?",
                (per, sid, per),
            ):
                target[b] = (i, s, t, v)
        return lows, highs
    for target, agg in ((lows, "min"), (highs, "max")):
        for b, i, s, t, v in conn.execute(
            f"SELECT idx / ?, idx, step, time, {agg}(value) FROM points"
            " WHERE series = ? AND value IS NOT NULL GROUP BY idx / ?",
            (size, sid, size),
        ):
            target[b] = (i, s, t, v)
    return lows, highs


def _downsampled(conn: sqlite3.Connection, sid: int, total: int, size: int) -> list[Point]:
    lows, highs = _extremes(conn, sid, size)
    nans: dict[int, Point] = {}
    for i, s, t, nf in conn.execute(
        # The planner prefers the primary key, which would visit every point of the series.
        "SELECT idx, step, time, nf FROM points INDEXED BY points_non_finite"
        " WHERE series = ? AND value IS NULL ORDER BY idx",
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
