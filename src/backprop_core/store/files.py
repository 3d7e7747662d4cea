"""File-level safety shared by the stores: exclusive locks, atomic replace, moving a corrupt
store file aside (never emptying it), and proving a home is writable before a run starts."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from backprop_core.errors import StoreError, StoreFull
from backprop_core.store.home import HOLD_NAME, Home

#: Errors that mean "no space left", whatever else the OS or SQLite calls them.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: A folder with less free space than this, after a write failed, counts as full.
FULL_BELOW_BYTES = 1 << 20
DISK_FULL_HINT = "disk full: free some space, or set BACKPROP_HOME to another disk"

_WHAT_TO_DO = {
    errno.EROFS: "the disk is read-only; set BACKPROP_HOME or --home to a writable folder",
    errno.EACCES: "permission denied; set BACKPROP_HOME or --home to a folder you can write",
    errno.EPERM: "permission denied; set BACKPROP_HOME or --home to a folder you can write",
    errno.ENOSPC: DISK_FULL_HINT,
    errno.EDQUOT: "disk full (quota exceeded): free some space, or set BACKPROP_HOME elsewhere",
    errno.ENOTDIR: "a file is in the way; set BACKPROP_HOME or --home to a folder",
    errno.EEXIST: "a file is in the way; set BACKPROP_HOME or --home to a folder",
}


def os_error_to_store_error(exc: OSError, what: str) -> StoreError:
    """A one-line ``StoreError`` saying what failed and what to do about it."""
    hint = _WHAT_TO_DO.get(exc.errno or 0, "check the folder and set BACKPROP_HOME if needed")
    where = f" {exc.filename}" if exc.filename else ""
    cls = StoreFull if exc.errno in NO_SPACE_ERRNOS else StoreError
    return cls(f"cannot {what}{where}: {exc.strerror or exc}", hint=hint)


def disk_is_full(folder: Path) -> bool:
    """Whether the filesystem holding ``folder`` has (almost) no space or inodes left: how a
    vague failure (SQLite's "disk I/O error") is recognised as a full disk."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW_BYTES or (st.f_files > 0 and st.f_favail == 0)


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk is full: ``StoreFull``, or an
    ``OSError`` with ENOSPC or EDQUOT (a store plugin that wraps it keeps the cause)."""
    seen: BaseException | None = exc
    for _ in range(16):  # a chain is short; the bound only guards against a strange one
        if seen is None:
            break
        if isinstance(seen, StoreFull):
            return True
        if isinstance(seen, OSError) and seen.errno in NO_SPACE_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing). Released if we die; never
    inherited by the programs we start (they would hold it after we are gone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


class NotARegularFile(OSError):
    """The path to replace is a symlink, FIFO, device, socket or folder: left as it is."""


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A new file that takes the place of ``path`` when the block ends without an error, so
    readers see the old file or the new one, never a mix.

    The new file is created exclusively under a random name in the same folder
    (``tempfile.mkstemp``): nothing planted at a predictable name is followed. It gets the old
    file's mode (and owner, where allowed), or the usual mode of a new file. Only a regular
    file is ever replaced: anything else at ``path`` (a symlink, FIFO, device node, socket or
    folder) raises ``NotARegularFile`` and is left alone. On an error the new file is removed.
    """
    import stat
    import tempfile

    try:
        old: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        old = None
    if old is not None and not stat.S_ISREG(old.st_mode):
        raise NotARegularFile(errno.EEXIST, "exists and is not a regular file", str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(OSError):
                        os.fchown(fd, old.st_uid, old.st_gid)
            else:
                os.fchmod(fd, 0o666 & ~_umask())
            yield fh
            fh.flush()
            os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a mix (see
    ``replacing``)."""
    with replacing(path) as fh:
        fh.write(data)


def backup_name(path: Path, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    candidate = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    return candidate


def move_aside(
    home: Home,
    path: Path,
    *,
    probe: Callable[[Path], bool],
    extra_suffixes: tuple[str, ...] = (),
) -> Path | None:
    """Rename the corrupt store file ``path`` to ``<name>.corrupt-<timestamp>``.

    Done under the home's store lock, after ``probe(path)`` confirms it is still unreadable, so
    that two processes finding the same corruption never move aside a store another one has just
    recreated. Returns the backup path, or ``None`` when someone else already dealt with it.
    """
    try:
        with exclusive_lock(home.locks_dir / "store.lock"):
            if not path.exists() or not probe(path):
                return None
            backup = backup_name(path)
            hold_run_folders(home, f"{path.name} was unreadable and was moved to {backup.name}")
            os.replace(path, backup)
            for suffix in extra_suffixes:
                side = path.with_name(path.name + suffix)
                if side.exists():
                    os.replace(side, backup.with_name(backup.name + suffix))
            return backup
    except OSError as exc:
        raise os_error_to_store_error(exc, "move the corrupt store aside") from exc


def hold_run_folders(home: Home, why: str) -> None:
    """Keep ``gc`` from deleting run folders (``home/gc-hold.txt``): the runs of a store moved
    aside are listed nowhere until it is recovered, so their folders look orphaned."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(home.hold_file, "a", encoding="utf-8") as fh:
        fh.write(
            f"{stamp}: {why}. Until this file is deleted, or `backprop gc --orphans` is run,"
            " `backprop gc` deletes no run folder.\n"
        )
        fh.flush()
        os.fsync(fh.fileno())


def warn_moved_aside(path: Path, backup: Path) -> None:
    print(
        f"backprop: warning: the run store {path.name} was unreadable and has been moved to "
        f"{backup}; a new, empty store was started (the old file is kept for recovery, and "
        f"`backprop gc` keeps every run folder until you delete {path.parent / HOLD_NAME})",
        file=sys.stderr,
    )


def check_folder_writable(home: Home) -> None:
    """Raise a one-line ``StoreError`` unless files can be created and synced under ``home``."""
    probe = home.runs_dir / f".write-check-{os.getpid()}"
    try:
        home.ensure()
        with open(probe, "wb") as fh:
            fh.write(b"backprop write check\n" * 64)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise os_error_to_store_error(exc, "write to the backprop home") from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
