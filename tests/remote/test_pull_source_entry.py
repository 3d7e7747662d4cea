"""The other side of ``pull`` (``remote-helper pull-source``) is started on every pull, a
no-change one included: with no options it is answered without the command line's start-up,
and answers, warns and fails exactly as through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backprop_core.settings.model import Settings
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunStatus, SessionRecord
from backprop_core.testing.builders import T0, make_run, metrics

REQUEST = json.dumps({"protocol": 2, "with_checkpoints": False, "runs": {}}) + "\n"
# The shortcut, with click made unimportable: it must not be needed.
WITHOUT_CLICK = (
    "import sys; sys.modules['click'] = None\n"
    "sys.argv = ['backprop', 'remote-helper', 'pull-source']\n"
    "from backprop_core.cli.entry import main; main()"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with open_store(Settings.from_config({}, home=home)) as store:
        for n in (1, 2):
            run_id = f"20260101-00000{n}-r{n}"
            store.create_run(make_run(run_id, T0 + n, status=RunStatus.COMPLETED))
            store.add_session(SessionRecord(run_id, 1, RunStatus.COMPLETED, T0 + n))
            store.append_events(run_id, [metrics(i, loss=1 / (i + 1)) for i in range(30)])
    return home


def answer(
    *argv: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    full_env = dict(os.environ, BACKPROP_HOME=str(home), **(env or {}))
    return subprocess.run(
        [sys.executable, *argv], input=REQUEST.encode(), capture_output=True, env=full_env
    )


def through_click(
    home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The command line's answer: given an option, it is not the shortcut's."""
    return answer(*through_click_argv(home), home=home, env=env)


def through_click_argv(home: Path) -> tuple[str, ...]:
    return ("-m", "backprop_core.cli", "remote-helper", "pull-source", "--home", str(home))


def without_cpu_seconds(stdout: bytes) -> bytes:
    """The answer but for the CPU time it reports in its last line."""
    *lines, done = stdout.splitlines(keepends=True)
    data = json.loads(done)
    assert data["done"].pop("cpu_seconds") >= 0
    return b"".join(lines) + json.dumps(data).encode()


def test_the_shortcut_answers_as_the_command_line_does(home: Path) -> None:
    fast = answer("-c", WITHOUT_CLICK, home=home)
    assert fast.returncode == 0, fast.stderr
    cli = through_click(home)
    assert cli.returncode == 0, cli.stderr
    assert without_cpu_seconds(fast.stdout) == without_cpu_seconds(cli.stdout)
    first, *_ = fast.stdout.splitlines()
    assert json.loads(first)["hello"]["runs"] == 2
    assert json.loads(fast.stdout.splitlines()[-1])["done"]["changed"] == 2
    assert fast.stderr == b""


@pytest.mark.parametrize(
    ("env", "code", "stderr"),
    [
        (
            {"BACKPROP_STORE": "nosuch"},
            2,
            b"backprop: error: unknown store 'nosuch'; choose one of: json, postgres, sqlite\n",
        ),
        (
            {"BACKPROP_NO_SUCH_SETTING": "1"},
            0,
            b"backprop: warning: ignoring unknown environment variable BACKPROP_NO_SUCH_SETTING\n",
        ),
    ],
)
def test_errors_and_warnings_read_as_on_the_command_line(
    home: Path, env: dict[str, str], code: int, stderr: bytes
) -> None:
    fast = answer("-c", WITHOUT_CLICK, home=home, env=env)
    cli = through_click(home, env)
    assert (fast.returncode, fast.stderr) == (cli.returncode, cli.stderr) == (code, stderr)


def test_a_puller_that_went_away_ends_it_quietly(home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WITHOUT_CLICK],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, BACKPROP_HOME=str(home)),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # nobody reads what it sends
    proc.stdin.write(REQUEST.encode())
    proc.stdin.close()
    assert proc.wait(timeout=120) == 1
    assert proc.stderr.read() == b""  # no traceback


def test_a_puller_that_went_away_before_asking_gets_no_answer(home: Path) -> None:
    for argv in (("-c", WITHOUT_CLICK), through_click_argv(home)):
        proc = subprocess.run(
            [sys.executable, *argv],
            input=b"",  # stdin closed with no request: the puller failed before asking
            capture_output=True,
            env=dict(os.environ, BACKPROP_HOME=str(home)),
        )
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
