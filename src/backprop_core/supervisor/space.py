"""Running out of disk space while a session records (docs/store.md, "When the disk is full").

Every thread that writes for the session (the event writer, the heartbeat, the output tee)
reports its failed writes here. The first failure for lack of space trips the alarm and wakes
the supervisor's loop, which says so on the terminal at once and stops the script the way a time
box does. What could not be written stays in memory, bounded, and is written when space returns
or at the end.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING

from backprop_core.errors import BackpropError
from backprop_core.store.files import out_of_space

if TYPE_CHECKING:
    from backprop_core.supervisor.output import Tee

DISK_FULL_REASON = "disk full"


class SpaceAlarm:
    """Tripped once, by whichever thread first fails to write for lack of space."""

    def __init__(self) -> None:
        self.tripped = False
        #: What failed first, and how (for the message on the terminal).
        self.first: str | None = None
        self._wake_fd: int | None = None
        self._lock = threading.Lock()

    def wake_with(self, fd: int) -> None:
        """Write to ``fd`` (the supervisor loop's wake-up pipe) when the alarm trips."""
        self._wake_fd = fd

    def report(self, what: str, exc: BaseException) -> bool:
        """Note that writing ``what`` failed with ``exc``. True when it was for lack of space:
        the caller then keeps what it could not write and tries again later."""
        if not out_of_space(exc):
            return False
        with self._lock:
            if self.tripped:
                return True
            self.tripped = True
            detail = exc.message if isinstance(exc, BackpropError) else str(exc)
            self.first = f"writing {what}: {detail}"
        if self._wake_fd is not None:
            # Never blocks (the pipe is non-blocking); a full pipe already means "wake up".
            with contextlib.suppress(OSError):
                os.write(self._wake_fd, b"d")
        return True


def unrecorded(events: int, tee: Tee) -> str | None:
    """What never reached the disk: ``events`` events and the output the log could not take."""
    output = tee.unwritten + tee.lost_bytes
    parts = [f"{events} events"] if events else []
    parts += [f"{output} bytes of output"] if output else []
    return " and ".join(parts) or None
