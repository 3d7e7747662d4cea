"""Fixtures for artifact tests: a home with a real store (both stores), real files, a tmpfs
mount for the cross-filesystem case, an XFS for reflinks, and ``backprop`` run as a
subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from tests.conftest import run_cli
from tests.run.conftest import Bp


@pytest.fixture(params=["sqlite", "json"])
def store_name(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BACKPROP_STORE", request.param)
    return str(request.param)


@pytest.fixture
def home() -> Path:
    return Path(os.environ["BACKPROP_HOME"])


@pytest.fixture
def store(store_name: str, home: Path) -> Iterator[Store]:
    s = get_plugins().store_class(store_name)(home)
    s.home.ensure()
    yield s
    s.close()


@pytest.fixture
def bp(tmp_path: Path, store_name: str) -> Iterator[Bp]:
    helper = Bp(tmp_path)
    helper.env["BACKPROP_STORE"] = store_name
    yield helper
    helper.cleanup()


def cli(*args: str, code: int = 0, **kw: Any) -> subprocess.CompletedProcess[str]:
    """``backprop ARGS`` in a subprocess, which must exit with ``code``."""
    result = run_cli(*args, **kw)
    assert result.returncode == code, result.stdout + result.stderr
    return result


def cli_json(*args: str, **kw: Any) -> Any:
    return json.loads(cli(*args, "--json", **kw).stdout)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backprop: error: "), result.stderr
    return lines[0]


def objects_in(home: Path) -> list[Path]:
    root = home / "artifacts" / "objects"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def disk_usage(path: Path) -> int:
    """Bytes of disk ``du`` counts under ``path`` (hard links once)."""
    out = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True)
    return int(out.stdout.split()[0])


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str = "64m") -> Iterator[Path]:
    """A tmpfs at ``where`` (another filesystem than the home's), unmounted at the end."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@contextlib.contextmanager
def mounted_xfs(where: Path) -> Iterator[Path]:
    """A fresh XFS (which offers reflinks) in a sparse image file, loop-mounted at ``where``
    and unmounted at the end; skips where ``mkfs.xfs`` (Debian: xfsprogs) or loop mounts are
    missing."""
    mkfs = shutil.which("mkfs.xfs")
    if mkfs is None:
        pytest.skip("mkfs.xfs is not installed (Debian package xfsprogs)")
    image = where.with_suffix(".img")
    with open(image, "wb") as fh:
        fh.truncate(320 * 1024 * 1024)  # XFS's smallest size is 300 MB; sparse, so free
    made = subprocess.run([mkfs, "-q", "-f", "-m", "reflink=1", str(image)], capture_output=True)
    if made.returncode != 0:
        image.unlink()
        pytest.skip(f"mkfs.xfs failed: {made.stderr.decode(errors='replace').strip()}")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-o", "loop", str(image), str(where)], capture_output=True)
    if done.returncode != 0:
        image.unlink()
        pytest.skip("cannot loop-mount a filesystem image here (needs root and loop devices)")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)
        image.unlink()
