"""Which run folders under ``home/runs/`` are orphans ``gc`` may delete (docs/store.md, "What
backprop deletes").

A folder is an orphan only if no store in the home knows its run (every installed store is
asked, not just the configured one), it carries the marker backprop writes when it creates a
run folder, it has not changed for ``ORPHAN_GRACE_S``, and no store was moved aside as corrupt
since the user last said so (``home/gc-hold.txt``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from backprop_core.store.contract import Store
from backprop_core.store.home import HOLD_NAME, Home, has_marker, is_valid_run_id
from backprop_core.store.ownership import Verdict

#: A run folder without a record is left alone this long: a run being created right now may
#: have made its folder a moment before its record.
ORPHAN_GRACE_S = 3600.0


def known_runs(home: Home, stores: Iterable[type[Store]]) -> tuple[set[str], list[str]]:
    """The ids every store knows under ``home``, and the names of stores that cannot tell."""
    ids: set[str] = set()
    unknown: list[str] = []
    for cls in stores:
        found = cls.run_ids_in(home.root)
        if found is None:
            unknown.append(cls.name)
        else:
            ids |= found
    return ids, unknown


def hold_reason(home: Home) -> str | None:
    """Why run folders are held (the last line of ``gc-hold.txt``), or ``None``."""
    try:
        lines = home.hold_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{HOLD_NAME} cannot be read ({exc.strerror})"
    return (lines[-1].split(". Until")[0] if lines else "") or f"{HOLD_NAME} exists"


def judge_folders(
    home: Home,
    stores: Iterable[type[Store]],
    *,
    release_hold: bool,
    now: float | None = None,
) -> list[Verdict]:
    """A verdict for each folder under ``runs/`` whose run no store knows."""
    runs_dir = home.runs_dir
    if not runs_dir.is_dir():
        return []
    known, blind = known_runs(home, stores)
    held = None if release_hold else hold_reason(home)
    now = time.time() if now is None else now
    out: list[Verdict] = []
    for folder in sorted(runs_dir.iterdir()):
        if not folder.is_dir() or folder.is_symlink() or not is_valid_run_id(folder.name):
            continue
        if folder.name in known:
            continue

        def verdict(action: str, reason: str, folder: Path = folder) -> Verdict:
            return Verdict(action, "run folder", str(folder), reason, folder.name)  # type: ignore[arg-type]

        if not has_marker(folder):
            out.append(verdict("keep", "no store knows it, but backprop did not mark it as made"))
        elif blind:
            out.append(verdict("keep", f"the {', '.join(blind)} store(s) cannot be read"))
        elif now - folder.stat().st_mtime < ORPHAN_GRACE_S:
            out.append(verdict("keep", "changed within the last hour"))
        elif held is not None:
            out.append(
                verdict("keep", f"held since {held}; run `backprop gc --orphans` once recovered")
            )
        else:
            out.append(verdict("delete", "no store knows its run and it is over an hour old"))
    return out


def folder_size(folder: Path) -> int:
    return sum(f.lstat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def delete_folder(folder: Path) -> int:
    """Delete an orphaned run folder (symlinks inside are removed, never followed)."""
    size = folder_size(folder)
    shutil.rmtree(folder)
    return size
