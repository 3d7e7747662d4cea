"""Starting and dismissing the guardian process (see ``guardian``).

The guardian is forked, not spawned: a forked copy of the supervisor needs no interpreter
start-up and no imports, which keeps ``backprop run``'s overhead low. The fork happens before
the supervisor starts any thread of its own and before the child's pipes exist; the guardian
then closes every file descriptor except its end of the pipe, so it never holds the terminal or
the child's output open, and leaves with ``os._exit`` (no cleanup of the parent's state).
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backprop_core.supervisor.cgroup import RunCgroup


class Guardian:
    """Handle on a running guardian; ``done()`` dismisses it without any killing."""

    def __init__(self, run_id: str, session: int, cgroup: RunCgroup | None = None) -> None:
        supervisor = os.getpid()
        read_end, self._write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            self.pid: int | None = None
            return
        if pid == 0:  # the guardian
            code = 1
            try:
                os.setsid()
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(read_end, 0)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                os.closerange(3, _max_fd())
                from backprop_core.supervisor.guardian import guard

                code = guard(supervisor, run_id, str(session), cgroup.path if cgroup else None)
            finally:
                os._exit(code)
        os.close(read_end)
        self.pid = pid

    def done(self) -> None:
        """The session ended cleanly: tell the guardian to exit without killing anything."""
        with contextlib.suppress(OSError):
            os.write(self._write_end, b"done")
        with contextlib.suppress(OSError):
            os.close(self._write_end)
        if self.pid is not None:
            # Reap it if it has already left; otherwise it exits on its own in a moment.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(self.pid, os.WNOHANG)


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 1024
