"""A real OpenSSH server for the remote tests: Debian's ``sshd`` on a free loopback port, with
generated host and client keys and a known_hosts file, started as ``sshd -D -e -f CONFIG`` and
stopped by its pid. Tests that need it skip with a clear message where sshd is missing."""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
STATE_DIR = Path("/run/sshd")  # sshd's privilege separation folder; it refuses to start without


def missing_tools() -> str | None:
    """Why no sshd can be run here, or ``None``."""
    for tool in (SSHD, "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"needs OpenSSH ({tool} not found; Debian: apt-get install openssh-server)"
    if not STATE_DIR.is_dir():
        try:
            STATE_DIR.mkdir(mode=0o755, parents=True)
        except OSError:
            return f"sshd needs {STATE_DIR}, which cannot be created here"
    return None


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "backprop-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            return conn.recv(16).startswith(b"SSH-")
    except OSError:
        return False


@dataclass
class Sshd:
    """One running sshd and the client material to reach it."""

    folder: Path
    port: int
    proc: subprocess.Popen[bytes]
    client_key: Path
    known_hosts: Path
    user: str = field(default_factory=getpass.getuser)

    @property
    def host(self) -> str:
        return f"{self.user}@127.0.0.1"

    def ssh_command(
        self, *, key: Path | None = None, known_hosts: Path | None = None, port: int | None = None
    ) -> str:
        """``remote.sshCommand`` for this server (``-F /dev/null``: no user config applies)."""
        return shlex.join(
            [
                "ssh",
                "-F",
                "/dev/null",
                "-p",
                str(port or self.port),
                "-i",
                str(key or self.client_key),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                f"UserKnownHostsFile={known_hosts or self.known_hosts}",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
            ]
        )

    def sessions(self) -> list[int]:
        """Pids of the per-connection processes this sshd forked (none once all closed)."""
        import psutil

        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sshd(folder: Path, extra_config: str = "") -> Sshd:
    """Start an sshd with its own keys under ``folder``; ``extra_config`` is appended."""
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "host_ed25519"
    if not host_key.exists():
        keygen(host_key)
        keygen(folder / "client_ed25519")
        shutil.copy(folder / "client_ed25519.pub", folder / "authorized_keys")
        os.chmod(folder / "authorized_keys", 0o600)
    client_key = folder / "client_ed25519"
    for _ in range(5):
        port = _free_port()
        config = folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                    f"PidFile {folder / 'sshd.pid'}",
                    "StrictModes no",  # the keys live in a temporary folder
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "AllowTcpForwarding yes",
                    "MaxSessions 50",
                    "MaxStartups 50:30:100",
                    "LogLevel ERROR",
                    extra_config,
                    "",
                ]
            )
        )
        log = open(folder / "sshd.log", "ab")  # noqa: SIM115 - sshd writes to it until stopped
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and not _banner(port):
            time.sleep(0.05)
        if proc.poll() is None and _banner(port):
            known_hosts = folder / "known_hosts"
            key_line = (folder / "host_ed25519.pub").read_text().split()[:2]
            known_hosts.write_text(
                "".join(
                    f"[{name}]:{port} {' '.join(key_line)}\n" for name in ("127.0.0.1", "localhost")
                )
            )
            return Sshd(folder, port, proc, client_key, known_hosts)
        proc.kill()
        proc.wait()
    pytest.fail(f"sshd did not start: {(folder / 'sshd.log').read_text()[-2000:]}")
