"""The other side of ``ui --ssh``: this home's viewer, listening where only a tunnel reaches it.

The viewer binds a Unix socket in ``home/viewer/`` (mode 0700, so no other user of the machine
can connect), or, where that cannot be forwarded, a loopback port. Either way it requires a
token, kept in ``home/viewer/viewer.json`` (0600) and sent back to the ``ui --ssh`` that asked,
and the loopback Host header of the tunnel's local end. One viewer per home: a second
``ui --ssh`` finds the registered one and reuses it.

Without ``keep`` the viewer serves in this process until stdin closes (the ssh session that
started it ended, or ``ui --ssh`` was stopped); with ``keep`` it detaches and serves until
``viewer-stop`` or a signal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backprop_core.settings.model import Settings

PROTOCOL = 1
SOCKET_NAME = "viewer.sock"
REGISTRIES = {False: "viewer.json", True: "viewer-tcp.json"}  # by whether it is on a port
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


@dataclass(frozen=True)
class ViewerEntry:
    """A viewer serving this home for tunnels, as its registry file records it."""

    pid: int
    started: float
    token: str
    socket: str | None = None
    port: int | None = None
    keep: bool = False

    @property
    def target(self) -> str:
        """What ``ssh -L`` forwards to."""
        return self.socket if self.socket else f"127.0.0.1:{self.port}"

    @property
    def tcp(self) -> bool:
        return self.socket is None


def viewer_dir(settings: Settings) -> Path:
    """``home/viewer``, private to this user (0700) however it was created."""
    path = Path(settings.home) / "viewer"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[int]:
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def read_entry(folder: Path, tcp: bool) -> ViewerEntry | None:
    """The viewer registered on a Unix socket, or (``tcp``) on a loopback port."""
    try:
        data = json.loads((folder / REGISTRIES[tcp]).read_text(encoding="utf-8"))
        return ViewerEntry(**data)
    except (OSError, ValueError, TypeError):
        return None


def _answers(entry: ViewerEntry) -> bool:
    family = socket.AF_UNIX if entry.socket else socket.AF_INET
    address: Any = entry.socket if entry.socket else ("127.0.0.1", entry.port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


def live_entry(folder: Path, tcp: bool) -> ViewerEntry | None:
    """A registered viewer whose process still runs and that accepts connections: one on a
    loopback port for ``tcp``, else either kind. One that runs but does not accept is stopped
    (by its recorded pid), so replacing it never leaves it behind."""
    from backprop_core.store.process_identity import process_alive

    for kind in (True,) if tcp else (False, True):
        entry = read_entry(folder, kind)
        if entry is None or not process_alive(entry.pid, entry.started):
            continue
        if _answers(entry):
            return entry
        _terminate(entry)
        _forget(folder, entry.pid, kind)
    return None


def _terminate(entry: ViewerEntry) -> bool:
    import signal

    try:
        os.kill(entry.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def _bind(folder: Path, tcp: bool) -> tuple[socket.socket, str | None, int | None]:
    path = folder / SOCKET_NAME
    if not tcp and len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a viewer that is gone (checked under the lock)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        sock.listen(128)
        return sock, str(path), None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock, None, int(sock.getsockname()[1])


def _write_entry(folder: Path, entry: ViewerEntry) -> None:
    name = REGISTRIES[entry.tcp]
    tmp = folder / f".{name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(entry), fh)
    os.replace(tmp, folder / name)


def _forget(folder: Path, pid: int, tcp: bool) -> None:
    """Remove the registry and socket if they are still this viewer's."""
    entry = read_entry(folder, tcp)
    if entry is None or entry.pid != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        (folder / REGISTRIES[tcp]).unlink()
    if entry.socket:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.socket)


def _announce(entry: ViewerEntry, settings: Settings, reused: bool) -> None:
    from backprop_core.__about__ import __version__

    data = {"protocol": PROTOCOL, "version": __version__, "home": str(settings.home)}
    data.update(asdict(entry), reused=reused)
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def serve_for_tunnel(settings: Settings, *, keep: bool, tcp: bool) -> None:
    """Print where this home's viewer listens (one JSON line), starting it if needed, then
    serve it (without ``keep``) until stdin closes."""
    from backprop_core.store.process_identity import process_start_time

    folder = viewer_dir(settings)
    token = secrets.token_urlsafe(24)
    with _locked(folder) as lock_fd:
        entry = live_entry(folder, tcp)
        if entry is not None:
            _announce(entry, settings, reused=True)
            return
        sock, path, port = _bind(folder, tcp)
        pid = os.fork() if keep else os.getpid()
        if pid == 0:  # the detached viewer
            os.close(lock_fd)
            _detach(folder)
            _serve(settings, sock, token, folder, watch_stdin=False)
            os._exit(0)
        entry = ViewerEntry(pid, process_start_time(pid), token, path, port, keep)
        _write_entry(folder, entry)
    _announce(entry, settings, reused=False)
    if keep:
        sock.close()
        return
    _serve(settings, sock, token, folder, watch_stdin=True)


def _detach(folder: Path) -> None:
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    log = os.open(folder / "viewer.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)


def _serve(
    settings: Settings, sock: socket.socket, token: str, folder: Path, *, watch_stdin: bool
) -> None:
    import uvicorn

    from backprop_core.viewer import create_app

    app = create_app(settings, token=token, loopback_host=True)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    if watch_stdin:

        def watch() -> None:
            with contextlib.suppress(OSError):
                while os.read(0, 65536):  # raw: no buffer lock held at shutdown
                    pass
            server.should_exit = True

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
    tcp = sock.family != socket.AF_UNIX
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        _forget(folder, os.getpid(), tcp)


def stop_registered(settings: Settings, pid: int) -> bool:
    """SIGTERM the viewer a registry records with ``pid``, if it still runs; never any
    other process."""
    from backprop_core.store.process_identity import process_alive

    folder = viewer_dir(settings)
    for tcp in (False, True):
        entry = read_entry(folder, tcp)
        if entry is not None and entry.pid == pid and process_alive(entry.pid, entry.started):
            return _terminate(entry)
    return False
