"""How a supervisor is asked to stop: its own signals, caught while a session runs.

* SIGINT (Ctrl-C), SIGUSR2 (``backprop stop``), SIGTERM (sent from outside backprop: ``kill``,
  a job scheduler, a shutdown) and SIGHUP (terminal closed): a graceful stop, the same as
  reaching the deadline but recorded as ``interrupted``. A second one stops at once.
* SIGUSR1 (``backprop stop --now``): stop at once (SIGKILL to the whole tree).
* SIGXCPU (a scheduler's warning that its time limit is near, e.g. Slurm's ``--signal``): the
  time box ends now; the stop is the deadline's, recorded as ``timeboxed``.

``backprop stop`` has a signal of its own so that the recorded reason says who stopped the run.

Handlers only set flags and poke a wake-up pipe; the supervisor's loop acts on them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from types import FrameType
from typing import Any

STOP_SIGNAL = signal.SIGUSR2  # what ``backprop stop`` sends
IMMEDIATE_SIGNAL = signal.SIGUSR1  # what ``backprop stop --now`` sends
GRACEFUL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, STOP_SIGNAL)
DEADLINE_SIGNAL = signal.SIGXCPU  # a scheduler's warning that its time limit is near

# Who asked, as the run's reason says it: "stopped by <source>".
_SOURCES = {
    signal.SIGINT: "Ctrl-C",
    signal.SIGTERM: "SIGTERM sent from outside backprop",
    signal.SIGHUP: "SIGHUP, the terminal closed",
    STOP_SIGNAL: "backprop stop",
    IMMEDIATE_SIGNAL: "backprop stop --now",
}


#: Inside a scheduler's job SIGTERM may also come from the scheduler itself.
IN_JOB_SOURCES = {
    signal.SIGTERM: "SIGTERM: backprop stop, or the scheduler (cancel, requeue, preemption)",
}


class StopRequests:
    """Installs the handlers (main thread only) and records what was asked for."""

    def __init__(self, in_job: bool = False) -> None:
        self._sources = {**_SOURCES, **(IN_JOB_SOURCES if in_job else {})}
        self.graceful = False
        self.immediate = False
        self.deadline = False
        self.source: str | None = None
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self._previous: dict[int, Any] = {}
        self._previous_wakeup: int | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (*GRACEFUL_SIGNALS, IMMEDIATE_SIGNAL, DEADLINE_SIGNAL):
            self._previous[sig] = signal.signal(sig, self._handle)
        self._previous_wakeup = signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
        self._previous.clear()
        if self._previous_wakeup is not None:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(self._previous_wakeup)
            self._previous_wakeup = None
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == DEADLINE_SIGNAL:
            self.deadline = True
            return
        if self.source is None:
            self.source = self._sources.get(signal.Signals(signum), f"signal {signum}")
        if signum == IMMEDIATE_SIGNAL or self.graceful:
            self.immediate = True
        self.graceful = True

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.wake_r, 512):
                pass
