"""Corrupt store files, read-only or full disks, and a missing home, seen by a user."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from backprop_core.errors import StoreError, StoreFull
from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.settings import Settings
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunRecord, RunStatus
from tests.conftest import fill_disk, mounted_tmpfs, run_cli

STORE_FILES = {"sqlite": "backprop.db", "json": "experiments.json"}


@pytest.mark.parametrize("store_name", ["sqlite", "json"])
@pytest.mark.parametrize("garbage", [b"\x00\xffnot a store at all" * 100, b'{"format": "backp'])
def test_corrupt_store_is_moved_aside_never_emptied(
    store_name: str, garbage: bytes, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / STORE_FILES[store_name]).write_bytes(garbage)
    env = {"BACKPROP_HOME": str(home), "BACKPROP_STORE": store_name}
    result = run_cli("list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    backups = sorted(home.glob(STORE_FILES[store_name] + ".corrupt-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == garbage  # kept byte for byte
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and str(backups[0]) in warning[0]
    # The new store works and the next command says nothing more.
    again = run_cli("list", env=env)
    assert again.returncode == 0 and again.stderr == ""


@pytest.mark.parametrize("store_name", ["sqlite", "json"])
def test_missing_home_is_created(store_name: str, tmp_path: Path) -> None:
    home = tmp_path / "deep" / "er" / "home"
    store = open_store(Settings(home=home, store=store_name), require_writable=True)
    store.create_run(RunRecord(id="r1", status=RunStatus.COMPLETED, created_at=1.0))
    assert (home / "runs").is_dir() and (home / "locks").is_dir()
    assert (home / STORE_FILES[store_name]).exists()


@pytest.mark.parametrize("store_name", ["sqlite", "json"])
@pytest.mark.parametrize(("command", "code"), [("run", 1), ("list", 2)])
def test_home_under_a_file_is_a_one_line_error(
    store_name: str, command: str, code: int, tmp_path: Path
) -> None:
    """``run`` cannot create it (a store error); ``list`` never creates one (a usage error)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    (tmp_path / "train.py").write_text("print('trained')\n")
    env = {"BACKPROP_HOME": str(blocker / "home"), "BACKPROP_STORE": store_name}
    args = ["run", "--gpu-probe", "none", "train.py"] if command == "run" else [command]
    result = run_cli(*args, env={**env, "BACKPROP_MIN_FREE_RAM_GB": "0"}, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "BACKPROP_HOME" in lines[0] and "Traceback" not in lines[0]
    assert "trained" not in result.stdout


def _fill_runs(home: Path, store_name: str) -> None:
    store = get_plugins().store_class(store_name)(home)
    store.home.ensure()
    store.create_run(RunRecord(id="r1", status=RunStatus.COMPLETED, created_at=1.0, name="old"))
    store.append_events("r1", [Event("metrics", 1.0, 1, {"data": {"loss": 1.0}})])
    store.close()


@pytest.mark.parametrize("store_name", ["sqlite", "json"])
def test_read_only_disk_reads_but_refuses_runs(store_name: str, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    with mounted_tmpfs(mnt, "size=8m"):
        home = mnt / "home"
        _fill_runs(home, store_name)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        with pytest.raises(StoreError) as info:
            open_store(Settings(home=home, store=store_name), require_writable=True)
        assert "read-only" in str(info.value)
        env = {"BACKPROP_HOME": str(home), "BACKPROP_STORE": store_name}
        listed = run_cli("list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        assert [r["name"] for r in json.loads(listed.stdout)] == ["old"]


@pytest.mark.parametrize("store_name", ["sqlite", "json"])
def test_full_disk_is_reported_before_a_run(store_name: str, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    with mounted_tmpfs(mnt, "size=2m"):
        home = mnt / "home"
        _fill_runs(home, store_name)
        fill_disk(mnt / "filler")
        with pytest.raises(StoreError) as info:
            open_store(Settings(home=home, store=store_name), require_writable=True)
        assert isinstance(info.value, StoreFull) and "disk full" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
@pytest.mark.parametrize("store_name", ["sqlite", "json"])
def test_unwritable_home_by_permissions(store_name: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _fill_runs(home, store_name)
    for path in [home, *home.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        with pytest.raises(StoreError):
            open_store(Settings(home=home, store=store_name), require_writable=True)
    finally:
        for path in [home, *home.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
