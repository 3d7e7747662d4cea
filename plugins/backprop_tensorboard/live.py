"""Following event files while a script writes them: each ``poll`` gives the scalars appended
since the last one, as ``metrics`` events, so that a script that logs to TensorBoard gets its
charts in backprop without a change.

Each file is read from where the last poll stopped; a record the writer has not finished is
left for the next poll. Keys are the tags. During ``backprop run`` the ``tensorboard`` watcher
(``watcher.py``) polls it ("Live TensorBoard logs" in ``docs/interop.md``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backprop_core import Event
from backprop_tensorboard.event_file import protos, read_records
from backprop_tensorboard.scalars import ScalarDecoder
from backprop_tensorboard.scan import FolderScan

#: Where a script's event files are looked for, below its working directory.
DEFAULT_GLOBS = ("**/*tfevents*",)


@dataclass
class _Followed:
    """How far one followed event file has been read, and whether it was found damaged."""

    offset: int = 0
    decoder: ScalarDecoder | None = None
    damaged: bool = False


@dataclass
class EventFileTail:
    """The event files matching ``globs`` below ``root``, followed as they grow."""

    root: Path
    globs: Sequence[str] = DEFAULT_GLOBS
    session: int | None = None
    #: Folders never looked into (backprop's home).
    skip: Sequence[Path] = ()
    _files: dict[Path, _Followed] = field(default_factory=dict)
    #: One line per file found damaged (it is no longer read).
    problems: list[str] = field(default_factory=list)
    _scan: FolderScan | None = None

    def start_at_end(self) -> None:
        """Follow the files there now from their current end only: they were written before
        (by an earlier session, or another run), and their points are not this session's."""
        for path in self._paths():
            with contextlib.suppress(OSError):
                self._files[path] = _Followed(offset=path.stat().st_size)

    def poll(self) -> list[Event]:
        """The scalars written since the last poll, in file order, then record order."""
        events: list[Event] = []
        for path in self._paths():
            followed = self._files.setdefault(path, _Followed())
            if not followed.damaged:
                events += self._read(path, followed)
        return events

    def _paths(self) -> list[Path]:
        if self._scan is None:
            self._scan = FolderScan(self.root, self.globs, self.skip)
        return self._scan.files()

    def _read(self, path: Path, followed: _Followed) -> list[Event]:
        try:
            with open(path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < followed.offset:
                    # Shorter than what was read: the file was written anew from its start.
                    followed.offset = 0
                fh.seek(followed.offset)
                data = fh.read()
        except OSError:
            return []  # gone or unreadable for now; tried again next poll
        if not data:
            return []
        records = read_records(data)
        followed.offset += records.end
        if records.damage is not None:
            followed.damaged = True
            self.problems.append(f"{path}: {records.damage}; it is no longer followed")
        if followed.decoder is None:
            followed.decoder = ScalarDecoder(protos())
        read = followed.decoder.read
        events = []
        for record in records.data:
            wall_time, step, values = read(record)
            if values:
                events.append(Event("metrics", wall_time, step, {"data": values}, self.session))
        return events
