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
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from backprop_core.sdk.values import non_finite_losses

if TYPE_CHECKING:
    from backprop_core.events.event import Event
    from backprop_core.store.contract import Store

Record = tuple[str, float, "int | None", dict[str, Any]]

STORE_CHUNK = 20_000  # events per append_events call: bounds one transaction's size


def warn(message: str) -> None:
    print(f"backprop: warning: {message}", file=sys.stderr, flush=True)


class Sink(ABC):
    @abstractmethod
    def write(self, records: list[Record]) -> None:
        """Deliver a batch, in order."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release what the sink holds."""


def _line(kind: str, t: float, step: int | None, payload: Mapping[str, Any]) -> str:
    if kind == "metrics":
        body = json.dumps(payload, default=str)
        if step is None:
            return f'{{"event":"metrics","time":{t!r},"data":{body}}}'
        return f'{{"event":"metrics","step":{step},"time":{t!r},"data":{body}}}'
    fields: dict[str, Any] = {"event": kind, **payload}
    if step is not None:
        fields["step"] = step
    fields["time"] = t
    return json.dumps(fields, default=str)


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


class LineSink(Sink):
    """Events protocol v1 JSON lines on the supervisor's pipe (``BACKPROP_EVENTS_FD``), or on
    stdout when there is none. Non-finite floats are written as ``NaN``/``Infinity`` tokens."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self._broken = False

    def write(self, records: list[Record]) -> None:
        lines = [line for line in map(_safe_line, records) if line is not None]
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
    """Standalone mode: events go straight into the run store, in large batches."""

    def __init__(self, store: Store, run_id: str, session: int, started_at: float) -> None:
        self.store = store
        self.run_id = run_id
        self.session = session
        self.started_at = started_at
        self._alerted: set[str] = set()

    def to_events(self, records: list[Record]) -> list[Event]:
        from backprop_core.events.event import Event

        events: list[Event] = []
        session = self.session
        for kind, t, step, payload in records:
            if kind == "metrics":
                events.append(Event("metrics", t, step, {"data": payload, "step": step}, session))
                for key in non_finite_losses(payload):
                    if key not in self._alerted:  # once per metric, not once per step
                        self._alerted.add(key)
                        text = f"{key} is {payload[key]} at step {step}"
                        events.append(
                            Event("alert", t, step, {"level": "warning", "text": text}, session)
                        )
            else:
                body = dict(payload)
                if step is not None:
                    body["step"] = step
                events.append(Event(kind, t, step, body, session))
        return events

    def write(self, records: list[Record]) -> None:
        from backprop_core.events.file_identity import witness

        # This process is the run: what it announces now is what it made (docs/store.md).
        home = self.store.home.root
        items = witness(self.to_events(records), os.getcwd(), self.started_at, home)
        if any(r[0] in ("artifact", "use_artifact") for r in records):
            from backprop_core.artifacts.objects import ObjectStore
            from backprop_core.artifacts.witness import witness_artifacts

            items = witness_artifacts(items, self.store, ObjectStore(home), os.getcwd())
        events = cast("list[Event]", items)
        for start in range(0, len(events), STORE_CHUNK):
            self.store.append_events(self.run_id, events[start : start + STORE_CHUNK])

    # close() is inherited (a no-op): the standalone backend still needs the store to set
    # the final status, and closes it afterwards.


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

    def _run_tasks(self) -> None:
        while self._tasks:
            task = self._tasks.popleft()
            try:
                task()
            except Exception as exc:
                warn(f"could not record the environment: {exc}")

    def flush(self) -> None:
        """Deliver everything appended so far (any thread; serialised with the writer)."""
        with self._lock:
            self._run_tasks()
            queue = self._queue
            batch: list[Record] = []
            pop = queue.popleft
            try:
                for _ in range(len(queue)):
                    batch.append(pop())
            except IndexError:
                pass
            if not batch:
                return
            try:
                self.sink.write(batch)
            except Exception as exc:
                if not self._failed:
                    warn(f"could not record {len(batch)} events: {exc}")
                self._failed = True

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
