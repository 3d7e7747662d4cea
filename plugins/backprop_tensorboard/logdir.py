"""Which runs a TensorBoard log folder holds, as TensorBoard itself sees them: every folder
with event files (a name containing ``tfevents``) is a run, named by its path below the log
folder (``lightning_logs/version_0``), its files read in name order. A folder that backprop
exported (``backprop-run.json``) is one run with all its subfolders, each file in its session."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backprop_tensorboard.export import SIDECAR, SIDECAR_FORMAT


@dataclass
class RunFolder:
    """A folder of event files that imports as one run."""

    folder: Path
    label: str
    #: Event files in the order they are read, each with its session number.
    files: list[tuple[Path, int]] = field(default_factory=list)
    #: What backprop wrote beside the event files it exported, if it did.
    sidecar: dict[str, Any] | None = None


def is_event_file(name: str) -> bool:
    return "tfevents" in name and not name.startswith(".")


def has_event_files(path: Path) -> bool:
    """Whether ``path`` is an event file or a folder holding one, at any depth."""
    if path.is_file():
        return is_event_file(path.name)
    for _, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(is_event_file(name) for name in files):
            return True
    return False


def _sidecar(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        return None
    return data


def _label(root: Path, folder: Path) -> str:
    relative = folder.relative_to(root).as_posix()
    return root.resolve().name if relative == "." else relative


def find_runs(root: Path) -> list[RunFolder]:
    if root.is_file():
        return [RunFolder(root.parent, root.parent.resolve().name, [(root, 1)])]
    runs: list[RunFolder] = []
    exported: dict[Path, RunFolder] = {}
    for where, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        folder = Path(where)
        events = sorted(name for name in files if is_event_file(name))
        if SIDECAR in files:
            sidecar = _sidecar(folder)
            if sidecar is not None:
                run = RunFolder(folder, _label(root, folder), sidecar=sidecar)
                exported[folder] = run
                runs.append(run)
        owner = next((exported[p] for p in (folder, *folder.parents) if p in exported), None)
        if owner is not None:
            sessions = owner.sidecar.get("files", {}) if owner.sidecar else {}
            for name in events:
                relative = (folder / name).relative_to(owner.folder).as_posix()
                session = sessions.get(relative)
                owner.files.append((folder / name, session if isinstance(session, int) else 1))
        elif events:
            run = RunFolder(folder, _label(root, folder))
            run.files = [(folder / name, n) for n, name in enumerate(events, start=1)]
            runs.append(run)
    for run in exported.values():
        run.files.sort(key=lambda item: (item[1], item[0].name))
    return [run for run in runs if run.files]
