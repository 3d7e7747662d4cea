"""Polling a folder tree for the files that match some globs, cheaply enough to do every few
seconds under a tree of tens of thousands of files.

Each poll stats every watched folder, but lists a folder again only when its modification time
changed (a file was created, removed or renamed in it) or is too recent to trust; then it stats
the matching files, since a file rewritten in place changes only its own times. Folders deeper
than ``max_depth``, hidden ones (``.git``, ``.venv``…), virtual environments, ``node_modules``,
``__pycache__``, installed packages and the backprop home are never entered.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Folder names never entered, besides hidden ones.
SKIPPED_NAMES = frozenset({"node_modules", "__pycache__", "site-packages", "dist-packages"})
#: A folder holding one of these is a Python environment.
ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")
#: A folder changed less than this long ago is listed again: file systems with coarse
#: timestamps can give two changes a second apart the same modification time.
RECENT_NS = 2_000_000_000
#: Folders watched at most; the rest of a larger tree is left out.
MAX_FOLDERS = 20_000


@dataclass
class _Folder:
    """One watched folder as last listed: its modification time, its subfolders and the
    matching files in it."""

    mtime_ns: int
    subfolders: list[str]
    files: list[str]  # matching files, relative to the root


class TreeScan:
    """The files under ``root`` matching ``globs`` (read as in a ``.gitignore``: ``*.pt``
    matches at any depth, ``out/*.pt`` only directly in ``out``), with their ``os.stat``."""

    def __init__(
        self, root: Path, globs: Sequence[str], max_depth: int, skip: Iterable[Path] = ()
    ) -> None:
        import pathspec  # only sessions that watch pay for it

        self.root = str(root)
        self.max_depth = max_depth
        self._match = pathspec.GitIgnoreSpec.from_lines(globs).match_file
        self._skip = {os.path.normpath(p) for p in skip}
        self._skip |= {os.path.realpath(p) for p in self._skip}
        self._folders: dict[str, _Folder] = {}
        #: Whether the last scan stopped at ``MAX_FOLDERS``.
        self.truncated = False

    def folder_mtime_ns(self, rel: str) -> int | None:
        """The modification time of a watched folder as of the last scan."""
        folder = self._folders.get(rel)
        return folder.mtime_ns if folder is not None else None

    def scan(self) -> dict[str, os.stat_result]:
        """Every matching file now, by its path relative to the root."""
        now = time.time_ns()
        seen: dict[str, _Folder] = {}
        found: dict[str, os.stat_result] = {}
        stack: list[tuple[str, int]] = [("", 0)]
        self.truncated = False
        while stack:
            rel, depth = stack.pop()
            path = os.path.join(self.root, rel) if rel else self.root
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                continue
            folder = self._folders.get(rel)
            if folder is None or folder.mtime_ns != mtime or now - mtime < RECENT_NS:
                folder = self._list(path, rel, mtime)
            seen[rel] = folder
            for name in folder.files:
                try:
                    found[name] = os.stat(os.path.join(self.root, name))
                except OSError:
                    continue
            if depth < self.max_depth:
                stack.extend((sub, depth + 1) for sub in folder.subfolders)
            if len(seen) >= MAX_FOLDERS:
                self.truncated = bool(stack)
                break
        self._folders = seen
        return found

    def _list(self, path: str, rel: str, mtime: int) -> _Folder:
        subfolders: list[str] = []
        files: list[str] = []
        prefix = rel + "/" if rel else ""
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    name = prefix + entry.name
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if not self._skipped(entry):
                                subfolders.append(name)
                        elif entry.is_file() and self._match(name):
                            files.append(name)
                    except OSError:
                        continue
        except OSError:
            pass
        return _Folder(mtime, subfolders, files)

    def _skipped(self, entry: os.DirEntry[str]) -> bool:
        name = entry.name
        if name.startswith(".") or name in SKIPPED_NAMES:
            return True
        if os.path.normpath(entry.path) in self._skip:
            return True
        return any(os.path.exists(os.path.join(entry.path, m)) for m in ENVIRONMENT_MARKERS)
