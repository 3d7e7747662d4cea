"""Finding the event files below a script's working directory at every poll, cheaply.

A working directory can hold a dataset of a million files beside the logs, and symbolic links
into other trees (or into itself). ``glob`` would list every folder at every poll and follow
those links. Here a folder is listed again only when its modification time changed since it was
listed (adding, removing or renaming an entry changes it), or when it was listed so soon after
that change that another one within the same tick of a coarse clock could hide behind it (git
does the same for its index). Links to folders are not followed, folders more than
``MAX_DEPTH`` levels down are not looked into, nor are the skipped ones (backprop's home).

Patterns match as ``glob`` matches them: ``*``, ``?`` and ``[…]`` within one name, a ``**``
part for any number of folders, and names that start with a dot only by a part that does too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

#: Folders below the working directory looked into, at most (Lightning writes at depth 2,
#: Hydra's dated output folders put logs at 4 or 5).
MAX_DEPTH = 8
#: A listing taken less than this after its folder last changed is not trusted to be complete.
RACY_NS = 2_000_000_000
#: Only these files are event files (``events.out.tfevents.…``).
MARK = "tfevents"


def _name_matches(name: str, part: str) -> bool:
    return (part.startswith(".") or not name.startswith(".")) and fnmatchcase(name, part)


def matches(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether the relative path ``parts`` matches the glob ``pattern`` (split in parts)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        rest = pattern[1:]
        for i in range(len(parts) + 1):
            if matches(parts[i:], rest):
                return True
            if i < len(parts) and parts[i].startswith("."):
                return False  # ``**`` crosses no hidden folder
        return False
    return bool(parts) and _name_matches(parts[0], pattern[0]) and matches(parts[1:], pattern[1:])


def may_hold(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether something inside the folder ``parts`` could match ``pattern``."""
    if not parts:
        return len(pattern) > 0
    if not pattern:
        return False
    if pattern[0] == "**":
        return not parts[0].startswith(".") or may_hold(parts, pattern[1:])
    return _name_matches(parts[0], pattern[0]) and may_hold(parts[1:], pattern[1:])


@dataclass
class _Listing:
    """One folder as last listed: its modification time then, when it was listed, and the
    folders to look into and the event files found in it."""

    mtime_ns: int
    listed_ns: int
    folders: list[str]
    files: list[str]


class FolderScan:
    """The event files below ``root`` matching ``globs``; ``files()`` at each poll."""

    def __init__(self, root: Path, globs: Sequence[str], skip: Sequence[Path] = ()) -> None:
        self.root = root
        self.patterns = [PurePosixPath(g).parts for g in globs]
        self.skip = {os.path.realpath(s) for s in skip}
        self._listings: dict[str, _Listing] = {}
        #: Folders listed by the last ``files()`` (the others were known and unchanged).
        self.listed = 0

    def files(self) -> list[Path]:
        found: list[Path] = []
        seen: set[str] = set()
        self.listed = 0
        stack: list[tuple[str, tuple[str, ...]]] = [(str(self.root), ())]
        while stack:
            folder, rel = stack.pop()
            listing = self._listing(folder, rel)
            if listing is None:
                continue
            seen.add(folder)
            for name in listing.files:
                if any(matches((*rel, name), p) for p in self.patterns):
                    found.append(Path(folder, name))
            if len(rel) < MAX_DEPTH:
                stack += [(os.path.join(folder, name), (*rel, name)) for name in listing.folders]
        for gone in self._listings.keys() - seen:
            del self._listings[gone]
        return sorted(found)

    def _listing(self, folder: str, rel: tuple[str, ...]) -> _Listing | None:
        try:
            mtime_ns = os.stat(folder).st_mtime_ns
        except OSError:
            return None
        known = self._listings.get(folder)
        if known and known.mtime_ns == mtime_ns and known.listed_ns - mtime_ns > RACY_NS:
            return known
        listed_ns = time.time_ns()
        folders: list[str] = []
        files: list[str] = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if self._enter(entry.path, (*rel, entry.name)):
                                folders.append(entry.name)
                        elif MARK in entry.name and entry.is_file():
                            files.append(entry.name)
                    except OSError:
                        continue
        except OSError:
            return None
        self.listed += 1
        self._listings[folder] = listing = _Listing(mtime_ns, listed_ns, folders, files)
        return listing

    def _enter(self, path: str, parts: tuple[str, ...]) -> bool:
        if not any(may_hold(parts, p) for p in self.patterns):
            return False
        return not self.skip or os.path.realpath(path) not in self.skip
