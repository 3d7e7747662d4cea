"""Reading a session's log by byte offsets, only from inside the run's own folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from backprop_core.store.home import Home, is_valid_run_id
from backprop_core.store.records import RunRecord

DEFAULT_TAIL_BYTES = 64 * 1024
MAX_READ_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LogChunk:
    """A slice of a session log: its text and where the next read starts."""

    session: int
    exists: bool
    offset: int
    next_offset: int
    size: int
    text: str

    def as_dict(self) -> dict[str, object]:
        return {
            "session": self.session,
            "exists": self.exists,
            "offset": self.offset,
            "next_offset": self.next_offset,
            "size": self.size,
            "text": self.text,
        }


class NoSuchSession(LookupError):
    """A session number the run does not have; becomes a 404."""

    def __init__(self, run: RunRecord, number: int) -> None:
        self.last = max(run.session_count, 1)
        super().__init__(f"run {run.id} has no session {number}")
        self.message = str(self)
        self.hint = f"it has sessions 1 to {self.last}" if self.last > 1 else "it has session 1"


def session_number(run: RunRecord, number: int | None) -> int:
    """``number``, or the run's latest session (1 before the first starts); ``NoSuchSession``
    for a number beyond them."""
    last = max(run.session_count, 1)
    if number is None:
        return last
    if number > last:
        raise NoSuchSession(run, number)
    return number


def log_path(home: Home, run_id: str, session: int) -> Path | None:
    """The session's log file if it is a regular file inside ``runs/<run_id>/``.

    A symlink leading out of the run folder, or anything that is not a plain file, is refused,
    so no request can make the viewer read another file.
    """
    if not is_valid_run_id(run_id) or session < 1:
        return None
    run_dir = home.run_dir(run_id)
    path = home.session_log(run_id, session)
    try:
        real_dir = run_dir.resolve(strict=True)
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real.parent != real_dir or real_dir.parent != home.runs_dir.resolve():
        return None
    if path.is_symlink() or not real.is_file():
        return None
    return real


def read_log(
    home: Home, run_id: str, session: int, offset: int | None, limit: int | None
) -> LogChunk:
    """Bytes ``[offset, offset+limit)`` of the log (whole lines when the file goes on), or, with
    no offset, its last ``limit`` bytes starting at a line boundary."""
    limit = min(limit or (DEFAULT_TAIL_BYTES if offset is None else MAX_READ_BYTES), MAX_READ_BYTES)
    path = log_path(home, run_id, session)
    if path is None:
        start = offset or 0
        return LogChunk(session, False, start, start, 0, "")
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        start = max(0, size - limit) if offset is None else min(offset, size)
        fh.seek(start)
        data = fh.read(min(limit, size - start))
    if offset is None and start > 0:
        # Tail: drop the partial first line.
        cut = data.find(b"\n")
        if cut >= 0:
            start += cut + 1
            data = data[cut + 1 :]
    end = start + len(data)
    if end < size and not data.endswith(b"\n"):
        # The window stops mid-file: end it at a line boundary unless one line fills it.
        cut = data.rfind(b"\n")
        if cut >= 0:
            data = data[: cut + 1]
            end = start + len(data)
    return LogChunk(session, True, start, end, size, data.decode("utf-8", errors="replace"))
