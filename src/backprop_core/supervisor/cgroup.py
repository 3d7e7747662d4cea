"""A cgroup (v2) of its own for one session's process tree, where the machine offers one.

Signals reach only the processes one can find, and a descendant that clears its environment
and forks twice within a poll can leave no trace. A cgroup holds every descendant whatever it
does (short of having the rights to move itself out), and ``cgroup.kill`` kills them all at
once, including the ones forking at that moment. So when the supervisor is killed, the guardian
kills the session's cgroup and nothing survives; at a normal end the supervisor does the same
for whatever the script left behind.

Available where cgroup v2 is mounted and writable (usually: root) and the kernel has
``cgroup.kill`` (Linux 5.14). Elsewhere, or with ``BACKPROP_CGROUP=0``, ``create`` returns
``None`` and the supervisor and guardian track processes as before (see ``guardian``).

The session's cgroup is created under the supervisor's own, so every limit that applies to the
supervisor still applies to the run. The child joins it between fork and exec by writing to an
already opened ``cgroup.procs`` (a single ``write``, safe in a ``preexec_fn``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from backprop_core.env_vars import env_flag

REMOVE_WAIT_SECONDS = 5.0


def _cgroup2_root() -> Path | None:
    """Where this process's own cgroup v2 folder is, or ``None``."""
    try:
        own = next(
            line[3:].strip()
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if line.startswith("0::")
        )
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except (OSError, StopIteration):
        return None
    for line in mounts:
        fields, _, fs = line.partition(" - ")
        parts = fields.split()
        if not fs.startswith("cgroup2 ") or len(parts) < 5:
            continue
        root, mount_point = parts[3], parts[4]
        if own == root or own.startswith(root.rstrip("/") + "/"):
            return Path(mount_point) / own[len(root.rstrip("/")) :].lstrip("/")
    return None


class RunCgroup:
    """One session's cgroup: ``join_fd`` for the child, ``kill`` and ``remove`` for the end."""

    def __init__(self, path: Path, join_fd: int) -> None:
        self.path = path
        self.join_fd = join_fd

    @classmethod
    def create(cls, name: str) -> RunCgroup | None:
        """A new cgroup ``name`` under this process's own, or ``None`` where that is not
        possible (no cgroup v2, no permission, no ``cgroup.kill``, switched off)."""
        if sys.platform != "linux" or not env_flag("BACKPROP_CGROUP", True):
            return None
        base = _cgroup2_root()
        if base is None:
            return None
        path = base / name
        try:
            path.mkdir()
        except OSError:
            return None
        try:
            if not (path / "cgroup.kill").exists():
                raise OSError("no cgroup.kill")
            fd = os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path, fd)

    def kill(self) -> None:
        """SIGKILL every process in the cgroup, at once."""
        kill(self.path)

    def remove(self) -> None:
        """Kill what is left, wait for the cgroup to empty and remove it (best effort)."""
        with contextlib.suppress(OSError):
            os.close(self.join_fd)
        remove(self.path)


def kill(path: Path) -> None:
    with contextlib.suppress(OSError):
        (path / "cgroup.kill").write_text("1")


def populated(path: Path) -> bool:
    try:
        events = (path / "cgroup.events").read_text()
    except OSError:
        return False
    return "populated 1" in events


def remove(path: Path, wait: float = REMOVE_WAIT_SECONDS) -> None:
    """``kill``, then remove the folder once no process is left in it (or give up after
    ``wait`` seconds: a process stuck in the kernel keeps the cgroup, which does no harm)."""
    if not path.is_dir():
        return
    kill(path)
    deadline = time.monotonic() + wait
    while populated(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    with contextlib.suppress(OSError):
        path.rmdir()
