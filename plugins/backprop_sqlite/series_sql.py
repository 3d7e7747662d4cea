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

import bisect
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import cast, overload

from backprop_core import MetricSeries
from backprop_core.plugin_kit import (
    CHUNK_POINTS,
    NO_STEP,
    TILE,
    Columns,
    Point,
    Segments,
    TileRow,
    chunk_facts,
    chunk_points,
    combine_tiles,
    last_visible,
    pack,
    plan,
    series_from_points,
    session_from_dict,
    supersede_cutoffs,
    tile_rows,
)

# --- writing ---------------------------------------------------------------------------------
#: Creates the series or adds ``count`` to it, in one statement: its id and new count.
_SERIES_GROWN = (
    "INSERT INTO series (run_id, key, count) VALUES (?, ?, ?) ON CONFLICT (run_id, key)"
    " DO UPDATE SET count = count + excluded.count RETURNING id, count"
)
_PARTIAL_TILE = (
    "SELECT lo, lo_idx, lo_step, lo_time, hi, hi_idx, hi_step, hi_time FROM tiles"
    " WHERE series = ? AND tile = ?"
)


def insert_columns(
    conn: sqlite3.Connection,
    run_id: str,
    by_key: dict[str, Columns],
    segments: Mapping[str, Segments],
) -> None:
    """Append each key's points (steps, times, values; in order) to its series, one chunk per
    run of points of one session (``segments``) at most ``CHUNK_POINTS`` long, and fold them
    into their tiles. One statement per key, then every key's chunks and tiles in one each:
    a batch usually holds few points of many runs, so statements, not points, cost most."""
    chunks: list[tuple[object, ...]] = []
    tiles: list[tuple[object, ...]] = []
    for key, (raw_steps, times, vals) in by_key.items():
        # Stored steps are ints: NO_STEP stands for "no step" (rewritten only when needed).
        steps = cast(
            "list[int]",
            [NO_STEP if s is None else s for s in raw_steps] if None in raw_steps else raw_steps,
        )
        ((sid, count),) = conn.execute(_SERIES_GROWN, (run_id, key, len(vals))).fetchall()
        start = count - len(vals)
        at = 0
        for n, session in segments.get(key) or [(len(vals), None)]:
            end = at + n
            for a in range(at, end, CHUNK_POINTS):
                b = min(a + CHUNK_POINTS, end)
                chunks.append(_chunk(sid, start + a, session, steps[a:b], times[a:b], vals[a:b]))
            at = end
        first: TileRow | None = None
        if start % TILE:  # a partly filled tile: its earlier points win ties
            first = conn.execute(_PARTIAL_TILE, (sid, start // TILE)).fetchone()
        tiles += [(sid, tile, *row) for tile, row in tile_rows(start, steps, times, vals, first)]
    conn.executemany(
        "INSERT INTO chunks (series, start, n, max_step, min_step, session, non_finite,"
        " steps, times, vals) VALUES (?,?,?,?,?,?,?,?,?,?)",
        chunks,
    )
    conn.executemany(
        "INSERT OR REPLACE INTO tiles (series, tile, lo, lo_idx, lo_step, lo_time,"
        " hi, hi_idx, hi_step, hi_time) VALUES (?,?,?,?,?,?,?,?,?,?)",
        tiles,
    )


def _chunk(
    sid: int,
    start: int,
    session: int | None,
    steps: list[int],
    times: list[float],
    vals: list[float],
) -> tuple[object, ...]:
    """A ``chunks`` row."""
    max_step, min_step, non_finite = chunk_facts(steps, vals)
    packed = pack(steps, times, vals)
    return (sid, start, len(vals), max_step, min_step, session, int(non_finite), *packed)


# --- reading ---------------------------------------------------------------------------------
Row = tuple[int, int, bytes, bytes, bytes, "int | None"]


_CHUNK_COLUMNS = "start, n, steps, times, vals, session"


class _ChunkSessions(Sequence["int | None"]):
    """The session of the point at any index of a series, from its chunks' ranges."""

    def __init__(self, conn: sqlite3.Connection, sid: int, total: int) -> None:
        rows = conn.execute(
            "SELECT start, session FROM chunks WHERE series = ? ORDER BY start", (sid,)
        ).fetchall()
        self.starts = [r[0] for r in rows]
        self.sessions = [r[1] for r in rows]
        self.total = total

    def __len__(self) -> int:
        return self.total

    @overload
    def __getitem__(self, index: int) -> int | None: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int | None]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int | None] | None:
        if isinstance(index, slice):
            return [self[i] for i in range(self.total)[index]]
        return self.sessions[bisect.bisect_right(self.starts, index) - 1]


def run_cutoffs(conn: sqlite3.Connection, run_id: str) -> dict[int, int]:
    """The run's sessions' cut-offs (``supersede_cutoffs``)."""
    rows = conn.execute("SELECT record FROM sessions WHERE run_id = ?", (run_id,)).fetchall()
    return supersede_cutoffs(session_from_dict(json.loads(r[0])) for r in rows)


def _hidden_sql(cutoffs: Mapping[int, int], column: str) -> tuple[str, list[int]]:
    """A condition on chunks: some point (``max_step``) or every point (``min_step``) is at
    or past its session's cut-off."""
    parts = []
    params: list[int] = []
    for session, cut in cutoffs.items():
        parts.append(f"(session = ? AND {column} >= ?)")
        params += [session, cut]
    return "(" + " OR ".join(parts) + ")", params


def read_series(
    conn: sqlite3.Connection,
    run_id: str,
    key: str,
    max_points: int | None,
    after_step: int | None,
    all_sessions: bool = False,
) -> MetricSeries:
    row = conn.execute(
        "SELECT id, count FROM series WHERE run_id = ? AND key = ?", (run_id, key)
    ).fetchone()
    if row is None:
        return MetricSeries(key, [], [], [], 0, [])
    sid, total = row
    cutoffs = {} if all_sessions else run_cutoffs(conn, run_id)
    if cutoffs:
        some, some_params = _hidden_sql(cutoffs, "max_step")
        hidden = conn.execute(
            f"SELECT 1 FROM chunks WHERE series = ? AND {some} LIMIT 1", (sid, *some_params)
        ).fetchone()
        if hidden is None:
            cutoffs = {}
    if after_step is not None or cutoffs:
        # Read only chunks that can hold a wanted point: past ``after_step`` (the largest
        # step tells), and not wholly superseded (the smallest step tells).
        sql = f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ?"
        params: list[int] = [sid]
        if after_step is not None:
            sql += " AND max_step > ?"
            params.append(after_step)
        if cutoffs:
            every, every_params = _hidden_sql(cutoffs, "min_step")
            sql += f" AND NOT coalesce({every}, 0)"
            params += every_params
        rows = conn.execute(sql + " ORDER BY start", params).fetchall()
        points, owners = chunk_points(rows)
        return series_from_points(
            key,
            points,
            max_points,
            after_step=after_step,
            sessions=owners,
            cutoffs=cutoffs,
        )
    p = plan(total, max_points or 0)
    if p is None or p.bucket_size % TILE or (max_points or 0) <= 2:
        rows = conn.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ? ORDER BY start", (sid,)
        ).fetchall()
        points, owners = chunk_points(rows)
        return series_from_points(key, points, max_points, total=total, sessions=owners)
    return series_from_points(
        key,
        _from_tiles(conn, sid, total, p.bucket_size),
        None,
        total=total,
        sessions=_ChunkSessions(conn, sid, total),
    )


def last_visible_value(
    conn: sqlite3.Connection, run_id: str, key: str, cutoffs: Mapping[int, int]
) -> float | None:
    """The value of the key's newest point not superseded, reading chunks from the newest."""
    row = conn.execute(
        "SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)
    ).fetchone()
    if row is None:
        return None
    chunks: Iterator[Row] = conn.execute(
        f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ? ORDER BY start DESC", (row[0],)
    )
    for chunk in chunks:
        points, owners = chunk_points([chunk])
        value = last_visible(
            ((p[1], p[3], o) for p, o in zip(reversed(points), reversed(owners))), cutoffs
        )
        if value is not None:
            return value
    return None


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
    rows = conn.execute(
        f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ? AND non_finite = 1 ORDER BY start",
        (sid,),
    ).fetchall()
    edges: list[Point] = []
    for order in ("ASC", "DESC"):  # the first and last points are always kept
        edge = conn.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = ? ORDER BY start {order} LIMIT 1",
            (sid,),
        ).fetchall()
        chunk = chunk_points(edge)[0]
        if chunk:
            edges.append(chunk[0] if order == "ASC" else chunk[-1])
    return combine_tiles(lows, highs, chunk_points(rows)[0], edges, size)
