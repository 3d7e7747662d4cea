"""Batching events into the store from a background thread.

Parsing threads only append to a list; a writer thread swaps the list out every
``FLUSH_SECONDS`` (or sooner when it grows past ``MAX_BATCH``) and hands it to
``Store.append_batch`` in one call. The writer opens its own store, since store connections
(SQLite's in particular) belong to the thread that opened them.

When a batch cannot be written for lack of space, the writer trips the session's
``SpaceAlarm``, puts the batch back and tries again on every flush; while the disk is full, up
to ``KEEP_WHEN_FULL`` events wait in memory; beyond that new ``metrics`` events are dropped
(counted) while every other event (checkpoints, summaries, ``done``) is still kept, up to twice
the bound.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence

from backprop_core.errors import BackpropError
from backprop_core.events.event import Event
from backprop_core.events.ingest import MetricLines
from backprop_core.store.contract import Store
from backprop_core.supervisor.space import SpaceAlarm

FLUSH_SECONDS = 0.5
MAX_BATCH = 12_000
# Events waiting for the store at most; beyond this the reading thread waits for the writer,
# which in turn slows a script that prints faster than the store records (bounded memory).
MAX_PENDING = 30_000
# While the disk is full the reading threads never wait (the script must be able to print its
# way to a checkpoint); this many events are kept instead (some tens of MB at most).
KEEP_WHEN_FULL = 200_000
# How long the writer keeps retrying to open a store before it drops events.
OPEN_PATIENCE = 10.0
# While the disk is full, how often the writer tries again (a failed attempt at a large batch
# costs real CPU, which the script needs to checkpoint).
FULL_RETRY_SECONDS = 2.0


def _count(items: Sequence[Event | MetricLines]) -> int:
    return sum(len(i) if isinstance(i, MetricLines) else 1 for i in items)


def _not_metrics(items: Sequence[Event | MetricLines]) -> list[Event | MetricLines]:
    return [i for i in items if isinstance(i, Event) and i.kind != "metrics"]


class EventSink(threading.Thread):
    def __init__(
        self,
        run_id: str,
        open_store: Callable[[], Store],
        alarm: SpaceAlarm | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="backprop-store-writer", daemon=True)
        self.run_id = run_id
        self._open_store = open_store
        self.alarm = alarm or SpaceAlarm()
        self._say = say or (lambda text: print(f"backprop: {text}", file=sys.stderr))
        self._pending: list[Event | MetricLines] = []
        self._size = 0  # events in ``_pending`` (a ``MetricLines`` counts its lines)
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = False
        self._full = False  # the last write failed for lack of space: keep events, retry
        self._retry_at = 0.0
        self.written = 0
        self.failed = 0
        #: ``metrics`` events dropped because too many were waiting while the disk was full.
        self.dropped = 0
        self._warned = False

    @property
    def unwritten(self) -> int:
        """Events still waiting (after ``close``: those the store never took)."""
        return self._size

    def add(self, event: Event) -> None:
        self.extend([event])

    def extend(self, events: Sequence[Event | MetricLines]) -> None:
        added = _count(events)
        with self._lock:
            if self._full and self._size + added > KEEP_WHEN_FULL:
                # Past twice the bound even checkpoints and summaries go: memory comes first.
                kept = _not_metrics(events) if self._size < 2 * KEEP_WHEN_FULL else []
                self.dropped += added - len(kept)
                events, added = kept, len(kept)
            self._pending.extend(events)
            self._size += added
            if self._size >= MAX_BATCH and not self._full:
                self._wake.set()
            while (
                self._size >= MAX_PENDING
                and self.is_alive()
                and not self._closing
                and not self._full
            ):
                self._drained.wait(1.0)

    def run(self) -> None:
        store: Store | None = None
        first_try = time.monotonic()
        try:
            while True:
                self._wake.wait(FLUSH_SECONDS)
                self._wake.clear()
                closing = self._closing
                if store is None:
                    store = self._try_open(first_try, final=closing)
                # Events are never given up for a full disk: space may come back.
                impatient = time.monotonic() - first_try > OPEN_PATIENCE and not self._full
                self._flush(store, give_up=closing or impatient)
                if closing:
                    break
        finally:
            if store is not None:
                store.close()

    def _try_open(self, first_try: float, final: bool) -> Store | None:
        """Open the store, retrying on later flushes (it may be briefly locked or migrating)."""
        try:
            return self._open_store()
        except BackpropError as exc:
            if self.alarm.report("events", exc):
                self._set_full(True)
            elif final or time.monotonic() - first_try > OPEN_PATIENCE:
                self._warn(f"events will not be recorded: {exc}")
            return None

    def _set_full(self, full: bool) -> None:
        with self._lock:
            self._full = full
            self._drained.notify_all()  # a reader waiting for room must not wait any more

    def _flush(self, store: Store | None, give_up: bool) -> None:
        if store is None and not give_up:
            return  # keep the events until the store opens
        if self._full and not self._closing and time.monotonic() < self._retry_at:
            return
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                size, self._size = self._size, 0
                self._drained.notify_all()
            if not batch:
                return
            if store is None:
                self.failed += size
                continue
            try:
                store.append_batch(self.run_id, batch)
            except Exception as exc:  # the run goes on even if recording fails
                if self.alarm.report("events", exc):
                    with self._lock:  # back in front, to be written first when space returns
                        self._pending[:0] = batch
                        self._size += size
                    self._set_full(True)
                    self._retry_at = time.monotonic() + FULL_RETRY_SECONDS
                    return
                self.failed += size
                self._warn(f"could not record {size} events: {exc}")
                continue
            self.written += size
            if self._full:
                self._set_full(False)
                self._say("disk space is back: the events kept in memory are recorded")

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            print(f"backprop: warning: {message}", file=sys.stderr)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything still pending and stop the thread."""
        self._closing = True
        self._wake.set()
        if self.is_alive():
            self.join(timeout)
