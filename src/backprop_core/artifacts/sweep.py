"""Which artifact objects ``gc`` deletes (docs/artifacts.md, "What gc deletes").

An object is deleted only when no artifact version of any store in the home holds it (a
folder's manifest counts for its files), and it cannot be one a live run has just stored and
is about to record: objects stored since the oldest active run began are kept. Read-only
checkouts of contents no version holds go too, and temporary files left over an hour ago by a
writer that died. Everything happens under the object store's exclusive lock, so no writer is
between storing bytes and recording them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from backprop_core.artifacts.objects import ObjectStore
from backprop_core.store.contract import Store
from backprop_core.store.home import Home
from backprop_core.store.orphans import ORPHAN_GRACE_S
from backprop_core.store.ownership import Verdict

#: How every manifest begins (canonical JSON, keys sorted): tells one from a file cheaply.
MANIFEST_HEAD = b'{"files":['


def referenced(objects: ObjectStore, stores: Iterable[type[Store]]) -> tuple[set[str], list[str]]:
    """Every digest some version of some store needs, and the stores that cannot tell."""
    digests: set[str] = set()
    blind: list[str] = []
    for cls in stores:
        found = cls.artifact_digests_in(objects.home)
        if found is None:
            blind.append(cls.name)
        else:
            digests |= found
    for digest in list(digests):
        path = objects.path_of(digest)
        try:
            with open(path, "rb") as fh:
                if fh.read(len(MANIFEST_HEAD)) != MANIFEST_HEAD:
                    continue
            digests.update(e.digest for e in objects.read_manifest(digest))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return digests, blind


def judge(
    home: Home, stores: Iterable[type[Store]], store: Store, now: float | None = None
) -> list[Verdict]:
    """A verdict for every object, checkout and temporary file no version needs."""
    objects = ObjectStore(home.root)
    if not objects.root.is_dir():
        return []
    now = time.time() if now is None else now
    needed, blind = referenced(objects, stores)
    if blind:
        why = f"the {', '.join(blind)} store(s) cannot be read"
        return [Verdict("keep", "artifact objects", str(objects.objects), why)]
    active = store.active_runs()
    since = min((r.created_at for r in active), default=None)

    def fresh(st: os.stat_result) -> bool:
        return since is not None and st.st_ctime >= since - 1

    out: list[Verdict] = []
    for digest, path in objects.iter_objects():
        if digest in needed:
            continue
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            continue
        if fresh(st):
            reason = "stored while a run is active, which may be about to record it"
            out.append(Verdict("keep", "artifact object", str(path), reason))
            continue
        why = "no artifact version holds it"
        out.append(Verdict("delete", "artifact object", str(path), why, bytes=st.st_size))
    for kind in ("file", "folder"):
        where = objects.checkouts / kind
        for folder in sorted(where.iterdir()) if where.is_dir() else []:
            if f"sha256:{folder.name}" in needed or folder.is_symlink() or fresh(folder.lstat()):
                continue
            why = "a read-only copy of content no version holds"
            out.append(Verdict("delete", "artifact checkout", str(folder), why))
    for tmp in sorted(objects.tmp.iterdir()) if objects.tmp.is_dir() else []:
        st = tmp.lstat()
        if stat.S_ISREG(st.st_mode) and now - st.st_mtime > ORPHAN_GRACE_S:
            why = "left over an hour ago by a writer that stopped"
            out.append(Verdict("delete", "temporary file", str(tmp), why, bytes=st.st_size))
    return out


def sweep(
    home: Home, stores: Iterable[type[Store]], store: Store, dry_run: bool
) -> tuple[list[Verdict], int]:
    """Judge, then (unless ``dry_run``) delete, under the exclusive lock; (verdicts, bytes)."""
    objects = ObjectStore(home.root)
    if not objects.root.is_dir():
        return [], 0
    lock = contextlib.nullcontext() if dry_run else objects.lock(exclusive=True)
    freed = 0
    with lock:
        verdicts = judge(home, stores, store)
        for verdict in verdicts:
            if verdict.action != "delete":
                continue
            freed += verdict.bytes
            if dry_run:
                continue
            path = Path(verdict.path)
            with contextlib.suppress(FileNotFoundError):
                if verdict.what == "artifact checkout":
                    shutil.rmtree(path)
                else:
                    path.unlink()
    return verdicts, freed
