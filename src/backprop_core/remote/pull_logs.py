"""The session logs a pull brings: appended by a thread of their own.

Each new run's log is a new folder and a new file here, and making them waits on the file
system's journal: about a millisecond each on a busy disk, as long as applying the run's
records. Written by a thread, that wait overlaps applying the next runs instead of adding to
it. Chunks are written in the order they came (one thread), each keyed by size as before: a
chunk starting past the end of the log here (it lost bytes since the request) is refused,
bytes already there are skipped, so writing a chunk twice, or after a cut-off pull, is safe.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from backprop_core.store.files import os_error_to_store_error


def _open_log(path: Path, offset: int, *, reset: bool) -> BinaryIO | None:
    """A session's log opened to append at ``offset``: created (with its folder, made only
    when missing) or emptied (``reset``) when that is at its start; ``None`` when it is
    missing although ``offset`` is past its start."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    if offset == 0:
        flags |= os.O_CREAT | (os.O_TRUNC if reset else 0)
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:
        if offset:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o666)
    return open(fd, "ab")


def append_log(path: Path, offset: int, data: bytes, *, reset: bool = False) -> int | None:
    """Put ``data`` at ``offset`` of the log at ``path``; how many bytes that added, or
    ``None`` when the log here is shorter than ``offset`` (it lost bytes since the request)."""
    fh = _open_log(path, offset, reset=reset)
    if fh is None:
        return None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if offset > size:
            return None
        if offset + len(data) <= size:
            return 0
        fh.write(data[size - offset :])
    return offset + len(data) - size


class LogWriter:
    """Appends log chunks on a thread; ``settle`` waits for them."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[tuple[str, Future[int | None]]] = []

    def append(self, run_id: str, path: Path, offset: int, data: bytes, *, reset: bool) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pull-logs")
        future = self._pool.submit(append_log, path, offset, data, reset=reset)
        self._pending.append((run_id, future))

    def settle(self) -> dict[str, int | None]:
        """Wait for every chunk given so far: per run, the bytes its chunks added, ``None`` for
        a run one of whose chunks was refused. A chunk that could not be written raises
        ``StoreError`` here."""
        pending, self._pending = self._pending, []
        added: dict[str, int | None] = {}
        for run_id, future in pending:
            try:
                n = future.result()
            except OSError as exc:
                raise os_error_to_store_error(exc, "write a pulled log") from exc
            before = added.get(run_id, 0)
            added[run_id] = None if n is None or before is None else before + n
        return added

    def close(self) -> None:
        """Stop the thread once the chunks given are written (or, after an error, dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending = []
