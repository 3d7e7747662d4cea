"""The home folder layout (docs/store.md): store files, one folder per run, and lock files."""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: Written into every run folder backprop creates: ``gc`` never deletes a folder without it.
RUN_MARKER = ".backprop-run"
#: Files backprop itself keeps directly in a run folder: records, never checkpoints.
_RECORD_FILES = re.compile(r"^(session-\d+\.log|events\.jsonl|\.backprop-run)$")
#: Created when a store file is moved aside as corrupt: while it exists ``gc`` deletes no run
#: folder, since the runs of the old store are no longer listed anywhere.
HOLD_NAME = "gc-hold.txt"


def is_valid_run_id(run_id: str) -> bool:
    """Run ids become folder names: letters, digits, ``.``, ``_``, ``-``; no path separators."""
    return bool(_RUN_ID.match(run_id)) and ".." not in run_id


def make_run_folder(folder: Path) -> Path:
    """Create a run's folder (``runs/<id>``) if needed, with the marker saying backprop made
    it for that run."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / RUN_MARKER
    if not marker.exists():
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with contextlib.suppress(FileExistsError):
            fd = os.open(marker, flags, 0o644)
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps({"run_id": folder.name}) + "\n")
    return folder


def has_marker(folder: Path) -> bool:
    """Whether ``folder`` carries the marker backprop writes for the run it is named after (a
    copied or renamed folder does not)."""
    try:
        with open(folder / RUN_MARKER, "rb") as fh:
            if not os.path.samestat(os.fstat(fh.fileno()), os.lstat(folder / RUN_MARKER)):
                return False  # a symlink
            data = json.loads(fh.read(4096))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("run_id") == folder.name


@dataclass(frozen=True)
class Home:
    """``home/``: ``backprop.db`` or ``experiments.json``, ``runs/<id>/``, ``locks/``."""

    root: Path

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def locks_dir(self) -> Path:
        return self.root / "locks"

    def run_dir(self, run_id: str) -> Path:
        if not is_valid_run_id(run_id):
            raise ValueError(f"invalid run id {run_id!r}")
        return self.runs_dir / run_id

    def ensure_run_dir(self, run_id: str) -> Path:
        """``runs/<id>/``, created with its marker if needed."""
        return make_run_folder(self.run_dir(run_id))

    def checkpoint_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoints"

    @property
    def hold_file(self) -> Path:
        return self.root / HOLD_NAME

    @staticmethod
    def is_record_file(path: Path, run_folder: Path) -> bool:
        """Whether ``path`` is one of the files backprop keeps directly in ``run_folder``."""
        return path.parent == run_folder and bool(_RECORD_FILES.match(path.name))

    def session_log(self, run_id: str, session: int) -> Path:
        return self.run_dir(run_id) / f"session-{session}.log"

    def ensure(self) -> Home:
        for d in (self.root, self.runs_dir, self.locks_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
