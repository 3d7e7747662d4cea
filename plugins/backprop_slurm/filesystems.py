"""Whether the home is on a network filesystem: SQLite's write-ahead log keeps its index in
shared memory that only processes of one machine can share, so a SQLite home written by jobs on
several nodes over NFS, Lustre or GPFS can be corrupted (docs/slurm.md, "The home")."""

from __future__ import annotations

from pathlib import Path

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "lustre", "gpfs", "cifs", "smb3", "smbfs", "beegfs", "ceph", "glusterfs",
     "fuse.glusterfs", "fuse.sshfs", "fuse.cephfs", "9p", "afs", "orangefs", "pvfs2"}
)  # fmt: skip


def _unescape(field: str) -> str:
    # /proc/mounts writes spaces, tabs, newlines and backslashes as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_of(path: Path, mounts: str | None = None) -> str | None:
    """The type of the filesystem ``path`` is on (the longest mount point above it)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = str(path.resolve())
    best, kind = "", None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = _unescape(parts[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def network_filesystem(path: Path, mounts: str | None = None) -> str | None:
    """The network filesystem ``path`` is on, or ``None``."""
    kind = filesystem_of(path, mounts)
    return kind if kind in NETWORK_FILESYSTEMS else None
