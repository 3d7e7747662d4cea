"""Metric points in SQLite: packed chunks, per-tile extremes, and downsampled reads.

Each append stores a key's new points as one ``chunks`` row of packed arrays (steps as int64,
times and values as IEEE doubles, so NaN and ±Inf are kept bit for bit) instead of a row per
point. Inserts also keep, per ``TILE`` consecutive points, the finite min and max and where they
are (``tiles``). A long series is downsampled from those (buckets are whole tiles, see
``backprop_core.store.series.plan``) plus the few chunks holding non-finite values; a short one is
read whole and downsampled in Python. Either way ``backprop_core.store.series.pick`` chooses what
each bucket keeps, exactly as the pure-Python path does, so both stores return the same series.
"""

from __future__ import annotations

import math
import sqlite3
from array import array
from typing import cast

from backprop_core import MetricSeries
from backprop_core.plugin_kit import TILE, Columns, Point, pick, plan, series_from_points
from backprop_sqlite.schema import CHUNK_POINTS, NO_STEP

_INF = math.inf
Tile = list["Point | None"]


# --- writing ---------------------------------------------------------------------------------
def insert_columns(conn: sqlite3.Connection, run_id: str, by_key: dict[str, Columns]) -> None:
    """Append each key's points (steps, times, values; in order) to its series."""
    for key, (raw_steps, times, vals) in by_key.items():
        # Stored steps are ints: NO_STEP stands for "no step" (rewritten only when needed).
        steps = cast(
            "list[int]",
            [NO_STEP if s is None else s for s in raw_steps] if None in raw_steps else raw_steps,
        )
        conn.execute("INSERT OR IGNORE INTO series (run_id, key) VALUES (?, ?)", (run_id, key))
        sid, start = conn.execute(
            "SELECT id, count FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        for at in range(0, len(vals), CHUNK_POINTS):
            _insert_chunk(
                conn,
                sid,
                start + at,
                steps[at : at + CHUNK_POINTS],
                times[at : at + CHUNK_POINTS],
                vals[at : at + CHUNK_POINTS],
            )
        update_tiles(conn, sid, start, steps, times, vals)
        conn.execute("UPDATE series SET count = ? WHERE id = ?", (start + len(vals), sid))


def _insert_chunk(
    conn: sqlite3.Connection,
    sid: int,
    start: int,
    steps: list[int],
    times: list[float],
    vals: list[float],
) -> None:
    total = sum(vals)  # finite unless some value is NaN/±Inf (or the sum overflows)
    non_finite = not math.isfinite(total) and any(not math.isfinite(v) for v in vals)
    max_step = max(steps)
    conn.execute(
        "INSERT INTO chunks (series, start, n, max_step, non_finite, steps, times, vals)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (
            sid,
            start,
            len(vals),
            None if max_step == NO_STEP else max_step,
            int(non_finite),
            array("q", steps).tobytes(),
            array("d", times).tobytes(),
            array("d", vals).tobytes(),
        ),
    )


def _extremes_of(
    a: int, steps: list[int], times: list[float], vals: list[float], b: int, base: int
) -> tuple[Point, Point] | None:
    """First finite min and max of ``vals[a:b]`` as points (index ``base + i``)."""
    seg = vals[a:b]
    if math.isfinite(sum(seg)):  # the common case, at C speed
        lo = min(seg)
        hi = max(seg)
        li = a + seg.index(lo)
        hx = a + seg.index(hi)
    else:
        li = hx = -1
        for i in range(a, b):
            v = vals[i]
            if not math.isfinite(v):
                continue
            if li < 0 or v < vals[li]:
                li = i
            if hx < 0 or v > vals[hx]:
                hx = i
        if li < 0:
            return None
    return (
        (base + li, _step(steps[li]), times[li], vals[li]),
        (base + hx, _step(steps[hx]), times[hx], vals[hx]),
    )


def update_tiles(
    conn: sqlite3.Connection,
    sid: int,
    start: int,
    steps: list[int],
    times: list[float],
    vals: list[float],
) -> None:
    """Fold the new points (indexes ``start``…) into their tiles; non-finite ones do not count."""
    end = start + len(vals)
    rows = []
    for tile in range(start // TILE, (end - 1) // TILE + 1):
        a = max(tile * TILE, start) - start
        b = min((tile + 1) * TILE, end) - start
        lo, hi = _extremes_of(a, steps, times, vals, b, start) or (None, None)
        if a == 0 and start % TILE:  # a partly filled tile: earlier points win ties
            row = conn.execute(
                "SELECT lo, lo_idx, lo_step, lo_time, hi, hi_idx, hi_step, hi_time FROM tiles"
                " WHERE series = ? AND tile = ?",
                (sid, tile),
            ).fetchone()
            if row is not None and row[0] is not None:
                old_lo = (row[1], row[2], row[3], row[0])
                old_hi = (row[5], row[6], row[7], row[4])
                lo = old_lo if lo is None or not lo[3] < old_lo[3] else lo
                hi = old_hi if hi is None or not hi[3] > old_hi[3] else hi
        rows.append((sid, tile, *_half(lo), *_half(hi)))
    conn.executemany(
        "INSERT OR REPLACE INTO tiles (series, tile, lo, lo_idx, lo_step, lo_time,"
        " hi, hi_idx, hi_step, hi_time) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def _half(point: Point | None) -> tuple[object, ...]:
    if point is None:
        return (None, None, None, None)
    return (point[3], point[0], point[1], point[2])


def _step(raw: int) -> int | None:
    return None if raw == NO_STEP else raw


# --- reading ---------------------------------------------------------------------------------
def _unpack(
    start: int, n: int, steps_b: bytes, times_b: bytes, vals_b: bytes
) -> tuple[range, list[int | None], list[float], list[float]]:
    steps = array("q")
    steps.frombytes(steps_b)
    times = array("d")
    times.frombytes(times_b)
    vals = array("d")
    vals.frombytes(vals_b)
    step_list: list[int | None] = (
        [None if s == NO_STEP else s for s in steps] if NO_STEP in steps else list(steps)
    )
    return range(start, start + n), step_list, times.tolist(), vals.tolist()


def _points(rows: list[tuple[int, int, bytes, bytes, bytes]]) -> list[Point]:
    out: list[Point] = []
    for row in rows:
        idx, steps, times, vals = _unpack(*row)
        out.extend(zip(idx, steps, times, vals))
    return out


_CHUNK_COLUMNS = "start, n, steps, times, vals"


def read_series(
    conn: sqlite3.Connection,
    run_id: str,
    key: str,
    max_points: int | None,
    after_step: int | None,
) -> MetricSeries:
    row = conn.execute(
        "SELECT id, count FROM series WHERE run_id = ? AND key = ?", (run_id, key)
    ).fetchone()
    if row is None:
        return MetricSeries(key, [], [], [], 0)
    sid, total = row
    if after_step is not None:
        # Chunks whose largest step is not past ``after_step`` hold nothing wanted.
        rows = conn.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ? AND max_step > ? ORDER BY start",
            (sid, after_step),
        ).fetchall()
        return series_from_points(key, _points(rows), max_points, after_step=after_step)
    p = plan(total, max_points or 0)
    if p is None or p.bucket_size % TILE or (max_points or 0) <= 2:
        rows = conn.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ? ORDER BY start", (sid,)
        ).fetchall()
        return series_from_points(key, _points(rows), max_points, total=total)
    return series_from_points(key, _from_tiles(conn, sid, total, p.bucket_size), None, total=total)


def _from_tiles(conn: sqlite3.Connection, sid: int, total: int, size: int) -> list[Point]:
    per = size // TILE
    lows: dict[int, Point] = {}
    highs: dict[int, Point] = {}
    for target, agg, col in ((lows, "min", "lo"), (highs, "max", "hi")):
        for b, i, s, t, v in conn.execute(
            f"SELECT tile / ?, {col}_idx, {col}_step, {col}_time, {agg}({col}) FROM tiles"
            " WHERE series = ? AND lo IS NOT NULL GROUP BY tile / ?",
            (per, sid, per),
        ):
            target[b] = (i, s, t, v)
    nans: dict[int, Point] = {}
    rows = conn.execute(
        f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ? AND non_finite = 1 ORDER BY start",
        (sid,),
    ).fetchall()
    for point in _points(rows):
        v = point[3]
        if math.isfinite(v):
            continue
        b = point[0] // size
        if v != v:
            nans.setdefault(b, point)
            continue
        if v == _INF:
            if b not in highs or highs[b][3] != _INF:
                highs[b] = point
            lows.setdefault(b, point)
        else:
            if b not in lows or lows[b][3] != -_INF:
                lows[b] = point
            highs.setdefault(b, point)
    out: dict[int, Point] = {}
    for order in ("ASC", "DESC"):  # the first and last points are always kept
        edge = conn.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ? ORDER BY start {order} LIMIT 1",
            (sid,),
        ).fetchall()
        chunk = _points(edge)
        if chunk:
            point = chunk[0] if order == "ASC" else chunk[-1]
            out[point[0]] = point
    for b in set(lows) | set(highs) | set(nans):
        for point in pick(lows.get(b), highs.get(b), nans.get(b)):
            out[point[0]] = point
    return [out[i] for i in sorted(out)]
