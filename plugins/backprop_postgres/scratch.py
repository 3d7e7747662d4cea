"""A throwaway PostgreSQL server in a temporary folder, for tests and benchmarks.

It uses the server binaries of the distribution's packages (Debian: ``postgresql``), needs no
systemd and touches nothing outside its folder: ``initdb`` (as the ``postgres`` user when run as
root, which ``initdb`` refuses to be), ``pg_ctl start`` on a free loopback port with the socket
in the folder, ``pg_ctl stop`` at the end. Logins are trusted, from this machine only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ScratchUnavailable(Exception):
    """No server could be started here; the message says why."""


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScratchServer:
    """``ScratchServer.start()`` … ``url(db)`` … ``stop()``."""

    def __init__(self, folder: Path, bin_dir: Path, user: str | None, durable: bool) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.bin_dir = bin_dir
        self.user = user  # run the server as this user (when we are root)
        self.durable = durable
        self.port = 0

    @classmethod
    def start(cls, durable: bool = False) -> ScratchServer:
        """A new server, running. ``durable`` keeps PostgreSQL's default durability (fsync on
        every commit), as a real server has it; tests turn it off for speed."""
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise ScratchUnavailable("no PostgreSQL server binaries (initdb) are installed")
        user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ScratchUnavailable("running as root, and there is no postgres user") from None
            user = "postgres"
        folder = Path(tempfile.mkdtemp(prefix="backprop-pg-"))
        server = cls(folder, bin_dir, user, durable)
        try:
            if user is not None:
                shutil.chown(folder, user)
            server._run(
                "initdb", "--no-sync", "-D", str(server.data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--locale=C.UTF-8",
            )  # fmt: skip
            server.start_again()
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / tool), *args]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=self.folder)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise ScratchUnavailable(f"{tool} failed: {detail[-1] if detail else done.returncode}")
        return done

    def start_again(self) -> None:
        """Start the server (on a new free port the first time, on the same one after)."""
        settings = [f"-k {self.folder}", "-c listen_addresses=127.0.0.1", "-c max_connections=200"]
        if not self.durable:
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        log = str(self.folder / "server.log")
        for attempt in range(5):
            port = self.port or _free_port()
            options = " ".join([*settings, f"-p {port}"])
            try:
                self._run(
                    "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                    "-l", log, "-o", options,
                )  # fmt: skip
                self.port = port
                return
            except ScratchUnavailable:
                if self.port or attempt == 4:  # the same port again, or out of tries
                    raise
                time.sleep(0.2)  # another process took the port in between: another one

    def stop_only(self) -> None:
        """Stop the server, keeping its data (``start_again`` brings it back)."""
        self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.data))

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ScratchUnavailable, subprocess.TimeoutExpired):
                self.stop_only()
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement as the superuser (outside a transaction: CREATE DATABASE…)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database; its URL."""
        clause = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)
