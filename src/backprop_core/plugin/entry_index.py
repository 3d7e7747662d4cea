"""Finding the ``backprop`` entry points, with an index cached per Python environment.

Scanning entry points means importing ``importlib.metadata`` (which pulls in ``email``,
``zipfile`` and more) and reading every installed distribution's ``entry_points.txt``: about
25 ms on every command and every ``bp.init()``. The result only changes when distributions are
installed, removed or reinstalled, so it is cached in the user cache folder under a fingerprint
of every ``*.dist-info`` / ``*.egg-info`` folder on ``sys.path`` (its place, name and
modification time; pip creates a new folder for every install). Any difference rescans.
``BACKPROP_PLUGIN_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from backprop_core.env_vars import env_flag

GROUP = "backprop"
#: Bumped when the cached layout changes, so an old file is never misread.
INDEX_VERSION = 1
_METADATA_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class PluginEntry:
    """One entry point of the ``backprop`` group and the distribution that declares it."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    def load(self) -> object:
        """Import the module (and attribute, for ``module:attr``) the entry point names."""
        # The same grammar as ``importlib.metadata.EntryPoint``: "module[:attr.attr] [extras]".
        module_name, _, attrs = self.value.partition("[")[0].partition(":")
        obj: object = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def cache_file() -> Path:
    """One index file per Python environment (interpreter prefix and version)."""
    import platformdirs

    key = zlib.crc32(f"{sys.prefix}\0{sys.version}".encode("utf-8", "surrogateescape"))
    folder = Path(platformdirs.user_cache_dir("backprop", appauthor=False))
    return folder / f"plugins-{key:08x}.json"


def metadata_folders(entry: str) -> list[os.DirEntry[str]]:
    """The ``*.dist-info`` / ``*.egg-info`` folders directly in the ``sys.path`` entry
    ``entry`` (``""`` is the working directory); none when it is missing.
    ``NotADirectoryError`` when it is a file (a zip or egg)."""
    try:
        scan = os.scandir(entry or ".")
    except NotADirectoryError:
        raise
    except OSError:
        return []
    with scan:
        return [item for item in scan if item.name.endswith(_METADATA_SUFFIXES)]


def fingerprint(path: list[str] | None = None) -> str:
    """Every distribution's metadata folder on ``path`` (default ``sys.path``): its folder,
    name and modification time, one per line (a zip file on the path: its own time). Kept as
    text (a few kB) rather than hashed so that no hashing module is imported at start-up."""
    lines: list[str] = []
    for entry in sys.path if path is None else path:
        try:
            folders = metadata_folders(entry)
        except NotADirectoryError:
            # A zip or egg on sys.path: its metadata is inside, so the file itself is the key.
            try:
                lines.append(f"{os.path.abspath(entry)} {os.stat(entry).st_mtime_ns}")
            except OSError:
                pass
            continue
        found: list[str] = []
        for item in folders:
            try:
                found.append(f"{item.name} {item.stat().st_mtime_ns}")
            except OSError:
                continue
        if found:
            lines.append(os.path.abspath(entry or "."))
            lines.extend(sorted(found))
    return "\n".join(lines)


def scan_entry_points() -> list[PluginEntry]:
    """Read the group from the installed distributions' metadata (the slow, exact way)."""
    from importlib import metadata

    entries: list[PluginEntry] = []
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        entries.append(
            PluginEntry(
                name=ep.name,
                value=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        )
    return entries


def _read_cache(file: Path, key: str) -> list[PluginEntry] | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if data.get("version") != INDEX_VERSION or data.get("fingerprint") != key:
            return None
        return [PluginEntry(**item) for item in data["entries"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # missing, unreadable or foreign: rescan


def _write_cache(file: Path, key: str, entries: list[PluginEntry]) -> None:
    payload = {
        "version": INDEX_VERSION,
        "fingerprint": key,
        "entries": [asdict(entry) for entry in entries],
    }
    tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, file)  # readers see the old index or the new one, never half of one
    except OSError:
        # A read-only or full cache folder only costs speed.
        try:
            tmp.unlink()
        except OSError:
            pass


def plugin_entries(*, refresh: bool = False) -> tuple[list[PluginEntry], bool]:
    """The group's entry points and whether they came from the cache. ``refresh`` rescans
    and rewrites the index even when it looks valid."""
    if not env_flag("BACKPROP_PLUGIN_CACHE", default=True):
        return scan_entry_points(), False
    key = fingerprint()
    file = cache_file()
    cached = None if refresh else _read_cache(file, key)
    if cached is not None:
        return cached, True
    entries = scan_entry_points()
    _write_cache(file, key, entries)
    return entries, False
