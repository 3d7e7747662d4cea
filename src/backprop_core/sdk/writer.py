"""The background batching writer: ``log`` appends a tuple to a deque; a daemon thread turns
batches into events and hands them to a sink (the supervisor's pipe, stdout, or the store).

Records are ``(kind, time, step, payload)``; for ``metrics`` the payload is the data dict,
for every other kind it is the event's fields minus ``event``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from backprop_core.sdk.values import non_finite_losses

if TYPE_CHECKING:
    from backprop_core.events.event import Event
    from backprop_core.events.ingest import MetricLines
    from backprop_core.store.contract import Store

Record = tuple[str, float, "int | None", dict[str, Any]]

STORE_CHUNK = 20_000  # events per append_batch call: bounds one transaction's size
#: A backlog is delivered by the writer thread in batches of this many records (one store
#: transaction each) ...
DELIVER_EVERY = 2_000
#: ... and, while it encodes them, it lets the training thread run every this many records
#: (well under a millisecond of work): see ``BatchWriter.flush``.
PAUSE_EVERY = 256

Pause = Callable[[], None]


def warn(message: str) -> None:
    print(f"backprop: warning: {message}", file=sys.stderr, flush=True)


class Sink(ABC):
    @abstractmethod
    def write(self, records: list[Record], pause: Pause | None = None) -> None:
        """Deliver a batch, in order; call ``pause`` (when given) every ``PAUSE_EVERY``
        records of Python work."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release what the sink holds."""

    def tick(self, now: float) -> None:  # noqa: B027 - optional
        """Called by the writer thread on every round, with or without records."""


# One encoder for the process: json.dumps with options builds a new one on every call.
_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _line(kind: str, t: float, step: int | None, payload: Mapping[str, Any]) -> str:
    if kind == "metrics":
        body = _encode(payload)
        if step is None:
            return f'{{"event":"metrics","time":{t!r},"data":{body}}}'
        return f'{{"event":"metrics","step":{step},"time":{t!r},"data":{body}}}'
    fields: dict[str, Any] = {"event": kind, **payload}
    if step is not None:
        fields["step"] = step
    fields["time"] = t
    return _encode(fields)


def _safe_line(record: Record) -> str | None:
    kind, t, step, payload = record
    try:
        return _line(kind, t, step, payload)
    except (TypeError, ValueError):  # e.g. a non-string key slipped past the fast path
        try:
            return _line(kind, t, step, {str(k): v for k, v in payload.items()})
        except (TypeError, ValueError) as exc:
            warn(f"dropped a {kind} event that cannot be written as JSON: {exc}")
            return None


def _lines(records: list[Record], pause: Pause | None = None) -> list[str | None]:
    """Each record as its protocol line (``None`` for one that cannot be written as JSON),
    calling ``pause`` every ``PAUSE_EVERY`` records."""
    out: list[str | None] = []
    for start in range(0, len(records), PAUSE_EVERY):
        if pause is not None and start:
            pause()
        out.extend(_slice_lines(records[start : start + PAUSE_EVERY]))
    return out


def _slice_lines(records: list[Record]) -> list[str | None]:
    """``_lines`` for a few hundred records. The data of the ``metrics`` records is encoded in
    one call and cut at the object boundaries (one encoder call per record costs more than
    the encoding itself); data that will not cut cleanly (a key holding ``},{``, a key JSON
    cannot take) is encoded record by record."""
    datas = [record[3] for record in records if record[0] == "metrics"]
    bodies: list[str] | None = None
    if datas:
        try:
            parts = _encode(datas)[2:-2].split("},{")
        except (TypeError, ValueError):
            parts = []
        bodies = parts if len(parts) == len(datas) else None
    if bodies is None:
        return [_safe_line(record) for record in records]
    body = iter(bodies).__next__
    out: list[str | None] = []
    for record in records:
        kind, t, step, _ = record
        if kind != "metrics":
            out.append(_safe_line(record))
        elif step is None:
            out.append(f'{{"event":"metrics","time":{t!r},"data":{{{body()}}}}}')
        else:
            out.append(f'{{"event":"metrics","step":{step},"time":{t!r},"data":{{{body()}}}}}')
    return out


class LineSink(Sink):
    """Events protocol v1 JSON lines on the supervisor's pipe (``BACKPROP_EVENTS_FD``), or on
    stdout when there is none. Non-finite floats are written as ``NaN``/``Infinity`` tokens."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self._broken = False

    def write(self, records: list[Record], pause: Pause | None = None) -> None:
        lines = [line for line in _lines(records, pause) if line is not None]
        if not lines or self._broken:
            return
        text = "\n".join(lines) + "\n"
        if self.fd is None:
            # One write call per batch keeps our lines whole next to the user's prints.
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        data = memoryview(text.encode("utf-8"))
        try:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except OSError as exc:  # the supervisor is gone; training goes on
            self._broken = True
            warn(f"cannot send events to backprop (fd {self.fd}): {exc}; events are dropped")

    # close() is inherited (a no-op): the pipe stays open for a later init() in this process
    # and closes when the process exits, which is what tells the supervisor we are done.


class StoreSink(Sink):
    """Standalone mode: events go straight into the run store, in large batches.

    ``metrics`` records travel the way the supervisor's hot path delivers the same events from
    a script's output: in columns (``MetricLines``), each with the line the SDK would print, so
    the store takes points column by column instead of building an ``Event`` per record.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        session: int,
        started_at: float,
        heartbeat_seconds: float | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.session = session
        self.started_at = started_at
        self._alerted: set[str] = set()
        # This process is its own supervisor: it keeps the session's heartbeat (docs/store.md).
        self.heartbeat_seconds = heartbeat_seconds
        self._next_beat = 0.0
        self._beat_failed = False

    def tick(self, now: float) -> None:
        if self.heartbeat_seconds is None or now < self._next_beat:
            return
        self._next_beat = now + self.heartbeat_seconds
        try:
            self.store.beat(self.run_id, self.session, time.time())
        except Exception as exc:  # training goes on; the run may be marked lost later
            if not self._beat_failed:
                self._beat_failed = True
                warn(f"could not record the heartbeat: {exc}")

    def to_items(
        self, records: list[Record], pause: Pause | None = None
    ) -> list[Event | MetricLines]:
        """The records as events, consecutive ``metrics`` records as ``MetricLines``, each
        followed by an ``alert`` the first time a loss-like metric is NaN or ±Inf."""
        from backprop_core.events.event import Event
        from backprop_core.events.ingest import MetricLines

        items: list[Event | MetricLines] = []
        session = self.session
        lines: MetricLines | None = None
        for record, text in zip(records, _lines(records, pause)):
            kind, t, step, payload = record
            if kind != "metrics":
                lines = None
                body = dict(payload)
                if step is not None:
                    body["step"] = step
                items.append(Event(kind, t, step, body, session))
                continue
            if text is None:
                continue
            if lines is None:
                lines = MetricLines(session)
                items.append(lines)
            lines.times.append(t)
            lines.steps.append(step)
            lines.data.append(payload)
            lines.texts.append(text)
        out: list[Event | MetricLines] = []
        for item in items:
            out.extend(self._checked(item) if isinstance(item, MetricLines) else (item,))
        return out

    def _checked(self, lines: MetricLines) -> list[Event | MetricLines]:
        """``lines`` with string keys only, split after each record that raises an alert."""
        from backprop_core.events.event import Event

        keys = set().union(*lines.data)
        if any(type(key) is not str for key in keys):  # log() takes any key; points are named
            lines.data = [{str(k): v for k, v in data.items()} for data in lines.data]
        out: list[Event | MetricLines] = []
        start = 0
        for i in lines.non_finite():  # at C speed when every value is finite
            data, t, step = lines.data[i], lines.times[i], lines.steps[i]
            new = [key for key in non_finite_losses(data) if key not in self._alerted]
            if not new:
                continue
            self._alerted.update(new)  # once per metric, not once per step
            out.append(_slice(lines, start, i + 1))
            for key in new:
                text = f"{key} is {data[key]} at step {step}"
                out.append(
                    Event("alert", t, step, {"level": "warning", "text": text}, lines.session)
                )
            start = i + 1
        if start == 0:
            return [lines]
        if start < len(lines):
            out.append(_slice(lines, start, len(lines)))
        return out

    def write(self, records: list[Record], pause: Pause | None = None) -> None:
        from backprop_core.events.file_identity import witness

        # This process is the run: what it announces now is what it made (docs/store.md).
        cwd, home = os.getcwd(), self.store.home.root
        for start in range(0, len(records), STORE_CHUNK):
            items = self.to_items(records[start : start + STORE_CHUNK], pause)
            if items:
                self.store.append_batch(self.run_id, witness(items, cwd, self.started_at, home))

    # close() is inherited (a no-op): the standalone backend still needs the store to set
    # the final status, and closes it afterwards.


def _slice(lines: MetricLines, start: int, stop: int) -> MetricLines:
    from backprop_core.events.ingest import MetricLines

    return MetricLines(
        lines.session,
        lines.times[start:stop],
        lines.steps[start:stop],
        lines.data[start:stop],
        lines.texts[start:stop],
    )


def _pause() -> None:
    """Let another thread (the training loop) take the interpreter."""
    time.sleep(0)


class BatchWriter:
    """Collects records on the calling thread (``append``: a deque append, thread-safe) and
    delivers them from a daemon thread at least every ``interval`` seconds.

    With ``inline=True`` there is no thread: the caller delivers through ``maybe_flush``. The
    stdout fallback uses that, because a second thread writing to stdout could land between
    the text of a user's ``print`` and its newline and break both lines.
    """

    def __init__(self, sink: Sink, interval: float, inline: bool = False) -> None:
        self.sink = sink
        self.interval = interval
        self.inline = inline
        self._queue: deque[Record] = deque()
        self.append: Callable[[Record], None] = self._queue.append
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._tasks: deque[Callable[[], None]] = deque()
        self._failed = False
        self._next_inline_flush = 0.0
        self._thread = threading.Thread(target=self._loop, name="backprop-writer", daemon=True)
        if not inline:
            self._thread.start()

    def maybe_flush(self, now: float) -> None:
        """Inline mode: deliver if the interval has passed since the last delivery."""
        if now >= self._next_inline_flush:
            self._next_inline_flush = now + self.interval
            self.flush()

    def call_soon(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the writer thread before its next delivery (or at ``close``)."""
        self._tasks.append(task)
        self._wake.set()

    def wake(self) -> None:
        if self.inline:
            self.flush()
        else:
            self._wake.set()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()
            with self._lock:
                self.sink.tick(time.monotonic())

    def _run_tasks(self) -> None:
        while self._tasks:
            task = self._tasks.popleft()
            try:
                task()
            except Exception as exc:
                warn(f"could not record the environment: {exc}")

    def flush(self) -> None:
        """Deliver everything appended so far (any thread; serialised with the writer).

        The writer thread is polite while the run goes on: it delivers a backlog in batches
        of ``DELIVER_EVERY`` records and gives the interpreter back to the training thread
        every ``PAUSE_EVERY`` records of work. Holding it for a whole backlog would take it
        from a training loop that logs faster than the store records for about half of the
        time; this way it takes a small share and the rest of the backlog waits (``finish``,
        ``checkpoint`` and ``close`` deliver everything at once)."""
        on_thread = threading.current_thread() is self._thread
        with self._lock:
            self._run_tasks()
            queue = self._queue
            pop = queue.popleft
            while True:
                polite = on_thread and not self._closed  # ``close`` waits: no one to let run
                pause = _pause if polite else None
                batch: list[Record] = []
                try:
                    for _ in range(min(len(queue), DELIVER_EVERY) if polite else len(queue)):
                        batch.append(pop())
                except IndexError:
                    pass
                if not batch:
                    return
                try:
                    self.sink.write(batch, pause)
                except Exception as exc:
                    if not self._failed:
                        warn(f"could not record {len(batch)} events: {exc}")
                    self._failed = True
                if pause is None:
                    return
                pause()

    def close(self, timeout: float = 60.0) -> None:
        """Stop the thread and deliver the rest. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.flush()
        self.sink.close()
