"""The system's OpenSSH client, so ``~/.ssh/config``, agents, ``ProxyJump``, hardware keys and
``known_hosts`` work as the user set them up (docs/remote.md).

One command opens one ControlMaster connection per host, in a private temporary folder (0700),
and every step of the command (remote commands, port forwards, rsync) goes through it; closing
it ends the master. ``BatchMode=yes`` always: ssh never prompts, it fails, and the failure
becomes one ``RemoteError`` line that says what to do.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backprop_core.errors import RemoteError, UsageError
from backprop_core.settings.model import Settings

#: What runs on the other side when ``remote.command`` is not set: ``backprop`` if it is on the
#: PATH, else ``python3 -m backprop_core.cli``, else exit 127 (nothing installed).
DEFAULT_LAUNCHER = (
    'if command -v backprop >/dev/null 2>&1; then exec backprop "$@"; '
    "elif python3 -c 'import backprop_core.cli.main' >/dev/null 2>&1; "
    'then exec python3 -m backprop_core.cli "$@"; '
    "else echo 'backprop: not installed here' >&2; exit 127; fi"
)
NOT_INSTALLED = (126, 127)  # the shell's "not executable" and "not found"
SSH_FAILED = 255
# ssh's notes on stderr that are not about the command.
_NOISE = ("Warning: Permanently added", "Pseudo-terminal will not be allocated")
KEEPALIVE = ("-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4")


@dataclass(frozen=True)
class SshSetup:
    """How to reach other machines: the ssh client with the user's options
    (``remote.sshCommand``), the backprop to run there (``remote.command``) and the connect
    timeout."""

    ssh: tuple[str, ...] = ("ssh",)
    remote_command: str | None = None
    connect_timeout: float = 10

    @classmethod
    def from_settings(cls, settings: Settings, remote_command: str | None = None) -> SshSetup:
        try:
            ssh = tuple(shlex.split(settings.remote.ssh_command))
        except ValueError as exc:
            raise UsageError(
                f"remote.sshCommand is not valid shell text: {exc}",
                hint="quote it as you would on a command line",
            ) from exc
        if not ssh:
            raise UsageError("remote.sshCommand is empty", hint='set it to "ssh" plus options')
        return cls(
            ssh=ssh,
            remote_command=remote_command or settings.remote.command,
            connect_timeout=settings.remote.connect_timeout_seconds,
        )


def check_host(host: str) -> str:
    """A host as ssh takes it (``user@host``, an alias from ``~/.ssh/config``), never an option."""
    text = host.strip()
    if not text or text.startswith("-") or any(c.isspace() or ord(c) < 32 for c in text):
        raise UsageError(
            f"{host!r} is not a host", hint="give it as ssh takes it: user@host, or an alias"
        )
    return text


def remote_shell_command(prefix: str | None, args: Sequence[str]) -> str:
    """The shell text that runs backprop with ``args`` on the other side. Every argument is
    quoted, so spaces, quotes and ``$(…)`` arrive as they are and execute nothing; ``prefix``
    (``remote.command``) is the user's own shell text and is used as written."""
    quoted = " ".join(shlex.quote(a) for a in args)
    if prefix:
        return f"{prefix} {quoted}".rstrip()
    return f"sh -c {shlex.quote(DEFAULT_LAUNCHER)} backprop {quoted}".rstrip()


def is_noise(line: str) -> bool:
    """An empty line, or ssh's note about a host key it added or a terminal it did not open."""
    return not line.strip() or line.startswith(_NOISE)


def useful_stderr(text: str) -> list[str]:
    """ssh's stderr without its notes."""
    return [line for line in text.splitlines() if not is_noise(line)]


def ssh_failure(host: str, stderr: str) -> RemoteError:
    """ssh's own failure (exit 255) as one line that says what to do."""
    lines = useful_stderr(stderr)
    detail = lines[-1].strip().rstrip(".") if lines else "ssh exited with status 255"
    low = stderr.lower()
    check = f"check that `ssh {host} true` works"
    if "host key verification failed" in low or "host identification has changed" in low:
        return RemoteError(
            f"the host key of {host} is not known here, or it changed",
            hint=f"connect once with `ssh {host}` to check and accept it, then retry",
        )
    if "permission denied" in low or "too many authentication failures" in low:
        return RemoteError(
            f"{host} refused the SSH key ({detail})",
            hint=f"{check} without a password (ssh-add, or IdentityFile in ~/.ssh/config)",
        )
    if "could not resolve hostname" in low:
        return RemoteError(
            f"unknown host {host} ({detail})",
            hint="check the name, or add a Host entry to ~/.ssh/config",
        )
    return RemoteError(
        f"the connection to {host} failed or was lost ({detail})",
        hint=f"{check}, then retry",
    )


def not_installed(host: str, setup: SshSetup) -> RemoteError:
    where = f"at `{setup.remote_command}`" if setup.remote_command else "on the PATH"
    return RemoteError(
        f"backprop is not installed on {host} (not found {where})",
        hint="install it there, or set remote.command or --remote-command to the backprop to "
        'run there, e.g. "/opt/venv/bin/backprop"',
    )


STALE_CONTROL_DIR_S = 3600


def _control_dir() -> str:
    # A socket path must fit in ~100 bytes: fall back to /tmp when TMPDIR is deep.
    base = tempfile.gettempdir()
    if len(base) > 60 and os.path.isdir("/tmp"):
        base = "/tmp"
    _remove_stale(base)
    return tempfile.mkdtemp(prefix="bp-ssh-", dir=base)  # mode 0700


def _remove_stale(base: str) -> None:
    """Remove this user's empty control folders left by commands that were killed (their
    master exits by itself, its folder stays). An hour old at least, so never one whose
    command is still connecting; ``rmdir`` never removes one that holds a socket."""
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            if not entry.name.startswith("bp-ssh-"):
                continue
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if st.st_uid == os.getuid() and now - st.st_mtime > STALE_CONTROL_DIR_S:
                    os.rmdir(entry.path)


class SshConnection:
    """The ControlMaster connection to one host for the duration of one command."""

    def __init__(self, host: str, setup: SshSetup, *, persist_seconds: float = 60) -> None:
        self.host = check_host(host)
        self.setup = setup
        self.persist_seconds = max(5, int(persist_seconds))
        self._dir: str | None = None
        self._opening: subprocess.Popen[bytes] | None = None

    # lifecycle -------------------------------------------------------------------------------
    @property
    def control_path(self) -> str:
        if self._dir is None:
            raise RuntimeError("the connection is not open")
        return os.path.join(self._dir, "master")

    def open(self) -> SshConnection:
        """Start connecting (and authenticating); the first step waits for it, so whatever the
        caller does meanwhile overlaps the handshake. ``RemoteError`` there if it fails."""
        if shutil.which(self.setup.ssh[0]) is None:
            raise RemoteError(
                f"the ssh client `{self.setup.ssh[0]}` is not installed here",
                hint="install OpenSSH's client, or set remote.sshCommand",
            )
        self._dir = _control_dir()
        argv = [
            *self._base(),
            "-o",
            "ControlMaster=yes",
            "-o",
            f"ControlPersist={self.persist_seconds}",
            "-o",
            "GatewayPorts=no",
            "-N",
            "-f",
            "-T",
            "--",
            self.host,
        ]
        # -f: ssh returns once authenticated and keeps the master in the background, which
        # exits by itself after ControlPersist seconds without use if we never close it.
        self._opening = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        return self

    def ready(self) -> None:
        """Wait until the master is connected; ``RemoteError`` if it could not connect."""
        opening, self._opening = self._opening, None
        if opening is None:
            return
        try:
            _, err = opening.communicate(timeout=self.setup.connect_timeout * 3 + 30)
        except subprocess.TimeoutExpired as exc:
            opening.kill()
            opening.wait()
            self.close()
            raise RemoteError(
                f"connecting to {self.host} took too long",
                hint=f"check that `ssh {self.host} true` works, then retry",
            ) from exc
        if opening.returncode != 0:
            self.close()
            raise ssh_failure(self.host, err.decode(errors="replace"))

    def close(self) -> None:
        """End the master (and with it every forward) and remove the private folder."""
        if self._opening is not None:
            with contextlib.suppress(RemoteError):
                self.ready()
        if self._dir is None:
            return
        if os.path.exists(self.control_path):
            subprocess.run(
                [*self._base(), "-O", "exit", "--", self.host],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> SshConnection:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # argv ------------------------------------------------------------------------------------
    def _base(self) -> list[str]:
        # ssh keeps the first value it sees for an option: ours that must hold come before the
        # user's options, the defaults the user may change come after them.
        ssh, *user = self.setup.ssh
        return [
            ssh,
            "-o",
            "BatchMode=yes",
            "-o",
            f"ControlPath={self.control_path}",
            *user,
            "-o",
            f"ConnectTimeout={max(1, round(self.setup.connect_timeout))}",
            *KEEPALIVE,
        ]

    def shell_for_rsync(self) -> str:
        """ssh through this connection, as one string for ``rsync -e``."""
        self.ready()
        return shlex.join([*self._base(), "-o", "ControlMaster=no", "-T"])

    def argv(self, args: Sequence[str]) -> list[str]:
        """The local argv that runs backprop ``args`` on the host through the master."""
        self.ready()
        command = remote_shell_command(self.setup.remote_command, args)
        return [*self._base(), "-o", "ControlMaster=no", "-T", "--", self.host, command]

    # steps -----------------------------------------------------------------------------------
    def run(
        self, args: Sequence[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Run backprop ``args`` there; raise ``RemoteError`` when ssh or the launch failed."""
        done = subprocess.run(
            self.argv(args),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        self.raise_for_launch(done.returncode, done.stderr.decode(errors="replace"))
        return done

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.argv(args), **kwargs)

    def raise_for_launch(self, returncode: int, stderr: str) -> None:
        """``RemoteError`` for ssh failures (255) and for a missing backprop (126/127)."""
        if returncode == SSH_FAILED:
            raise ssh_failure(self.host, stderr)
        if returncode in NOT_INSTALLED:
            raise not_installed(self.host, self.setup)
        if returncode == 2 and "No such command 'remote-helper'" in stderr:
            from backprop_core.__about__ import __version__

            raise RemoteError(
                f"backprop on {self.host} is too old for this",
                hint=f"upgrade it there (this one is {__version__})",
            )

    def forward(self, local_port: int, target: str) -> None:
        """Forward ``127.0.0.1:local_port`` here to ``target`` there (a Unix socket path or
        ``host:port``), through the master. Only the loopback is ever bound here."""
        self.ready()
        spec = f"127.0.0.1:{local_port}:{target}"
        done = subprocess.run(
            [*self._base(), "-O", "forward", "-L", spec, "--", self.host],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            detail = " ".join(useful_stderr(done.stderr.decode(errors="replace"))) or "failed"
            raise RemoteError(
                f"cannot forward port {local_port} here to {self.host} ({detail.strip()})",
                hint="pick another with --port, or leave it out for a free one",
            )

    def cancel_forward(self, local_port: int, target: str) -> None:
        subprocess.run(
            [
                *self._base(),
                "-O",
                "cancel",
                "-L",
                f"127.0.0.1:{local_port}:{target}",
                "--",
                self.host,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )

    def alive(self) -> bool:
        """Whether the master still runs."""
        if self._dir is None:
            return False
        self.ready()
        done = subprocess.run(
            [*self._base(), "-O", "check", "--", self.host],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
        return done.returncode == 0
