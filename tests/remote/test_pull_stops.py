"""A pull that fails on this side before it asks for anything stops the other side at once:
no answer is worked out there for a request that never comes."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import psutil
import pytest

from backprop_core.errors import StoreError
from backprop_core.remote.pull import pull_once
from backprop_core.remote.ssh import SshConnection, SshSetup
from backprop_core.settings.model import Settings
from backprop_core.store.opening import open_store
from tests.conftest import wait_for

from .conftest import Remote

pytestmark = pytest.mark.slow


def pull_sources(home: Path) -> list[psutil.Process]:
    """The other side's ``pull-source`` processes serving ``home``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        cmdline = proc.info["cmdline"] or []
        environ = proc.info["environ"] or {}
        if "pull-source" in cmdline and environ.get("BACKPROP_HOME") == str(home):
            found.append(proc)
    return found


def test_a_request_this_side_cannot_work_out_stops_the_other_side(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote.seed("one", n=1, log="hello\n")
    ssh = tuple(shlex.split(remote.sshd.ssh_command()))
    setup = SshSetup(ssh=ssh, remote_command=remote.command)
    store = open_store(Settings.from_config({}, home=tmp_path / "here"))
    started = []

    def failing(origin: str) -> list[object]:
        # Fails once the other side is on its way, as a real read error would.
        started.append(wait_for(lambda: pull_sources(remote.home), timeout=60))
        raise StoreError("the store here cannot be read")

    monkeypatch.setattr(store, "run_marks", failing)
    with (
        SshConnection(remote.host, setup) as conn,
        store,
        pytest.raises(StoreError, match="cannot be read"),
    ):
        pull_once(conn, store, with_files=False)
    assert started  # the other side had started
    wait_for(lambda: not pull_sources(remote.home), timeout=60)
    assert not (tmp_path / "here" / "runs").exists() or not os.listdir(tmp_path / "here" / "runs")
