"""Events as rows of the ``events`` table, and what a batch changes in the run's sessions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backprop_core import Event, RunRecord, StoredEvent
from backprop_core.plugin_kit import (
    Digest,
    MetricLines,
    event_from_dict,
    session_to_dict,
    supersede_cutoffs,
)
from backprop_postgres.rows import dumps, session_of
from backprop_postgres.series_pg import clean_text, last_visible_value

if TYPE_CHECKING:
    import psycopg


def event_rows(
    run_id: str, base: int, items: Sequence[Event | MetricLines]
) -> tuple[list[tuple[Any, ...]], int]:
    """The rows of ``items``, numbered from ``base + 1``, and the last number. Hot-path
    metrics lines keep the line as printed as their payload, never re-encoded."""
    rows: list[tuple[Any, ...]] = []
    seq = base
    for item in items:
        if isinstance(item, MetricLines):
            session = item.session
            numbers = range(seq + 1, seq + 1 + len(item))
            rows.extend(
                (run_id, i, "metrics", t, step, session, text)
                for i, t, step, text in zip(numbers, item.times, item.steps, item.texts)
            )
            seq += len(item)
        else:
            seq += 1
            payload = dumps(dict(item.payload))
            kind = clean_text(item.kind)
            rows.append((run_id, seq, kind, item.time, item.step, item.session, payload))
    return rows, seq


def _payload(text: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(text)
    payload.pop("event", None)  # hot-path metrics keep the line as printed
    return payload


def stored_events(run_id: str, rows: Sequence[Sequence[Any]]) -> list[StoredEvent]:
    """Rows (seq, kind, time, step, session, payload) as stored events."""
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


def fold_sessions(conn: psycopg.Connection, run: RunRecord, found: Digest) -> None:
    """The sessions' steps; after a session's first step, the run's last values anew."""
    rows = conn.execute(
        "SELECT record, heartbeat_at FROM sessions WHERE run_id = %s", (run.id,)
    ).fetchall()
    sessions = {s.number: s for s in (session_of(*r) for r in rows)}
    changed, started = found.apply_sessions(sessions)
    for s in changed:
        conn.execute(
            "UPDATE sessions SET record = %s WHERE run_id = %s AND number = %s",
            (dumps(session_to_dict(s)), run.id, s.number),
        )
    if started:
        cutoffs = supersede_cutoffs(sessions.values())
        found.refresh_last(run, lambda key: last_visible_value(conn, run.id, key, cutoffs))
