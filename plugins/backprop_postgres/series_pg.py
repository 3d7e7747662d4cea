"""Metric points in PostgreSQL: packed chunks and 64-point tiles written with binary ``COPY``,
and downsampled reads, as the SQLite store keeps them (``backprop_core.store.chunks``).

A long series is downsampled from its tiles (each bucket's first finite min and max, chosen by
``DISTINCT ON``) plus the few chunks holding NaN or ±Inf; ``combine_tiles`` finishes the rule
in Python, since PostgreSQL orders NaN above +Inf where the rule wants NaN kept apart.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast, overload

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

if TYPE_CHECKING:
    import psycopg

_CHUNK_TYPES = ["int8", "int8", "int4", "int8", "int8", "int4", "bool", "bytea", "bytea", "bytea"]
_TILE_TYPES = ["int8", "int8"] + ["float8", "int8", "int8", "float8"] * 2


def clean_text(text: str) -> str:
    """``text`` as PostgreSQL can store it: it refuses NUL characters and lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


# --- writing ---------------------------------------------------------------------------------
def insert_columns(
    conn: psycopg.Connection,
    run_id: str,
    by_key: dict[str, Columns],
    segments: Mapping[str, Segments],
) -> None:
    """Append each key's points to its series: one chunk per run of points of one session (at
    most ``CHUNK_POINTS`` long), and the tiles they fill, each table in one ``COPY``."""
    cleaned: dict[str, str] = {}
    for key in by_key:
        name = clean_text(key)
        if name not in cleaned.values():  # two keys that differ only in what PG refuses: one
            cleaned[key] = name
    names = list(cleaned.values())
    # One round trip: the series created now (RETURNING) and those that were there already
    # (the SELECT's snapshot does not see the new rows, so none is listed twice).
    found = {
        key: (sid, count)
        for key, sid, count in conn.execute(
            "WITH new AS (INSERT INTO series (run_id, key) SELECT %s, unnest(%s::text[])"
            " ON CONFLICT DO NOTHING RETURNING key, id, count)"
            " SELECT key, id, count FROM new UNION ALL"
            " SELECT key, id, count FROM series WHERE run_id = %s AND key = ANY(%s)",
            (run_id, names, run_id, names),
        )
    }
    partial = [(sid, count // TILE) for sid, count in found.values() if count % TILE]
    first_tiles: dict[int, TileRow] = {}
    if partial:
        for sid, *row in conn.execute(
            "DELETE FROM tiles t USING unnest(%s::bigint[], %s::bigint[]) AS p(series, tile)"
            " WHERE t.series = p.series AND t.tile = p.tile RETURNING t.series, t.lo,"
            " t.lo_idx, t.lo_step, t.lo_time, t.hi, t.hi_idx, t.hi_step, t.hi_time",
            ([p[0] for p in partial], [p[1] for p in partial]),
        ):
            first_tiles[sid] = cast("TileRow", tuple(row))
    chunks: list[tuple[Any, ...]] = []
    tiles: list[tuple[Any, ...]] = []
    counts: list[tuple[int, int]] = []
    for key, (raw_steps, times, vals) in by_key.items():
        if key not in cleaned:
            continue
        sid, start = found[cleaned[key]]
        steps = cast(
            "list[int]",
            [NO_STEP if s is None else s for s in raw_steps] if None in raw_steps else raw_steps,
        )
        at = 0
        for n, session in segments.get(key) or [(len(vals), None)]:
            end = at + n
            for a in range(at, end, CHUNK_POINTS):
                b = min(a + CHUNK_POINTS, end)
                part_steps, part_vals = steps[a:b], vals[a:b]
                max_step, min_step, non_finite = chunk_facts(part_steps, part_vals)
                packed = pack(part_steps, times[a:b], part_vals)
                chunks.append(
                    (sid, start + a, b - a, max_step, min_step, session, non_finite, *packed)
                )
            at = end
        for tile, extremes in tile_rows(start, steps, times, vals, first_tiles.get(sid)):
            tiles.append((sid, tile, *extremes))
        counts.append((sid, start + len(vals)))
    _copy(conn, "chunks", _CHUNK_TYPES, chunks)
    _copy(conn, "tiles", _TILE_TYPES, tiles)
    conn.execute(
        "UPDATE series s SET count = u.count FROM unnest(%s::bigint[], %s::bigint[])"
        " AS u(id, count) WHERE s.id = u.id",
        ([c[0] for c in counts], [c[1] for c in counts]),
    )


_COLUMNS = {
    "chunks": "series, start, n, max_step, min_step, session, non_finite, steps, times, vals",
    "tiles": "series, tile, lo, lo_idx, lo_step, lo_time, hi, hi_idx, hi_step, hi_time",
    "events": "run_id, seq, kind, time, step, session, payload",
}


def _copy(
    conn: psycopg.Connection, table: str, types: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """``rows`` into ``table`` with one binary ``COPY``."""
    if not rows:
        return
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {table} ({_COLUMNS[table]}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def copy_events(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> None:
    _copy(conn, "events", ["text", "int8", "text", "float8", "int8", "int4", "text"], rows)


# --- reading ---------------------------------------------------------------------------------
_CHUNK_COLUMNS = "start, n, steps, times, vals, session"


class _ChunkSessions(Sequence["int | None"]):
    """The session of the point at any index of a series, from its chunks' ranges."""

    def __init__(self, rows: list[tuple[int, int | None]], total: int) -> None:
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


def run_cutoffs(conn: psycopg.Connection, run_id: str) -> dict[int, int]:
    """The run's sessions' cut-offs (``supersede_cutoffs``)."""
    rows = conn.execute("SELECT record FROM sessions WHERE run_id = %s", (run_id,)).fetchall()
    return supersede_cutoffs(session_from_dict(json.loads(r[0])) for r in rows)


def _hidden_sql(cutoffs: Mapping[int, int], column: str) -> tuple[str, list[int]]:
    """A condition on chunks: some point (``max_step``) or every point (``min_step``) is at
    or past its session's cut-off."""
    parts = []
    params: list[int] = []
    for session, cut in cutoffs.items():
        parts.append(f"(session = %s AND {column} >= %s)")
        params += [session, cut]
    return "(" + " OR ".join(parts) + ")", params


def _chunks(conn: psycopg.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    with conn.cursor(binary=True) as cur:
        return cur.execute(sql, params).fetchall()


def read_series(
    conn: psycopg.Connection,
    run_id: str,
    key: str,
    max_points: int | None,
    after_step: int | None,
    all_sessions: bool = False,
) -> MetricSeries:
    row = conn.execute(
        "SELECT id, count FROM series WHERE run_id = %s AND key = %s", (run_id, clean_text(key))
    ).fetchone()
    if row is None:
        return MetricSeries(key, [], [], [], 0, [])
    sid, total = row
    cutoffs = {} if all_sessions else run_cutoffs(conn, run_id)
    if cutoffs:
        some, some_params = _hidden_sql(cutoffs, "max_step")
        hidden = conn.execute(
            f"SELECT 1 FROM chunks WHERE series = %s AND {some} LIMIT 1", (sid, *some_params)
        ).fetchone()
        if hidden is None:
            cutoffs = {}
    if after_step is not None or cutoffs:
        # Read only chunks that can hold a wanted point: past ``after_step`` (the largest
        # step tells), and not wholly superseded (the smallest step tells).
        sql = f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = %s"
        params: list[int] = [sid]
        if after_step is not None:
            sql += " AND max_step > %s"
            params.append(after_step)
        if cutoffs:
            every, every_params = _hidden_sql(cutoffs, "min_step")
            sql += f" AND NOT coalesce({every}, false)"
            params += every_params
        points, owners = chunk_points(_chunks(conn, sql + " ORDER BY start", params))
        return series_from_points(
            key, points, max_points, after_step=after_step, sessions=owners, cutoffs=cutoffs
        )
    p = plan(total, max_points or 0)
    if p is None or p.bucket_size % TILE or (max_points or 0) <= 2:
        rows = _chunks(
            conn, f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = %s ORDER BY start", (sid,)
        )
        points, owners = chunk_points(rows)
        return series_from_points(key, points, max_points, total=total, sessions=owners)
    sessions = conn.execute(
        "SELECT start, session FROM chunks WHERE series = %s ORDER BY start", (sid,)
    ).fetchall()
    return series_from_points(
        key,
        _from_tiles(conn, sid, p.bucket_size),
        None,
        total=total,
        sessions=_ChunkSessions(sessions, total),
    )


def last_visible_value(
    conn: psycopg.Connection, run_id: str, key: str, cutoffs: Mapping[int, int]
) -> float | None:
    """The value of the key's newest point not superseded, reading chunks from the newest."""
    row = conn.execute(
        "SELECT id FROM series WHERE run_id = %s AND key = %s", (run_id, clean_text(key))
    ).fetchone()
    if row is None:
        return None
    before = 2**63 - 1
    while True:
        chunk = _chunks(
            conn,
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = %s AND start < %s"
            " ORDER BY start DESC LIMIT 1",
            (row[0], before),
        )
        if not chunk:
            return None
        points, owners = chunk_points(chunk)
        value = last_visible(
            ((p[1], p[3], o) for p, o in zip(reversed(points), reversed(owners))), cutoffs
        )
        if value is not None:
            return value
        before = chunk[0][0]


def _from_tiles(conn: psycopg.Connection, sid: int, size: int) -> list[Point]:
    per = size // TILE
    extremes: list[dict[int, Point]] = []
    for col, order in (("lo", "ASC"), ("hi", "DESC")):
        # Ties go to the earliest tile, and each tile keeps its earliest extreme: the first
        # min and max of the bucket, as the rule wants.
        # ``per`` is an int of ours, written out: DISTINCT ON must see the same expression.
        rows = conn.execute(
            f"SELECT DISTINCT ON (tile / {per:d}) tile / {per:d}, {col}_idx, {col}_step,"
            f" {col}_time, {col} FROM tiles WHERE series = %s AND lo IS NOT NULL"
            f" ORDER BY tile / {per:d}, {col} {order}, tile",
            (sid,),
        ).fetchall()
        extremes.append({b: (i, s, t, v) for b, i, s, t, v in rows})
    non_finite, _ = chunk_points(
        _chunks(
            conn,
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = %s AND non_finite ORDER BY start",
            (sid,),
        )
    )
    edges: list[Point] = []
    for order in ("ASC", "DESC"):  # the first and last points are always kept
        points, _ = chunk_points(
            _chunks(
                conn,
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE series = %s"
                f" ORDER BY start {order} LIMIT 1",
                (sid,),
            )
        )
        if points:
            edges.append(points[0] if order == "ASC" else points[-1])
    return combine_tiles(extremes[0], extremes[1], non_finite, edges, size)
