"""What backprop may delete (docs/store.md, "What backprop deletes").

Deleting is only ever allowed for a regular file (never a directory, never a symlink or what it
points to) that is inside the run's own folder, or that backprop saw the run create: at
announcement it recorded the file's identity (``events.file_identity``), and the file at that
path still has it. A file referenced by any kept checkpoint, of any run, is never deleted.
Everything else is *forgotten*: the record goes, the file stays.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from backprop_core.events.file_identity import FileIdentity, announced_path, is_inside
from backprop_core.store.home import Home
from backprop_core.store.records import CheckpointRecord, RunRecord

Action = Literal["delete", "forget", "keep"]


@dataclass(frozen=True)
class Verdict:
    """What ``gc`` does with one checkpoint or run folder, and why (one line of its report).

    ``delete``: the file or folder goes, with its record; ``forget``: only the record goes;
    ``keep``: nothing changes.
    """

    action: Action
    what: Literal["checkpoint", "run folder"]
    path: str
    reason: str
    run: str | None = None
    bytes: int = 0
    #: The file to delete and the identity it must still have (``None``: inside the run's
    #: folder, where being a regular file suffices).
    target: str | None = None
    identity: FileIdentity | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["target"], data["identity"]
        return data


def is_imported(run: RunRecord) -> bool:
    """Runs brought in by ``backprop import`` own no files: nothing saw them being made."""
    return "imported-from" in run.tags


class KeptCheckpoints:
    """The checkpoints ``gc`` keeps, of every run: their files are never deleted."""

    def __init__(self) -> None:
        self._files: dict[str, str] = {}  # real path -> a run that keeps it
        self._records: set[tuple[str, str]] = set()  # (run id, path as recorded)

    def add(self, run: RunRecord, checkpoints: Iterable[CheckpointRecord]) -> None:
        for c in checkpoints:
            self._records.add((run.id, c.path))
            target = announced_path(c.path, run.cwd)
            with contextlib.suppress(ValueError):  # a path no file can have (a NUL byte)
                if target.is_absolute():
                    self._files.setdefault(os.path.realpath(target), run.id)

    def holder(self, real: str) -> str | None:
        return self._files.get(real)

    def has_record(self, run: RunRecord, path: str) -> bool:
        return (run.id, path) in self._records


def judge_checkpoint(
    c: CheckpointRecord, run: RunRecord, home: Home, kept: KeptCheckpoints
) -> Verdict:
    """What happens to a checkpoint ``gc`` would prune (beyond the newest kept ones)."""

    def verdict(action: Action, reason: str, path: str, **more: Any) -> Verdict:
        return Verdict(action, "checkpoint", path, reason, run.id, **more)

    target = announced_path(c.path, run.cwd)
    if kept.has_record(run, c.path):  # an older record of a path the run still keeps
        return verdict("keep", "a newer checkpoint of this run has the same path", str(target))
    if is_imported(run):
        return verdict("forget", "imported runs own no files", str(target))
    if not target.is_absolute():
        return verdict("forget", "a relative path, and the run has no working folder", c.path)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return verdict("forget", "the file no longer exists", str(target))
    except OSError as exc:
        return verdict("forget", f"cannot be examined ({exc.strerror})", str(target))
    except ValueError:
        return verdict("forget", "not a path a file can have", repr(c.path))
    if stat.S_ISLNK(st.st_mode):
        return verdict("forget", "a symbolic link: not it, nor its target", str(target))
    if stat.S_ISDIR(st.st_mode):
        return verdict("forget", "a directory: backprop never deletes directories", str(target))
    if not stat.S_ISREG(st.st_mode):
        return verdict("forget", "not a regular file", str(target))
    real = os.path.realpath(target)
    holder = kept.holder(real)
    if holder is not None:
        whose = "this run" if holder == run.id else f"run {holder}"
        return verdict("forget", f"the file is a kept checkpoint of {whose}", real)
    folder = os.path.realpath(home.run_dir(run.id))
    if is_inside(real, folder):
        if Home.is_record_file(Path(real), Path(folder)):
            return verdict("forget", "one of backprop's own records of the run", real)
        return verdict("delete", "inside the run's folder", real, bytes=st.st_size, target=real)
    if run.origin:  # what a pull brought is inside the run's folder; the rest is not ours
        return verdict("forget", "runs pulled from another machine own no files outside", real)
    if is_inside(real, os.path.realpath(home.root)):
        return verdict("forget", "inside the backprop home but not the run's folder", real)
    if c.file is None:
        return verdict("forget", "outside the run's folder, not seen being created by it", real)
    if c.file.path != real or not c.file.matches(os.lstat(real)):
        return verdict("forget", "changed since the run announced it", real)
    return verdict(
        "delete",
        "created by the run and unchanged since",
        real,
        bytes=st.st_size,
        target=real,
        identity=c.file,
    )


def delete_file(path: str, identity: FileIdentity | None) -> int:
    """Unlink the regular file ``path`` if it still is one (and still has ``identity`` when
    given), checked through a handle on its folder so that no symlink swapped in since can
    redirect the deletion. Returns the bytes freed (0 when it was not deleted)."""
    folder, name = os.path.split(path)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(folder, flags)
    except OSError:
        return 0
    try:
        if os.path.realpath(f"/proc/self/fd/{fd}") != folder and os.path.isdir("/proc/self/fd"):
            return 0  # a symlinked folder came in between
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or (identity is not None and not identity.matches(st)):
            return 0
        os.unlink(name, dir_fd=fd)
        return st.st_size
    except OSError:
        return 0
    finally:
        os.close(fd)
