"""The private folders that hold ssh's control sockets: made 0700, and the empty ones that
killed commands left behind are cleared away by later commands, never a live one."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.remote import ssh


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder with a short path, as socket paths need."""
    folder = Path(tempfile.mkdtemp(prefix="bpt-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_control_folders_are_private_and_old_empty_ones_are_cleared(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = short_tmp
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = time.time() - 2 * ssh.STALE_CONTROL_DIR_S
    stale = tmp_path / "bp-ssh-killed"
    stale.mkdir()
    os.utime(stale, (old, old))
    busy = tmp_path / "bp-ssh-watching"  # a long pull --watch: its socket is still there
    busy.mkdir()
    (busy / "master").write_text("")
    os.utime(busy, (old, old))
    fresh = tmp_path / "bp-ssh-connecting"  # another command, still connecting
    fresh.mkdir()
    other = tmp_path / "not-ours"
    other.mkdir()
    os.utime(other, (old, old))
    made = Path(ssh._control_dir())
    assert made.parent == tmp_path and stat.S_IMODE(made.stat().st_mode) == 0o700
    assert not stale.exists()
    assert busy.exists() and fresh.exists() and other.exists()
