"""Events as rows of the ``events`` table, what a batch changes in the run's sessions, and
batches whose COMMIT lost its connection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backprop_core import Event, RunRecord, StoredEvent
from backprop_core.plugin_kit import (
    Digest,
    MetricColumns,
    MetricLines,
    event_from_dict,
    session_to_dict,
    supersede_cutoffs,
)
from backprop_postgres.rows import dumps, payload_text, session_of
from backprop_postgres.series_pg import clean_text, last_visible_value

if TYPE_CHECKING:
    import psycopg


def event_rows(
    run_id: str, base: int, items: Sequence[Event | MetricLines | MetricColumns]
) -> tuple[list[tuple[Any, ...]], int]:
    """The rows of ``items``, numbered from ``base + 1``, and the last number. Hot-path
    metrics lines keep the line as printed as their payload, never re-encoded."""
    rows: list[tuple[Any, ...]] = []
    seq = base
    kinds: dict[str, str] = {}  # a batch has few kinds: each cleaned once
    for item in items:
        if isinstance(item, MetricLines):
            session = item.session
            numbers = range(seq + 1, seq + 1 + len(item))
            rows.extend(
                (run_id, i, "metrics", t, step, session, text)
                for i, t, step, text in zip(numbers, item.times, item.steps, item.texts)
            )
            seq += len(item)
        elif isinstance(item, MetricColumns):  # a run of printed lines: a few events
            for step, text in item.payload_texts():
                seq += 1
                rows.append((run_id, seq, "metrics", item.time, step, item.session, text))
        else:
            seq += 1
            payload = payload_text(item.payload)
            kind = kinds.get(item.kind)
            if kind is None:
                kind = kinds[item.kind] = clean_text(item.kind)
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


class InDoubt:
    """The last batch whose COMMIT lost its connection (the reply never came, so the server
    may have committed it). The event writer retries such a batch in front of its next one;
    that batch is skipped if the run's row says it was committed (its ``last_batch`` token).
    The row is locked by then, so the doubtful transaction has ended either way."""

    def __init__(self) -> None:
        self._batch: tuple[str, str, list[Event | MetricLines | MetricColumns]] | None = None

    def remember(
        self, run_id: str, token: str, items: list[Event | MetricLines | MetricColumns]
    ) -> None:
        self._batch = (run_id, token, items)

    def committed(
        self, run_id: str, items: list[Event | MetricLines | MetricColumns], last_batch: str | None
    ) -> int:
        """How many of ``items``, the next batch for ``run_id``, are already committed."""
        batch, self._batch = self._batch, None
        if batch is None or batch[0] != run_id or last_batch != batch[1]:
            return 0
        earlier = batch[2]
        if len(items) < len(earlier) or any(a is not b for a, b in zip(items, earlier)):
            return 0
        return len(earlier)
