"""`rm` and `gc --run` act on a run named exactly; an id prefix only once confirmed."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus
from tests.conftest import run_cli, wait_for

T0 = 1_790_000_000.0
FIRST, SECOND = "20260101-000000-aaaa", "20260102-000000-bbbb"


@pytest.fixture
def store() -> Iterator[Store]:
    s = get_plugins().store_class("sqlite")(Path(os.environ["BACKPROP_HOME"]))
    s.home.ensure()
    for run_id, name in ((FIRST, "first"), (SECOND, "second")):
        s.create_run(RunRecord(id=run_id, status=RunStatus.COMPLETED, created_at=T0, name=name))
        folder = s.home.checkpoint_dir(run_id)
        folder.mkdir(parents=True)
        for step in (1, 2):
            (folder / f"{step}.pt").write_bytes(b"w")
            saved = Event("checkpoint_saved", T0 + step, step, {"path": str(folder / f"{step}.pt")})
            s.append_events(run_id, [saved])
    yield s
    s.close()


def checkpoint_files(store: Store, run_id: str) -> list[str]:
    return sorted(p.name for p in store.home.checkpoint_dir(run_id).iterdir())


def test_a_prefix_without_a_terminal_or_yes_is_refused(store: Store) -> None:
    for args in (("rm", "20260101"), ("gc", "--keep-last", "0", "--run", "20260101")):
        result = run_cli(*args)
        assert result.returncode == 2, result
        (line,) = result.stderr.splitlines()
        assert "prefix" in line and FIRST in line and "(first)" in line and "--yes" in line
    assert checkpoint_files(store, FIRST) == ["1.pt", "2.pt"]
    assert {r.id for r in store.list_runs()} == {FIRST, SECOND}


def test_gc_run_takes_an_exact_id_name_or_suffix_and_a_confirmed_prefix(store: Store) -> None:
    assert run_cli("gc", "--keep-last", "1", "--run", "aaaa").returncode == 0
    assert checkpoint_files(store, FIRST) == ["2.pt"]
    assert run_cli("gc", "--keep-last", "0", "--run", "second").returncode == 0
    assert checkpoint_files(store, SECOND) == []
    assert run_cli("gc", "--keep-last", "0", "--run", "20260101", "--yes").returncode == 0
    assert checkpoint_files(store, FIRST) == []
    ambiguous = run_cli("rm", "--yes", "2026010")
    assert ambiguous.returncode == 2 and FIRST in ambiguous.stderr and SECOND in ambiguous.stderr


def test_rm_shows_the_run_a_prefix_matched_and_asks_on_a_terminal(store: Store) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop_core.cli", "rm", "20260102"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    seen = b""

    def prompt() -> bool:
        nonlocal seen
        if select.select([leader], [], [], 0.2)[0]:
            seen += os.read(leader, 4096)
        return b"[y/N]" in seen

    wait_for(prompt, what="the confirmation prompt")
    assert f"{SECOND} (second)  (matched by an id prefix)".encode() in seen
    os.write(leader, b"y\n")
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    assert [r.id for r in store.list_runs()] == [FIRST]
    assert not store.home.run_dir(SECOND).exists()
