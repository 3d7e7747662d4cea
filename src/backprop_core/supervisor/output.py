"""Reading the child's stdout, stderr and events pipe without ever blocking it.

One thread per stream reads raw chunks with ``os.read``. Each chunk goes to:

* the session log, as a terminal would finally show it (``terminal_text``: progress-bar frames
  collapsed; everything else exactly as printed, invalid UTF-8 and binary included);
* the parsers, as complete lines (only lines up to ``MAX_PARSE_BYTES``; a line longer than
  ``MAX_PENDING_BYTES`` without a newline is passed on in pieces, never buffered whole, and never
  parsed);
* the terminal, byte for byte and at once, except the lines the parsers claimed as events
  (unless ``show_events``). An unfinished line (a progress bar redrawing itself with ``\\r``)
  is passed on as it arrives, unless it may still turn out to be an event line (it starts with
  ``{``), which waits for its newline.
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
from backprop_core.supervisor.terminal_text import TerminalText

MAX_PARSE_BYTES = 1 << 20
MAX_PENDING_BYTES = 4 << 20
CHUNK = 1 << 18
# A larger pipe lets a fast-printing child run ahead while the reader works through a chunk,
# and lets each read take more lines at once (fewer wake-ups and hand-overs per line).
PIPE_BYTES = 1 << 20
LOG_BLOCK = 1 << 16
# Output kept in memory while the log cannot be written (a full disk).
LOG_BACKLOG_BYTES = 16 << 20

#: Parses a chunk's complete lines; returns one flag per line (``True``: an event line, kept
#: off the terminal), or ``None`` when no line was one.
LinesHandler = Callable[[list[bytes]], "list[bool] | None"]


def open_log(path: Path) -> BinaryIO:
    """The session log, for appending, unbuffered: the tee buffers, and keeps what a full disk
    refuses. A one-line ``StoreError`` when it cannot be created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "ab", buffering=0)
    except OSError as exc:
        raise os_error_to_store_error(exc, "create the session log") from exc


class Tee:
    """Where output goes: the session log (always) and a terminal stream (optional).

    The log is an unbuffered file written in blocks of ``LOG_BLOCK`` bytes (and on ``flush``).
    A write that fails for lack of space is reported to ``on_error`` and its bytes wait, up to
    ``LOG_BACKLOG_BYTES``, for the next ``flush`` to try again; output beyond that is counted,
    and a line in the log says how much is missing once writing works again.

    ``before_write`` lets the live status line clear itself before output reaches the terminal;
    ``after_write`` tells it whether the terminal's cursor is now at the start of a line.
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
        self.after_write: Callable[[bool], None] | None = None
        self._pending = bytearray()
        self._failing = False
        #: Output bytes never written to the log (they did not fit in the backlog).
        self.lost_bytes = 0
        self._lost_noted = 0

    def write_log(self, data: bytes) -> None:
        if not data:
            return
        with self.lock:
            self._record(data)

    def write_terminal(self, data: bytes, terminal: BinaryIO) -> None:
        if not data:
            return
        with self.lock:
            if self.before_write is not None:
                self.before_write()
            try:
                terminal.write(data)
                terminal.flush()
            except (OSError, ValueError):
                pass
            if self.after_write is not None:
                self.after_write(data.endswith(b"\n"))

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


def _may_be_event(line: bytes | bytearray) -> bool | None:
    """Whether an unfinished line may still become an event line: ``None`` while it holds
    nothing but blanks (too early to tell)."""
    rest = line.lstrip()
    if not rest:
        return None
    return rest[:1] == b"{"


class StreamReader(threading.Thread):
    """Pumps one pipe: log and show the output, hand each chunk's complete lines to
    ``on_lines``. ``on_chunk`` is called once per chunk read (for monitors that watch for any
    output). Without a ``tee`` the stream is only parsed (the SDK's events pipe)."""

    def __init__(
        self,
        fd: int,
        name: str,
        tee: Tee | None,
        terminal: BinaryIO | None,
        on_lines: LinesHandler,
        on_chunk: Callable[[], None] | None = None,
        close_fd: bool = False,
        show_events: bool = False,
    ) -> None:
        super().__init__(name=f"backprop-{name}", daemon=True)
        self.close_fd = close_fd
        self.fd = fd
        self.tee = tee
        self.terminal = terminal if tee is not None else None
        self.on_lines = on_lines
        self.on_chunk = on_chunk
        self.show_events = show_events
        self.bytes_read = 0
        self.finished = False
        self._screen = TerminalText()
        self._shown = 0  # bytes of the unfinished line already on the terminal

    def run(self) -> None:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            fcntl.fcntl(self.fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # Linux; best effort
        pending = bytearray()  # the start of a line whose newline has not arrived yet
        overlong = False  # inside a line already passed on in pieces: don't parse its tail
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
                if self.tee is not None:
                    self.tee.write_log(self._screen.feed(chunk))
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    pending += chunk
                    if len(pending) > MAX_PENDING_BYTES:
                        self._show(bytes(pending[self._shown :]))
                        pending.clear()
                        self._shown = 0
                        overlong = True
                    else:
                        self._show_unfinished(pending)
                    continue
                complete = bytes(pending) + chunk[: cut + 1] if pending else chunk[: cut + 1]
                pending = bytearray(chunk[cut + 1 :])
                lines = complete.split(b"\n")
                lines.pop()  # the empty piece after the final newline
                skip_first = overlong
                overlong = False
                claimed = self._parse(lines, len(complete), skip_first)
                self._show_lines(complete, lines, claimed)
                self._show_unfinished(pending)
            if self.tee is not None:
                self.tee.write_log(self._screen.finish())
            if pending:
                claimed = None if overlong else self._parse([bytes(pending)], len(pending))
                self._show_lines(bytes(pending), [bytes(pending)], claimed)
        finally:
            self.finished = True
            if self.close_fd:
                with contextlib.suppress(OSError):
                    os.close(self.fd)

    # the terminal ----------------------------------------------------------------------------
    def _show(self, data: bytes) -> None:
        if self.terminal is not None and self.tee is not None:
            self.tee.write_terminal(data, self.terminal)

    def _show_unfinished(self, pending: bytearray) -> None:
        """Pass an unfinished line on as far as it has come, unless it may be an event line."""
        if self.terminal is None or len(pending) <= self._shown:
            return
        if not self.show_events and _may_be_event(pending) is not False:
            return
        self._show(bytes(pending[self._shown :]))
        self._shown = len(pending)

    def _show_lines(self, data: bytes, lines: list[bytes], claimed: list[bool] | None) -> None:
        """Show complete lines: ``data`` is ``lines`` joined, each with its newline (the last
        one may lack it at the end of the stream), the first maybe partly shown already."""
        shown, self._shown = self._shown, 0
        if self.terminal is None:
            return
        if claimed is None or self.show_events or True not in claimed:
            self._show(data[shown:])
            return
        if not shown and False not in claimed:
            return  # event lines only: nothing for the terminal
        parts: list[bytes] = []
        for i, (line, is_event) in enumerate(zip(lines, claimed)):
            if i == 0 and shown:
                parts.append(line[shown:])  # a line already on its way is shown whole
            elif not is_event:
                parts.append(line)
            else:
                continue
            parts.append(b"\n")
        if parts and not data.endswith(b"\n"):
            parts.pop()
        self._show(b"".join(parts))

    # the parsers -----------------------------------------------------------------------------
    def _parse(self, lines: list[bytes], size: int, skip_first: bool = False) -> list[bool] | None:
        """Offer the lines to the parsers. ``size``: the bytes the lines came from (no line
        can be longer); ``skip_first``: the first line is the tail of an overlong one."""
        if skip_first or size > MAX_PARSE_BYTES:
            wanted = [
                i
                for i, line in enumerate(lines)
                if len(line) <= MAX_PARSE_BYTES and not (skip_first and i == 0)
            ]
            if not wanted:
                return None
            found = self.on_lines([lines[i] for i in wanted])
            if found is None:
                return None
            claimed = [False] * len(lines)
            for i, flag in zip(wanted, found):
                claimed[i] = flag
            return claimed
        if not lines:
            return None
        return self.on_lines(lines)
