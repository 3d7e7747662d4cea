"""Starting and dismissing the guardian process (see ``guardian``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys


class Guardian:
    """Handle on a running guardian; ``done()`` dismisses it without any killing."""

    def __init__(self, run_id: str, session: int) -> None:
        read_end, self._write_end = os.pipe()
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "backprop_core.supervisor.guardian",
                    str(os.getpid()),
                    run_id,
                    str(session),
                ],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            self._proc = None
        finally:
            os.close(read_end)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def done(self) -> None:
        """The session ended cleanly: tell the guardian to exit without killing anything."""
        with contextlib.suppress(OSError):
            os.write(self._write_end, b"done")
        with contextlib.suppress(OSError):
            os.close(self._write_end)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
