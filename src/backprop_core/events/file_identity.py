"""What backprop saw of a checkpoint file when the run announced it (docs/store.md, "What
backprop deletes").

The supervisor (or the SDK recording a run itself) stats each announced checkpoint on arrival
and attaches a ``FileIdentity`` to the event; a script cannot supply one. ``gc`` deletes a file
outside the run's folder only while the file at that path still has the same device, inode,
size and modification time, so a file the run did not create, or that changed since, is kept.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backprop_core.events.event import Event
    from backprop_core.events.ingest import MetricLines


@dataclass(frozen=True)
class FileIdentity:
    """A regular file as seen at announcement: its real path (no symlinks) and what tells that
    it is still the same file."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "device": self.device,
            "inode": self.inode,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
        }

    @classmethod
    def from_dict(cls, data: Any) -> FileIdentity | None:
        """The identity stored as ``data``; ``None`` for anything that is not one."""
        if isinstance(data, FileIdentity):
            return data
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            return None
        numbers = [data.get(k) for k in ("device", "inode", "size", "mtime_ns")]
        if not all(type(n) is int for n in numbers):
            return None
        return cls(data["path"], *numbers)  # type: ignore[arg-type]

    def matches(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            self.device,
            self.inode,
            self.size,
            self.mtime_ns,
        )


def announced_path(path: str, cwd: str | os.PathLike[str] | None) -> Path:
    """A checkpoint path as the script announced it, made absolute against the run's cwd
    (``~`` expanded), without resolving symlinks."""
    p = Path(path).expanduser()
    if not p.is_absolute() and cwd:
        p = Path(cwd) / p
    return p


def is_inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``folder`` or below it (both taken literally, already resolved)."""
    return os.path.commonpath([os.fspath(path), os.fspath(folder)]) == os.fspath(folder)


def identify(
    path: str,
    cwd: str | os.PathLike[str] | None,
    created_after: float,
    home: str | os.PathLike[str],
) -> FileIdentity | None:
    """The identity of the file ``path`` names if the run may own it: a regular file (not a
    symlink), changed in the inode (created, written or renamed) after ``created_after``, and not
    under the backprop home (files there belong to backprop, or to a run's own folder, which
    needs no identity). ``None`` otherwise, including when the file does not exist yet."""
    target = announced_path(path, cwd)
    if not target.is_absolute():
        return None
    try:
        st = os.lstat(target)
        # A file changed before the run existed is not the run's. (Coarse timestamps, as on
        # FAT, can only make a file look older: then it is forgotten, never wrongly deleted.)
        if not stat.S_ISREG(st.st_mode) or st.st_ctime < created_after:
            return None
        real = os.path.realpath(target)
        if is_inside(real, os.path.realpath(home)):
            return None
        if real != os.path.normpath(target):
            st = os.lstat(real)  # the same inode, reached without the symlinked folders
            if not stat.S_ISREG(st.st_mode):
                return None
    except (OSError, ValueError):
        return None
    return FileIdentity(real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def witness(
    items: Sequence[Event | MetricLines],
    cwd: str | os.PathLike[str] | None,
    created_after: float,
    home: str | os.PathLike[str],
) -> list[Event | MetricLines]:
    """``items`` with each ``checkpoint_saved`` event carrying what ``identify`` saw of its file.

    Called where backprop receives the run's events (the supervisor, the standalone SDK), never
    for events from elsewhere (an import), so only files seen at a run's announcement qualify.
    """
    from backprop_core.events.event import Event

    if not any(isinstance(i, Event) and i.kind == "checkpoint_saved" for i in items):
        return list(items)
    out: list[Event | MetricLines] = []
    for item in items:
        if isinstance(item, Event) and item.kind == "checkpoint_saved":
            path = item.payload.get("path")
            found = identify(path, cwd, created_after, home) if isinstance(path, str) else None
            item = replace(item, file=found)
        out.append(item)
    return out
