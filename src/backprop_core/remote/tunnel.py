"""This side of ``ui --ssh``: start (or find) the viewer on the host, forward a loopback port
here to it through the SSH connection, and take it all down again on Ctrl-C.

The forward goes to the viewer's Unix socket (``ssh -L 127.0.0.1:PORT:/path/viewer.sock``).
Where the server refuses to forward Unix sockets (``AllowStreamLocalForwarding no``, or a path
too long for a socket), the viewer listens on the host's loopback instead and the forward goes
there; the token is required either way.
"""

from __future__ import annotations

import http.client
import json
import selectors
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backprop_core.errors import RemoteError
from backprop_core.remote.commands import StderrRelay, end
from backprop_core.remote.ssh import SshConnection

READY_TIMEOUT_S = 120.0
HEALTH_TIMEOUT_S = 60.0
REFUSED_GRACE_S = 10.0  # a refused forward stays refused; a loaded machine recovers sooner


@dataclass(frozen=True)
class RemoteViewer:
    """What the host's helper answered: where the viewer listens and its token."""

    pid: int
    token: str
    home: str
    socket: str | None
    port: int | None
    reused: bool
    keep: bool

    @property
    def target(self) -> str:
        return self.socket if self.socket else f"127.0.0.1:{self.port}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteViewer:
        return cls(
            pid=int(data["pid"]),
            token=str(data["token"]),
            home=str(data["home"]),
            socket=data.get("socket"),
            port=data.get("port"),
            reused=bool(data.get("reused")),
            keep=bool(data.get("keep")),
        )


def free_port() -> int:
    """A port nothing listens on here, on the loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(port: int, token: str, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    """Whether the viewer answers ``/api/health`` through the forward on ``port``. A viewer
    still starting holds the connection until it answers; a forward the server refuses closes
    it at once, which is retried for ``REFUSED_GRACE_S`` and then gives False."""
    deadline = time.monotonic() + timeout
    refused_since: float | None = None
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request("GET", "/api/health", headers={"Authorization": f"token {token}"})
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            now = time.monotonic()
            refused_since = refused_since or now
            if now - refused_since > REFUSED_GRACE_S:
                return False
            time.sleep(0.2)
        finally:
            conn.close()
    return False


class Tunnel:
    """The viewer on ``conn``'s host, reachable at ``url`` here while this object is open."""

    def __init__(
        self, conn: SshConnection, helper_args: Sequence[str], *, keep: bool, port: int | None
    ) -> None:
        self.conn = conn
        self.helper_args = list(helper_args)
        self.keep = keep
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.viewer: RemoteViewer | None = None
        self.local_port = 0
        self.relay = StderrRelay(conn.host)

    @property
    def url(self) -> str:
        assert self.viewer is not None
        return f"http://127.0.0.1:{self.local_port}/?token={self.viewer.token}"

    @property
    def owned(self) -> bool:
        """Whether this tunnel started the viewer and stops it when it closes."""
        return self.viewer is not None and not self.viewer.reused and not self.keep

    def open(self) -> str:
        """Start or find the viewer, forward a port to it and check it answers; the URL."""
        self.viewer = self._start(tcp=False)
        self.local_port = self.port or free_port()
        self.conn.forward(self.local_port, self.viewer.target)
        if not healthy(self.local_port, self.viewer.token) and self.viewer.socket:
            # The server would not forward to a Unix socket: the loopback instead, and the
            # viewer started for the socket goes (kept or not: it cannot be reached).
            self.conn.cancel_forward(self.local_port, self.viewer.target)
            self._stop_viewer(replaced=True)
            self.viewer = self._start(tcp=True)
            self.conn.forward(self.local_port, self.viewer.target)
            if not healthy(self.local_port, self.viewer.token):
                raise RemoteError(
                    f"the viewer on {self.conn.host} does not answer through the tunnel",
                    hint="check that the server allows port forwarding (AllowTcpForwarding)",
                )
        return self.url

    def _start(self, *, tcp: bool) -> RemoteViewer:
        args = ["remote-helper", "viewer", *(["--keep"] if self.keep else [])]
        args += ["--tcp"] if tcp else []
        self.proc = self.conn.popen([*args, *self.helper_args], stdin=subprocess.PIPE)
        assert self.proc.stderr is not None
        self.relay.drain(self.proc.stderr)
        line = self._first_line(self.proc)
        if not line:
            end(self.proc)
            time.sleep(0.1)  # let the relay read the last of stderr
            self.conn.raise_for_launch(self.proc.returncode, self.relay.text)
            raise self.relay.failure(self.proc.returncode or 1)
        return RemoteViewer.from_json(json.loads(line))

    @staticmethod
    def _first_line(proc: subprocess.Popen[bytes]) -> bytes:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(READY_TIMEOUT_S):
                return b""
        return proc.stdout.readline().strip()

    def wait(self) -> str:
        """Block until the viewer or the connection ends (Ctrl-C raises); say which."""
        while True:
            if self.owned and self.proc is not None:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    continue
                return "the viewer on the other side stopped, or the connection was lost"
            time.sleep(5)
            if not self.conn.alive():
                return "the connection was lost"

    def _stop_viewer(self, replaced: bool = False) -> None:
        """End the viewer this tunnel started: its session's stdin closes; by its recorded pid
        if that is not enough, or if it was kept (``replaced``: it is of no use)."""
        proc, viewer = self.proc, self.viewer
        if proc is None or viewer is None:
            return
        end(proc, timeout=10)
        if viewer.reused:
            return
        if not (replaced and viewer.keep) and (proc.returncode or 0) >= 0:
            return  # it ended by itself, with its viewer (or is kept on purpose)
        try:
            self.conn.run(
                ["remote-helper", "viewer-stop", "--pid", str(viewer.pid), *self.helper_args],
                timeout=60,
            )
        except (RemoteError, subprocess.TimeoutExpired):
            pass  # the connection is gone: the viewer's stdin closed with it

    def close(self) -> None:
        if self.viewer is not None and self.local_port:
            self.conn.cancel_forward(self.local_port, self.viewer.target)
        if self.owned:
            self._stop_viewer()
        elif self.proc is not None:
            end(self.proc)
