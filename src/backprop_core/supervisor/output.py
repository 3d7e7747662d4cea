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
from pathlib import Path
from typing import BinaryIO

from backprop_core.store.files import os_error_to_store_error

MAX_PARSE_BYTES = 1 << 20
MAX_PENDING_BYTES = 4 << 20
CHUNK = 1 << 18
# A larger pipe lets a fast-printing child run ahead while the reader works through a chunk,
# and lets each read take more lines at once (fewer wake-ups and hand-overs per line).
PIPE_BYTES = 1 << 20
LOG_BLOCK = 1 << 16
# Output kept in memory while the log cannot be written (a full disk).
LOG_BACKLOG_BYTES = 16 << 20

LinesHandler = Callable[[list[bytes]], None]


def open_log(path: Path) -> BinaryIO:
    """The session log, for appending, unbuffered: the tee buffers, and keeps what a full disk
    refuses. A one-line ``StoreError`` when it cannot be created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "ab", buffering=0)
    except OSError as exc:
        raise os_error_to_store_error(exc, "create the session log") from exc


class Tee:
    """Where raw output goes: the session log (always) and a terminal stream (optional).

    The log is an unbuffered file written in blocks of ``LOG_BLOCK`` bytes (and on ``flush``).
    A write that fails for lack of space is reported to ``on_error`` and its bytes wait, up to
    ``LOG_BACKLOG_BYTES``, for the next ``flush`` to try again; output beyond that is counted,
    and a line in the log says how much is missing once writing works again.

    ``before_write`` lets the live status line clear itself first.
    """

    def __init__(
        self,
        log: BinaryIO,
        lock: threading.Lock,
        on_error: Callable[[OSError], bool] | None = None,
    ) -> None:
        self.log = log
        self.lock = lock
        self.on_error = on_error
        self.before_write: Callable[[], None] | None = None
        self._pending = bytearray()
        self._failing = False
        #: Output bytes never written to the log (they did not fit in the backlog).
        self.lost_bytes = 0
        self._lost_noted = 0

    def write(self, data: bytes, terminal: BinaryIO | None) -> None:
        with self.lock:
            self._record(data)
            if terminal is not None:
                if self.before_write is not None:
                    self.before_write()
                try:
                    terminal.write(data)
                    terminal.flush()
                except (OSError, ValueError):
                    pass

    def _record(self, data: bytes) -> None:
        if self._failing:  # retried on flush(), not on every chunk
            room = LOG_BACKLOG_BYTES - len(self._pending)
            self._pending += data[: max(0, room)]
            self.lost_bytes += max(0, len(data) - room)
            return
        if not self._pending and len(data) >= LOG_BLOCK:
            self._pending += data[self._write_some(data) :]
            return
        self._pending += data
        if len(self._pending) >= LOG_BLOCK:
            self._flush_locked()

    def _write_some(self, data: bytes | bytearray) -> int:
        """Write as much of ``data`` as the log takes; how much that was."""
        done = 0
        view = memoryview(data)
        try:
            while done < len(data):
                n = self.log.write(view[done:])
                if not n:
                    break
                done += n
        except (OSError, ValueError) as exc:
            self._failing = True
            if isinstance(exc, OSError) and self.on_error is not None:
                self.on_error(exc)
        return done

    def _flush_locked(self) -> None:
        self._failing = False
        if self.lost_bytes > self._lost_noted:
            self._pending += (
                f"\n[backprop: {self.lost_bytes - self._lost_noted} bytes of output are missing"
                " here: the disk was full]\n"
            ).encode()
            self._lost_noted = self.lost_bytes
        if self._pending:
            del self._pending[: self._write_some(self._pending)]

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    @property
    def unwritten(self) -> int:
        """Bytes of output still waiting for the log."""
        return len(self._pending)


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
