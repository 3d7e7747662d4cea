"""Batching events into the store from a background thread.

Parsing threads only append to a list; a writer thread swaps the list out every
``FLUSH_SECONDS`` (or sooner when it grows past ``MAX_BATCH``) and hands it to
``Store.append_events`` in one call. The writer opens its own store, since store connections
(SQLite's in particular) belong to the thread that opened them.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence

from backprop_core.errors import BackpropError
from backprop_core.events.event import Event
from backprop_core.events.ingest import Item
from backprop_core.store.contract import Store

FLUSH_SECONDS = 0.5
MAX_BATCH = 12_000
# Events waiting for the store at most; beyond this the reading thread waits for the writer,
# which in turn slows a script that prints faster than the store records (bounded memory).
MAX_PENDING = 30_000
# How long the writer keeps retrying to open a store before it drops events.
OPEN_PATIENCE = 10.0


class EventSink(threading.Thread):
    def __init__(self, run_id: str, open_store: Callable[[], Store]) -> None:
        super().__init__(name="backprop-store-writer", daemon=True)
        self.run_id = run_id
        self._open_store = open_store
        self._pending: list[Item] = []
        self._size = 0  # events in ``_pending`` (a run of lines in columns counts its lines)
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = False
        self.written = 0
        self.failed = 0
        self._warned = False

    def add(self, event: Event) -> None:
        self.extend([event])

    def extend(self, events: Sequence[Item]) -> None:
        added = 0
        for item in events:
            added += 1 if isinstance(item, Event) else len(item)
        with self._lock:
            self._pending.extend(events)
            self._size += added
            if self._size >= MAX_BATCH:
                self._wake.set()
            while self._size >= MAX_PENDING and self.is_alive() and not self._closing:
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
                self._flush(store, give_up=closing or time.monotonic() - first_try > OPEN_PATIENCE)
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
            if final or time.monotonic() - first_try > OPEN_PATIENCE:
                self._warn(f"events will not be recorded: {exc}")
            return None

    def _flush(self, store: Store | None, give_up: bool) -> None:
        if store is None and not give_up:
            return  # keep the events until the store opens
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
                self.written += size
            except Exception as exc:  # the run goes on even if recording fails
                self.failed += size
                self._warn(f"could not record {size} events: {exc}")

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
