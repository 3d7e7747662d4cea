"""``backprop run`` recording into PostgreSQL: a server that is down at start stops nothing
but the command (exit 2, before the script starts); a server restarted while a run records
costs nothing (the run keeps going and catches up); bad URLs and a missing driver say what to
do in one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.store.records import RunStatus
from tests.conftest import run_cli, wait_for
from tests.postgres_server import pg_store
from tests.run.conftest import Bp
from tests.run.test_disk_full import Lines

pytestmark = pytest.mark.postgres

STEPPER = """
    import json, os, time
    step = 0
    flag = os.environ["FINISH_WHEN"]
    while not (os.path.exists(flag) and step >= 50):
        print(json.dumps({"event": "metrics", "step": step, "data": {"loss": float(step)}}))
        print(f"step {step}", flush=True)
        step += 1
        time.sleep(0.01)
    print(json.dumps({"event": "checkpoint_saved", "path": "last.pt", "step": step - 1}))
    print(json.dumps({"event": "done"}), flush=True)
"""


@pytest.fixture
def bp(tmp_path: Path) -> Iterator[Bp]:
    helper = Bp(tmp_path)
    yield helper
    helper.cleanup()


def _closed_port_url() -> str:
    import socket

    with socket.socket() as sock:  # a port nothing listens on once this is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://backprop@127.0.0.1:{port}/team"


def test_a_server_that_is_down_at_start_fails_before_the_script_starts(bp: Bp) -> None:
    pytest.importorskip("psycopg")
    marker = bp.work / "started"
    bp.script("train.py", f"open({str(marker)!r}, 'w').close()\n")
    done = bp.run("run", "train.py", env={"BACKPROP_STORE": _closed_port_url()})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("backprop: error: cannot reach the run store postgresql://")
    assert "check that the server is running" in lines[0]
    assert not marker.exists()


def test_a_password_in_the_store_url_is_refused_before_anything_is_written(bp: Bp) -> None:
    done = bp.run("list", "--store", "postgresql://ada:secret@127.0.0.1:1/team")
    assert done.returncode == 2
    assert done.stderr.startswith("backprop: error: the store URL carries a password")
    assert "~/.pgpass" in done.stderr and "secret" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_without_psycopg_the_store_says_how_to_install_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from backprop_core.cli.main import main\n"
        "main(['list', '--store', 'postgresql://ada@127.0.0.1:1/team'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == (
        "backprop: error: the PostgreSQL store needs the psycopg package, which is not "
        "installed; install it with: pip install 'backprop[postgres]'\n"
    )


def test_an_unknown_url_scheme_names_the_ones_that_work() -> None:
    done = run_cli("list", "--store", "mysql://db.example/team")
    assert done.returncode == 2
    assert "no installed store takes mysql:// URLs" in done.stderr
    assert "postgresql://" in done.stderr


@pytest.mark.slow
def test_a_run_keeps_recording_through_a_server_restart(bp: Bp) -> None:
    pytest.importorskip("psycopg")
    from backprop_postgres.scratch import ScratchServer, ScratchUnavailable

    try:
        server = ScratchServer.start()  # its own server: this test stops it
    except ScratchUnavailable as exc:
        pytest.skip(f"no PostgreSQL server can be started here: {exc}")
    try:
        url = server.create_database("team")
        flag = bp.work / "finish"
        bp.script("train.py", STEPPER)
        proc = bp.start("run", "train.py", env={"BACKPROP_STORE": url, "FINISH_WHEN": str(flag)})
        err = Lines(proc.stderr)

        def recording() -> str | None:
            with pg_store(url, bp.home) as store:
                runs = store.list_runs()
                if runs and store.metric_series(runs[0].id, "loss").total:
                    return runs[0].id
            return None

        run_id = wait_for(recording, 120, "the first points in the store")
        server.stop_only()
        wait_for(lambda: "events wait in memory" in err.text(), 120, "the run to notice")
        server.start_again()
        wait_for(lambda: "the run store is back" in err.text(), 120, "the run to catch up")
        flag.touch()
        assert proc.wait(timeout=120) == 0, err.text()

        with pg_store(url, bp.home) as store:
            run = store.get_run(run_id)
            loss = store.metric_series(run_id, "loss")
            events = store.events(run_id)
            (session,) = store.sessions(run_id)
            checkpoints = store.checkpoints(run_id)
        assert run.status is RunStatus.COMPLETED and run.done
        assert loss.steps == list(range(loss.total)) and loss.total > 50
        assert loss.values == [float(s) for s in range(loss.total)]
        assert run.last_step == loss.total - 1
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [c.path for c in checkpoints] == ["last.pt"]
        assert session.status is RunStatus.COMPLETED
        assert "could not be recorded" not in err.text()
    finally:
        server.stop()
