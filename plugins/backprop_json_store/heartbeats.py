"""Heartbeats of the JSON store: one small file per session, ``runs/<id>/heartbeat-<n>``.

Rewriting and syncing the whole index every few seconds for each live run would cost far more
than replacing a twenty-byte file; ``JsonStore.sessions`` merges them back in.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from backprop_core.plugin_kit import os_error_to_store_error


def _path(run_dir: Path, number: int) -> Path:
    return run_dir / f"heartbeat-{number}"


def write_beat(run_dir: Path, number: int, at: float) -> None:
    path = _path(run_dir, number)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(repr(float(at)), encoding="ascii")
        os.replace(tmp, path)  # not synced: a beat lost in a power cut only ages the run
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise os_error_to_store_error(exc, "record the heartbeat") from exc


def read_beat(run_dir: Path, number: int) -> float | None:
    try:
        return float(_path(run_dir, number).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
