"""A COMMIT whose reply never arrives: the server committed the batch but the connection died
before the client heard so. Retried, as the event writer retries it, the batch is not stored
twice; a different batch is not mistaken for it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backprop_core.errors import StoreUnreachable
from backprop_core.events.event import Event
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus
from tests.postgres_server import pg_store

pytestmark = pytest.mark.postgres


class CommitCutter:
    """A TCP proxy to the server. Once ``armed``, it passes on the client's COMMIT, waits for
    the server's reply (the server has committed by then), and closes the client's connection
    instead of passing the reply on."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.armed = threading.Event()
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url_port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.port))
            cut = threading.Event()
            threading.Thread(target=self._up, args=(client, server, cut), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, cut), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, cut: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                if self.armed.is_set() and b"COMMIT" in data:
                    self.armed.clear()
                    cut.set()
                server.sendall(data)
        except OSError:
            pass
        finally:
            server.close()

    def _down(self, server: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        try:
            while data := server.recv(65536):
                if cut.is_set():  # the COMMIT's reply: committed, and never told
                    self.cuts += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            client.shutdown(socket.SHUT_RDWR)
            client.close()
            server.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def cut_store(pg_url: str, tmp_path: Path) -> Iterator[tuple[Store, CommitCutter]]:
    parts = urlsplit(pg_url)
    assert parts.port is not None
    cutter = CommitCutter(parts.port)
    url = pg_url.replace(f":{parts.port}/", f":{cutter.url_port}/")
    store = pg_store(url, tmp_path / "home")
    store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=1_790_000_000.0))
    yield store, cutter
    store.close()
    cutter.close()


def _batch(start: int, n: int) -> list[Event]:
    return [
        Event("metrics", 1.0 + i, i, {"data": {"loss": float(i)}}, 1)
        for i in range(start, start + n)
    ]


def test_a_batch_committed_without_a_reply_is_not_stored_twice_when_retried(
    cut_store: tuple[Store, CommitCutter],
) -> None:
    store, cutter = cut_store
    store.append_events("r1", _batch(0, 10))
    doubtful = _batch(10, 10)
    cutter.armed.set()
    with pytest.raises(StoreUnreachable):
        store.append_events("r1", doubtful)
    assert cutter.cuts == 1
    store.append_batch("r1", [*doubtful, *_batch(20, 5)])  # the writer's retry, with more
    events = store.events("r1")
    assert [e.seq for e in events] == list(range(1, 26))
    assert store.metric_series("r1", "loss").values == [float(i) for i in range(25)]
    assert store.get_run("r1").last_step == 24


def test_a_different_batch_after_a_lost_commit_is_stored_whole(
    cut_store: tuple[Store, CommitCutter],
) -> None:
    store, cutter = cut_store
    cutter.armed.set()
    with pytest.raises(StoreUnreachable):
        store.append_events("r1", _batch(0, 10))  # committed, though the client never heard
    store.append_events("r1", _batch(100, 3))  # not a retry of it: nothing of it is skipped
    steps = store.metric_series("r1", "loss").steps
    assert steps == [*range(10), 100, 101, 102]
