"""Live updates by server-sent events: the server polls the store and the log file cheaply and
pushes only what changed, so an open page never re-downloads a run.

``GET /api/runs/{id}/stream`` sends ``points`` (new metric points), ``run`` (status, sessions or
checkpoints changed), ``log`` (new log text) and finally ``end`` once the run is no longer active.
``GET /api/runs/stream`` sends ``run`` for new runs and for changes to active ones. A run whose
supervisor dies or freezes becomes ``lost`` through the store gateway's liveness check, so both
streams see that change like any other and a run's stream ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from backprop_core.errors import BackpropError
from backprop_core.events.ingest import event_step, metric_values
from backprop_core.store.contract import Store
from backprop_core.store.records import RunFilter, RunRecord
from backprop_core.viewer.logtail import read_log, session_number
from backprop_core.viewer.params import int_param
from backprop_core.viewer.responses import dumps
from backprop_core.viewer.serialize import load_run_detail, run_summary
from backprop_core.viewer.state import ViewerState, viewer_state

EVENT_BATCH = 5000
LOG_BATCH = 256 * 1024
HEARTBEAT_SECONDS = 15.0


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {dumps(data)}\n\n"


def _fingerprint(run: RunRecord) -> tuple[Any, ...]:
    return (run.status, run.session_count, run.checkpoint_count, run.ended_at, run.done, run.reason)


@dataclass
class RunCursor:
    """Where one run stream stands."""

    run_id: str
    seq: int
    log_session: int
    log_offset: int | None
    fingerprint: tuple[Any, ...] = ()
    messages: list[str] = field(default_factory=list)


def _poll_run(store: Store, state: ViewerState, cur: RunCursor) -> bool:
    """One poll: queue messages for what changed; return whether the run is still active."""
    # The run first: when it is seen ended, every event it recorded before ending is read
    # below, so the stream never ends without the last points.
    run = store.get_run(cur.run_id)
    points: dict[str, list[list[Any]]] = {}
    alerted = False
    while True:
        batch = store.events(cur.run_id, None, after_seq=cur.seq, limit=EVENT_BATCH)
        for stored in batch:
            event = stored.event
            alerted = alerted or event.kind == "alert"
            if event.kind == "metrics":
                step = event_step(event)
                for key, value in metric_values(event).items():
                    points.setdefault(key, []).append([step, event.time, value, event.session])
        if batch:
            cur.seq = batch[-1].seq
        if len(batch) < EVENT_BATCH:
            break
    if points:
        cur.messages.append(sse("points", {"seq": cur.seq, "points": points}))
    changed = bool(cur.fingerprint) and _fingerprint(run) != cur.fingerprint
    if changed or alerted:  # an alert the page has not shown yet comes with the run's detail
        cur.messages.append(sse("run", load_run_detail(store, run)))
    cur.fingerprint = _fingerprint(run)
    _poll_log(state, cur, run)
    return run.status.active


def _poll_log(state: ViewerState, cur: RunCursor, run: RunRecord) -> None:
    while True:
        chunk = read_log(state.home, cur.run_id, cur.log_session, cur.log_offset or 0, LOG_BATCH)
        if cur.log_offset is None:  # the page had nothing yet: start at the end
            cur.log_offset = chunk.size if chunk.exists else 0
        elif chunk.text:
            cur.log_offset = chunk.next_offset
            cur.messages.append(
                sse(
                    "log",
                    {
                        "session": cur.log_session,
                        "offset": chunk.offset,
                        "next_offset": chunk.next_offset,
                        "text": chunk.text,
                    },
                )
            )
            if chunk.next_offset < chunk.size:
                continue
        if run.session_count > cur.log_session:
            cur.log_session += 1
            cur.log_offset = 0
            cur.messages.append(
                sse(
                    "log",
                    {
                        "session": cur.log_session,
                        "offset": 0,
                        "next_offset": 0,
                        "text": "",
                        "new_session": True,
                    },
                )
            )
            continue
        return


async def run_stream(request: Request) -> Response:
    """Server-sent events for one run. Query: ``after_seq`` (last event seq the page has, as
    returned by ``/metrics``), ``log_session`` and ``log_offset`` (where the page's log ends)."""
    state = viewer_state(request)
    ref = request.path_params["run_id"]
    after = int_param(request.query_params, "after_seq", None, low=0)
    log_session = int_param(request.query_params, "log_session", None, low=1)
    log_offset = int_param(request.query_params, "log_offset", None, low=0)

    def start(store: Store) -> RunCursor:
        run = store.resolve(ref)
        seq = after if after is not None else store.last_event_seq(run.id)
        cur = RunCursor(run.id, seq, session_number(run, log_session), log_offset)
        cur.fingerprint = _fingerprint(run)
        return cur

    cur = await state.gateway.call(start)

    async def body() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        last_sent = time.monotonic()
        while True:
            active = await state.gateway.call(lambda s: _poll_run(s, state, cur))
            if cur.messages:
                out, cur.messages = "".join(cur.messages), []
                last_sent = time.monotonic()
                yield out
            if not active:
                yield sse("end", {"run_id": cur.run_id})
                return
            if time.monotonic() - last_sent > HEARTBEAT_SECONDS:
                last_sent = time.monotonic()
                yield ": heartbeat\n\n"
            await asyncio.sleep(state.poll_seconds)

    return _event_stream(body())


def _event_stream(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@dataclass
class TableCursor:
    """Where one runs-table stream stands."""

    since: float
    known: set[str]
    watched: dict[str, tuple[Any, ...]]
    messages: list[str] = field(default_factory=list)


def _table_fingerprint(run: RunRecord) -> tuple[Any, ...]:
    return (*_fingerprint(run), run.last_step, tuple(sorted(run.last_metrics.items())))


def _poll_table(store: Store, cur: TableCursor) -> None:
    # Active runs are read before the newest ones: a run created between the two reads is then
    # announced as new, never first as a change to a run the page has not been told about.
    active = {r.id: r for r in store.active_runs()}
    for run in reversed(store.list_runs(RunFilter(limit=50))):
        if run.created_at >= cur.since and run.id not in cur.known:
            cur.known.add(run.id)
            cur.since = max(cur.since, run.created_at)
            cur.messages.append(sse("run", {"new": True, "run": run_summary(run)}))
            if run.status.active:
                cur.watched[run.id] = _table_fingerprint(run)
    for run_id in set(cur.watched) | set(active):
        current = active.get(run_id)
        if current is None:
            try:
                current = store.get_run(run_id)
            except BackpropError:  # deleted meanwhile
                cur.watched.pop(run_id, None)
                continue
        fp = _table_fingerprint(current)
        if cur.watched.get(run_id) != fp:
            cur.messages.append(sse("run", {"new": False, "run": run_summary(current)}))
        if current.status.active:
            cur.watched[run_id] = fp
        else:
            cur.watched.pop(run_id, None)


async def runs_stream(request: Request) -> Response:
    """Server-sent events for the runs table: ``run`` messages for runs created after ``since``
    (unix time; default now) and for every change of an active run's status or last metrics."""
    state = viewer_state(request)
    raw_since = request.query_params.get("since")
    try:
        since = float(raw_since) if raw_since else time.time()
    except ValueError:
        from backprop_core.viewer.params import ParamError

        raise ParamError("since", f"expected unix seconds, got {raw_since!r}") from None

    def start(store: Store) -> TableCursor:
        active = store.active_runs()
        newest = store.list_runs(RunFilter(limit=50))
        known = {r.id for r in newest if r.created_at <= since}
        return TableCursor(since, known, {r.id: _table_fingerprint(r) for r in active})

    cur = await state.gateway.call(start)

    async def body() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        last_sent = time.monotonic()
        while True:
            await state.gateway.call(lambda s: _poll_table(s, cur))
            if cur.messages:
                out, cur.messages = "".join(cur.messages), []
                last_sent = time.monotonic()
                yield out
            elif time.monotonic() - last_sent > HEARTBEAT_SECONDS:
                last_sent = time.monotonic()
                yield ": heartbeat\n\n"
            await asyncio.sleep(max(state.poll_seconds, 0.5))

    return _event_stream(body())
