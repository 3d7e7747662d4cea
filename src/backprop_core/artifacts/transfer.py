"""Moving bytes into the object store without needless copies: hashing, copying while hashing
in one pass, and reflinks (copy-on-write clones, where the filesystem offers them).

Every function reads through one reusable buffer with ``readinto``, so hashing a large file
costs what ``sha256sum`` costs and no more.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable

CHUNK = 1 << 20  # 1 MiB reads: large enough that the per-call cost vanishes
#: ``ioctl(dst, FICLONE, src)``: the whole file as a copy-on-write clone (Linux: btrfs, XFS
#: with reflink, bcachefs…). Other filesystems refuse it and the caller copies.
FICLONE = 0x40049409


def _advise_sequential(fd: int) -> None:
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):
            advise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)


def _pump(src: int, sink: Callable[[memoryview], None]) -> tuple[str, int]:
    """Read ``src`` to its end, handing each chunk to ``sink``; (sha256 hex, bytes read)."""
    _advise_sequential(src)
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    total = 0
    with open(src, "rb", buffering=0, closefd=False) as fh:
        while True:
            n = fh.readinto(buffer)
            if not n:
                break
            chunk = view[:n]
            digest.update(chunk)
            sink(chunk)
            total += n
    return digest.hexdigest(), total


def hash_fd(fd: int) -> tuple[str, int]:
    """The SHA-256 (hex) and length of what ``fd`` holds from its current offset."""
    return _pump(fd, lambda chunk: None)


def hash_path(path: str | os.PathLike[str]) -> tuple[str, int]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return hash_fd(fd)
    finally:
        os.close(fd)


def copy_hashing(src: int, dst: int) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` and hash what was copied, in one pass over the bytes."""

    def write(chunk: memoryview) -> None:
        while chunk:
            written = os.write(dst, chunk)
            chunk = chunk[written:]

    return _pump(src, write)


def reflink(src: int, dst: int) -> bool:
    """Clone ``src`` into the empty file ``dst`` copy-on-write; ``False`` where the filesystem
    (or the platform) cannot, and then ``dst`` is left empty."""
    try:
        import fcntl

        fcntl.ioctl(dst, FICLONE, src)
        return True
    except (OSError, ImportError, AttributeError):
        return False
