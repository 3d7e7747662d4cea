"""Rows of the ``events`` table: hot-path ``metrics`` events (``MetricLines``) inserted by
SQLite from one JSON array per run of lines instead of a Python tuple per row, and events read
back (as ``StoredEvent``s, or as rows whose payload stays JSON text).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from backprop_core import StoredEvent
from backprop_core.plugin_kit import EventRow, MetricLines, event_from_dict


def _evenly_spaced(steps: list[int | None]) -> tuple[int, int] | None:
    """(first, stride) when ``steps`` are ``first + stride * i``. Steps are usually so (one
    line per step, or one every k steps): SQLite then computes them instead of reading them
    back out of each line, which would cost it about a third more."""
    first = steps[0]
    if first is None:
        return None
    second = steps[1] if len(steps) > 1 else first
    if second is None:
        return None
    stride = second - first
    if abs(stride) * len(steps) >= 1 << 62:  # keep SQLite's arithmetic in 64-bit integers
        return None
    if stride == 0:
        return (first, 0) if steps.count(first) == len(steps) else None
    expected = range(first, first + stride * len(steps), stride)
    return (first, stride) if steps == list(expected) else None


class Connection(sqlite3.Connection):
    """The store's connections: with the lists ``insert_lines`` fills for SQL to read as
    ``bp_line_time(key)`` and ``bp_line_step(key)``, registered once here, since registering a
    function makes SQLite prepare every cached statement again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line_times: list[float] = []
        self.line_steps: list[int | None] = []
        self.create_function("bp_line_time", 1, self.line_times.__getitem__)
        self.create_function("bp_line_step", 1, self.line_steps.__getitem__)


#: Whitespace that SQLite's JSON reader drops from an object it hands back (``json_each``).
_BLANKS = (" ", "\t", "\n", "\r")


def insert_lines(conn: sqlite3.Connection, run_id: str, seq: int, lines: MetricLines) -> bool:
    """Insert hot-path metrics events as events ``seq + 1``… in one statement: SQLite splits
    the lines (a JSON array) itself, outside the GIL. The line as printed is the payload
    (``event`` is dropped when read back), so nothing is re-encoded. False when SQLite's JSON
    reader refuses them (NaN or Infinity, which Python's accepts): insert them row by row.

    Times and steps that are not one value or evenly spaced (events copied from another
    store, each with its time) are read from their lists by SQL functions, exact to the bit
    where JSON text would round them; their lines must then be compact, since SQLite would
    drop their blanks."""
    n = len(lines)
    if not n:
        return False
    times, steps = lines.times, lines.steps
    text = "[" + ",".join(lines.texts) + "]"
    same_time = times.count(times[0]) == n
    even = _evenly_spaced(steps)
    if even is not None:
        step_sql = "?6 + ?7 * key"
    elif steps.count(None) == n:
        step_sql = "NULL"
    elif same_time:
        step_sql = "json_extract(value, '$.step')"
    else:
        step_sql = "bp_line_step(key)"
    if not same_time and any(blank in text for blank in _BLANKS):
        return False
    time_sql = "?3" if same_time else "bp_line_time(key)"
    if "bp_line" in time_sql + step_sql:
        if not isinstance(conn, Connection):
            return False
        conn.line_times[:] = times
        conn.line_steps[:] = steps
    try:
        cur = conn.execute(
            "INSERT INTO events (run_id, seq, kind, time, step, session, payload)"
            f" SELECT ?1, ?2 + 1 + key, 'metrics', {time_sql}, {step_sql}, ?4, value"
            " FROM json_each(?5)",
            (run_id, seq, times[0], lines.session, text) + (even or ()),
        )
    except sqlite3.OperationalError:
        return False
    finally:
        if isinstance(conn, Connection):
            conn.line_times.clear()
            conn.line_steps.clear()
    if cur.rowcount != n:  # never expected: undo, and insert row by row
        conn.execute("DELETE FROM events WHERE run_id = ? AND seq > ?", (run_id, seq))
        return False
    return True


def select_events(
    run_id: str, kinds: Sequence[str] | None, after_seq: int, limit: int | None
) -> tuple[str, list[Any]]:
    """The query of a run's events after ``after_seq`` (``EventRow`` columns), in order."""
    sql = "SELECT seq, kind, time, step, session, payload FROM events"
    sql += " WHERE run_id = ? AND seq > ?"
    params: list[Any] = [run_id, after_seq]
    if kinds is not None:
        sql += f" AND kind IN ({','.join('?' for _ in kinds)})" if kinds else " AND 0"
        params.extend(kinds)
    sql += " ORDER BY seq LIMIT ?"
    params.append(-1 if limit is None else limit)
    return sql, params


def _payload(text: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(text)
    payload.pop("event", None)  # hot-path metrics keep the line as printed
    return payload


def stored_events(run_id: str, rows: list[EventRow]) -> list[StoredEvent]:
    """``select_events`` rows as ``StoredEvent``s."""
    return [
        StoredEvent(
            run_id,
            seq,
            event_from_dict(
                {
                    "kind": kind,
                    "time": t,
                    "step": step,
                    "session": session,
                    "payload": _payload(payload),
                }
            ),
        )
        for seq, kind, t, step, session, payload in rows
    ]
