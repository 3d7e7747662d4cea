"""Reading the child's stdout, stderr and events pipe without ever blocking it.

One thread per stream reads raw chunks with ``os.read``. Complete lines are written, as bytes,
to the session log and to the terminal in one write per chunk, so output is preserved exactly
(invalid UTF-8 and binary included). Lines are offered to the parsers only when they are short
enough (``MAX_PARSE_BYTES``); a line longer than ``MAX_PENDING_BYTES`` without a newline is
flushed through in pieces, never buffered whole, and never parsed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable
from typing import BinaryIO

MAX_PARSE_BYTES = 1 << 20
MAX_PENDING_BYTES = 4 << 20
CHUNK = 1 << 18
# A larger pipe lets a fast-printing child run ahead while the reader works through a chunk,
# and lets each read take more lines at once (fewer wake-ups and hand-overs per line).
PIPE_BYTES = 1 << 20

LinesHandler = Callable[[list[bytes]], None]


class Tee:
    """Where raw output goes: the session log (always) and a terminal stream (optional).

    ``before_write``/``after_write`` let the live status line clear and redraw itself.
    """

    def __init__(self, log: BinaryIO, lock: threading.Lock) -> None:
        self.log = log
        self.lock = lock
        self.before_write: Callable[[], None] | None = None

    def write(self, data: bytes, terminal: BinaryIO | None) -> None:
        with self.lock:
            try:
                self.log.write(data)
            except (OSError, ValueError):
                pass
            if terminal is not None:
                if self.before_write is not None:
                    self.before_write()
                try:
                    terminal.write(data)
                    terminal.flush()
                except (OSError, ValueError):
                    pass

    def flush(self) -> None:
        with self.lock, contextlib.suppress(OSError, ValueError):
            self.log.flush()


class StreamReader(threading.Thread):
    """Pumps one pipe: tee raw bytes, hand the parseable lines of each chunk to ``on_lines``.

    ``on_chunk`` is called once per chunk read (for monitors that watch for any output).
    """

    def __init__(
        self,
        fd: int,
        name: str,
        tee: Tee | None,
        terminal: BinaryIO | None,
        on_lines: LinesHandler,
        on_chunk: Callable[[], None] | None = None,
        all_lines: bool = False,
        close_fd: bool = False,
    ) -> None:
        super().__init__(name=f"backprop-{name}", daemon=True)
        self.close_fd = close_fd
        self.fd = fd
        self.tee = tee
        self.terminal = terminal
        self.on_lines = on_lines
        self.on_chunk = on_chunk
        self.all_lines = all_lines
        self.bytes_read = 0
        self.finished = False

    def run(self) -> None:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            fcntl.fcntl(self.fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # Linux; best effort
        pending = bytearray()  # the start of a line whose newline has not arrived yet
        overlong = False  # inside a line already flushed in pieces: don't parse its tail
        try:
            while True:
                try:
                    chunk = os.read(self.fd, CHUNK)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                self.bytes_read += len(chunk)
                if self.on_chunk is not None:
                    self.on_chunk()
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    pending += chunk
                    if len(pending) > MAX_PENDING_BYTES:
                        self._emit(bytes(pending))
                        pending.clear()
                        overlong = True
                    continue
                complete = bytes(pending) + chunk[: cut + 1] if pending else chunk[: cut + 1]
                pending = bytearray(chunk[cut + 1 :])
                self._emit(complete)
                lines = complete.split(b"\n")
                lines.pop()  # the empty piece after the final newline
                skipped = overlong
                if overlong:
                    lines = lines[1:]
                    overlong = False
                self._parse(lines, len(complete), None if skipped else complete)
            if pending:
                self._emit(bytes(pending))
                if not overlong:
                    self._parse([bytes(pending)], len(pending))
        finally:
            self.finished = True
            if self.close_fd:
                with contextlib.suppress(OSError):
                    os.close(self.fd)

    def _emit(self, data: bytes) -> None:
        if self.tee is not None:
            self.tee.write(data, self.terminal)

    def _parse(self, lines: list[bytes], size: int, data: bytes | None = None) -> None:
        """``size``: the bytes the lines came from (no line can be longer); ``data``: those
        bytes, when they are exactly the lines, each ended by a newline."""
        if size > MAX_PARSE_BYTES:
            lines = [line for line in lines if len(line) <= MAX_PARSE_BYTES]
            data = None
        if self.all_lines:
            wanted = lines
        elif data is not None and data.count(b"\n{") + data.startswith(b"{") == len(lines):
            wanted = lines  # every line starts with "{" (counted at C speed: the usual case)
        else:
            # Only JSON objects can be events: skip everything else without decoding it.
            wanted = [
                line
                for line in lines
                if line.startswith(b"{") or (line[:1] in b" \t\r" and line.lstrip()[:1] == b"{")
            ]
        if wanted:
            self.on_lines(wanted)
