"""Each way reaching the other machine can fail gives one line that says what to do, exit 2,
and changes nothing on either side."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from backprop_core.remote.ssh import DEFAULT_LAUNCHER
from backprop_core.store.records import RunStatus
from tests.conftest import wait_for
from tests.sshd import keygen

from .conftest import Remote


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("backprop: error: ")
    return lines[0]


def test_no_backprop_on_the_other_machine(remote: Remote) -> None:
    line = one_error_line(
        remote.remote("list", BACKPROP_REMOTE__COMMAND="/nonexistent/venv/bin/backprop")
    )
    assert f"backprop is not installed on {remote.host}" in line
    assert "remote.command or --remote-command" in line


def test_the_default_launcher_runs_backprop_from_the_path_or_says_it_is_missing(
    tmp_path: Path,
) -> None:
    # The shell text the other machine runs when remote.command is not set.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text("#!/bin/sh\nexit 1\n")  # a python3 without backprop
    (bin_dir / "python3").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    missing = subprocess.run(
        ["sh", "-c", DEFAULT_LAUNCHER, "backprop", "list"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 127
    assert "backprop: not installed here" in missing.stderr
    (bin_dir / "backprop").write_text('#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n')
    (bin_dir / "backprop").chmod(0o755)
    found = subprocess.run(
        ["sh", "-c", DEFAULT_LAUNCHER, "backprop", "show", "a b", "$(x)"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert found.stdout.splitlines() == ["[show]", "[a b]", "[$(x)]"]


def test_an_unknown_host_key(remote: Remote, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    ssh = remote.sshd.ssh_command(known_hosts=empty)
    line = one_error_line(remote.remote("list", BACKPROP_SSH_COMMAND=ssh))
    assert line == (
        f"backprop: error: the host key of {remote.host} is not known here, or it changed; "
        f"connect once with `ssh {remote.host}` to check and accept it, then retry"
    )
    assert empty.read_text() == ""  # nothing was accepted on the user's behalf


def test_a_refused_key(remote: Remote, tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    ssh = remote.sshd.ssh_command(key=stranger)
    line = one_error_line(remote.remote("status", BACKPROP_SSH_COMMAND=ssh))
    assert f"{remote.host} refused the SSH key" in line
    assert "without a password" in line


def test_a_host_nobody_answers_on(remote: Remote) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    ssh = remote.sshd.ssh_command(port=port)
    line = one_error_line(remote.remote("list", BACKPROP_SSH_COMMAND=ssh))
    assert f"the connection to {remote.host} failed or was lost" in line
    assert "Connection refused" in line


def test_a_connection_that_dies_while_following_logs(remote: Remote) -> None:
    remote.script("forever.py", "import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    remote.start_there("run", "--name", "forever", "forever.py")
    with remote.store() as store:
        wait_for(
            lambda: store.list_runs() and store.list_runs()[0].status == RunStatus.RUNNING,
            60,
            "the run to start",
        )
    follow = remote.start("--remote", remote.host, "logs", "-f", "forever")
    assert follow.stdout is not None and follow.stderr is not None
    assert follow.stdout.readline() == b"started\n"
    for pid in remote.sshd.sessions():  # the network goes: the server side of the connection
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert follow.wait(timeout=120) == 2
    lines = follow.stderr.read().decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"backprop: error: the connection to {remote.host} failed or was lost"
    ), lines
    assert remote.there("stop", "--now", "forever").returncode == 0


def test_a_bad_ssh_command_setting(remote: Remote) -> None:
    line = one_error_line(remote.remote("list", BACKPROP_SSH_COMMAND="ssh -o 'unclosed"))
    assert "remote.sshCommand is not valid shell text" in line
    line = one_error_line(remote.remote("list", BACKPROP_SSH_COMMAND="no-such-ssh-client -v"))
    assert "the ssh client `no-such-ssh-client` is not installed here" in line


def test_a_host_that_looks_like_an_option_is_refused(remote: Remote) -> None:
    line = one_error_line(remote.cli("--remote", "-oProxyCommand=touch x", "list"))
    assert "is not a host" in line
