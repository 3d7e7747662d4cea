"""The home folder layout (docs/store.md): store files, one folder per run, and lock files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_valid_run_id(run_id: str) -> bool:
    """Run ids become folder names: letters, digits, ``.``, ``_``, ``-``; no path separators."""
    return bool(_RUN_ID.match(run_id)) and ".." not in run_id


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

    def checkpoint_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoints"

    def session_log(self, run_id: str, session: int) -> Path:
        return self.run_dir(run_id) / f"session-{session}.log"

    def ensure(self) -> Home:
        for d in (self.root, self.runs_dir, self.locks_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
