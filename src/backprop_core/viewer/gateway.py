"""One thread that owns the store, so every store call comes from the same thread.

Store plugins may hold connections that must not cross threads (SQLite's default), and the
event loop must never block on disk. Every read goes through ``StoreGateway.call``, which also
runs liveness reconciliation at most every ``RECONCILE_SECONDS``: pages, the API and the live
streams see a run whose supervisor died or froze become ``lost`` (docs/store.md, "Liveness").
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from backprop_core.errors import BackpropError
from backprop_core.store.contract import Store

T = TypeVar("T")
RECONCILE_SECONDS = 1.0


class StoreGateway:
    """Runs functions of the store on a single worker thread; opens the store lazily there."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        reconcile: Callable[[Store], object] | None = None,
    ) -> None:
        self._open = open_store
        self._reconcile = reconcile
        self._next_reconcile = 0.0
        self._store: Store | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="backprop-store"
                )
            return self._executor

    def _get(self) -> Store:
        # Only ever called on the store thread.
        if self._store is None:
            self._store = self._open()
        return self._store

    def _run(self, fn: Callable[[Store], T]) -> T:
        store = self._get()
        if self._reconcile is not None and time.monotonic() >= self._next_reconcile:
            self._next_reconcile = time.monotonic() + RECONCILE_SECONDS
            try:
                self._reconcile(store)
            except BackpropError:  # e.g. a read-only store: reading goes on
                pass
        return fn(store)

    async def call(self, fn: Callable[[Store], T]) -> T:
        """``fn(store)`` on the store thread, awaited without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), self._run, fn)

    def close(self) -> None:
        """Close the store and stop the thread; a later ``call`` opens both again."""

        def _close() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            executor.submit(_close).result(timeout=5)
        except Exception:  # closing is best effort at shutdown
            pass
        executor.shutdown(wait=False, cancel_futures=True)
