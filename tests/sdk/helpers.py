"""Helpers for SDK tests: run a training script in a real child process and read the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backprop_core.settings import resolve_settings
from backprop_core.store.contract import Store
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunRecord


def write_script(tmp_path: Path, body: str, name: str = "train.py") -> Path:
    script = tmp_path / name
    script.write_text(textwrap.dedent(body))
    return script


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BACKPROP_RUN_ID", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_script(
    script: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=script.parent,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def store() -> Store:
    return open_store(resolve_settings(), reconcile=False)


def only_run(st: Store) -> RunRecord:
    runs = st.list_runs()
    assert len(runs) == 1, [r.id for r in runs]
    return runs[0]


def read_json_lines(data: bytes) -> list[dict[str, Any]]:
    """Events protocol lines; json.loads accepts the NaN/Infinity tokens the SDK writes."""
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]
