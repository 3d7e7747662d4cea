"""Parallel slots and GPU reservations as OS file locks under ``home/locks`` (lifecycle step 2
in docs/architecture.md).

A held ``flock`` belongs to an open file of a living process, so a crashed supervisor never
leaks a slot: the kernel releases its locks when it dies.

* ``slot-<n>.lock``: one per active run. The number of locked slot files is the number of
  active runs, whatever ``maxParallel`` each of them was started with.
* ``gpu-<index>.lock``: held by the run the GPU was handed to.
* ``queue/<time>-<pid>.ticket``: a waiting run's place in line, locked by its owner. Only the
  oldest live ticket may be admitted, so waiting runs start in arrival order; a ticket whose
  lock is free belongs to a dead waiter and is removed.
* ``admission.lock``: held briefly while counting, choosing and taking slots, so two runs never
  take the last slot together.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from backprop_core.store.files import exclusive_lock


def _try_lock(path: Path) -> int | None:
    """Open and exclusively lock ``path``; the fd, or ``None`` when someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _is_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Locks:
    """The lock folder of one home."""

    def __init__(self, locks_dir: Path) -> None:
        self.dir = Path(locks_dir)
        self.queue_dir = self.dir / "queue"
        self.queue_dir.mkdir(parents=True, exist_ok=True)

    def admission(self) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(self.dir / "admission.lock")

    def active_runs(self) -> int:
        return sum(1 for p in self.dir.glob("slot-*.lock") if _is_locked(p))

    def reserved_gpus(self) -> frozenset[int]:
        held = set()
        for p in self.dir.glob("gpu-*.lock"):
            with contextlib.suppress(ValueError):
                if _is_locked(p):
                    held.add(int(p.stem.split("-", 1)[1]))
        return frozenset(held)


class Ticket:
    """A waiting run's place in the admission queue (held until released)."""

    def __init__(self, locks: Locks) -> None:
        self.locks = locks
        name = f"{time.time_ns():020d}-{os.getpid()}.ticket"
        self.path = locks.queue_dir / name
        fd = _try_lock(self.path)
        if fd is None:  # pragma: no cover - a fresh unique name cannot be locked by others
            raise OSError(f"cannot lock {self.path}")
        self.fd: int | None = fd

    def is_first(self) -> bool:
        """True when no older live ticket exists (stale ones are removed on the way)."""
        for path in sorted(self.locks.queue_dir.glob("*.ticket")):
            if path == self.path:
                return True
            if _is_locked(path):
                return False
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return True

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            os.close(self.fd)
            self.fd = None


class Reservation:
    """A slot and GPU locks held by one session; ``release`` (or process death) frees them."""

    def __init__(self, fds: list[int], gpus: tuple[int, ...]) -> None:
        self.fds = fds
        self.gpus = gpus

    def release(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def take(locks: Locks, gpus: tuple[int, ...]) -> Reservation | None:
    """Take a free slot and the given GPUs (call under ``locks.admission()``).

    ``None`` when a GPU is already held (the caller waits and tries again).
    """
    fds: list[int] = []
    for index in gpus:
        fd = _try_lock(locks.dir / f"gpu-{index}.lock")
        if fd is None:
            for held in fds:
                os.close(held)
            return None
        fds.append(fd)
    n = 0
    while True:
        fd = _try_lock(locks.dir / f"slot-{n}.lock")
        if fd is not None:
            fds.append(fd)
            return Reservation(fds, gpus)
        n += 1
