"""``backprop export -o PATH`` only ever replaces a regular file, in one rename, keeping its
mode; it never follows a link planted where it writes, and says in one line when it cannot."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.records import RunRecord, RunStatus
from tests.conftest import run_cli

RUN_ID = "20260101-000000-expo"


@pytest.fixture(autouse=True)
def one_run() -> Iterator[None]:
    store = get_plugins().store_class("sqlite")(Path(os.environ["BACKPROP_HOME"]))
    store.home.ensure()
    store.create_run(RunRecord(id=RUN_ID, status=RunStatus.COMPLETED, created_at=1.7e9))
    store.append_events(RUN_ID, [Event("metrics", 1.7e9, 1, {"data": {"loss": 0.5}})])
    store.close()
    yield


def _export(target: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("export", RUN_ID, "--format", "json", "-o", str(target))


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backprop: error: "), result.stderr
    return lines[0]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_fifo_is_refused_and_left_a_fifo(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    os.mkfifo(target)
    line = _one_error_line(_export(target))
    assert str(target) in line and "not a regular file" in line
    assert stat.S_ISFIFO(os.lstat(target).st_mode)
    assert os.listdir(tmp_path) == ["out.json"]  # no temporary file left behind


def test_a_symlink_is_refused_and_neither_it_nor_its_target_changes(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.json"
    target.symlink_to(victim)
    _one_error_line(_export(target))
    assert target.is_symlink() and os.readlink(target) == str(victim)
    assert victim.read_text() == "precious"


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_a_device_node_is_refused_and_left_a_device(tmp_path: Path) -> None:
    target = tmp_path / "null"
    os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null
    _one_error_line(_export(target))
    assert stat.S_ISCHR(os.lstat(target).st_mode)


def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.json"
    for name in (f".{target.name}.partial", f".{target.name}.tmp"):
        (tmp_path / name).symlink_to(victim)
    result = _export(target)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious"
    assert RUN_ID in target.read_text()


def test_an_existing_file_keeps_its_mode_and_a_new_one_gets_the_usual(tmp_path: Path) -> None:
    existing = tmp_path / "private.json"
    existing.write_text("old")
    existing.chmod(0o640)
    assert _export(existing).returncode == 0
    assert RUN_ID in existing.read_text()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640

    fresh = tmp_path / "fresh.json"
    assert _export(fresh).returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~_umask()


def test_an_unwritable_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip("root cannot be denied a write here without mounting a read-only tmpfs")
    else:
        folder.chmod(0o555)
    try:
        line = _one_error_line(_export(folder / "out.json"))
        assert str(folder / "out.json") in line and "Traceback" not in line
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        else:
            folder.chmod(0o755)


def test_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    line = _one_error_line(_export(tmp_path / "nowhere" / "out.json"))
    assert "No such file or directory" in line
