"""What every route needs: the store gateway, the home layout and the machine probe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from backprop_core.admission.resources import Snapshot
from backprop_core.store.home import Home
from backprop_core.viewer.gateway import StoreGateway

#: How often the live streams look at the store and the log files.
POLL_SECONDS = 0.3


@dataclass
class ViewerState:
    """What the viewer's handlers share: the store gateway, the home, the machine snapshot."""

    gateway: StoreGateway
    home: Home
    take_snapshot: Callable[[], Snapshot]
    poll_seconds: float = POLL_SECONDS
    snapshot_ttl: float = 1.0
    _snapshot: tuple[float, Snapshot] | None = field(default=None, repr=False)
    _snapshot_lock: asyncio.Lock | None = field(default=None, repr=False)

    async def snapshot(self) -> Snapshot:
        """The machine now, shared by all clients for ``snapshot_ttl`` seconds (probes can be
        slow, e.g. nvidia-smi), taken off the event loop."""
        if self._snapshot_lock is None:  # made on the loop that uses it
            self._snapshot_lock = asyncio.Lock()
        async with self._snapshot_lock:
            cached = self._snapshot
            if cached is not None and time.monotonic() - cached[0] < self.snapshot_ttl:
                return cached[1]
            loop = asyncio.get_running_loop()
            snap = await loop.run_in_executor(None, self.take_snapshot)
            self._snapshot = (time.monotonic(), snap)
            return snap


def viewer_state(request: Request) -> ViewerState:
    state: Any = request.app.state.viewer
    assert isinstance(state, ViewerState)
    return state
