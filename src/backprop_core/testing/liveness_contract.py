"""The liveness part of the store contract (part of ``StoreContract``): every store keeps the
fields that say where a session's supervisor runs, and its heartbeat (docs/store.md,
"Liveness"), because readers on other hosts and in other containers judge runs by them."""

from __future__ import annotations

import pytest

from backprop_core.errors import RunNotFound
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

T0 = 1_790_000_000.0


def _session(number: int, **fields: object) -> SessionRecord:
    return SessionRecord("r1", number, RunStatus.RUNNING, T0, **fields)  # type: ignore[arg-type]


class LivenessContract:
    """Heartbeats and the supervisor's identity, kept by every ``Store``."""

    def test_session_keeps_where_its_supervisor_runs(self, store: Store) -> None:
        store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=T0))
        session = _session(
            1,
            supervisor_pid=4242,
            supervisor_started=T0 - 1.25,
            host="trainbox-7",
            boot_id="3f0c8a1e-7d4b-4c6e-9a55-0b8e2d1f6c3a",
            pid_namespace=4026531836,
            heartbeat_at=T0 + 0.125,
        )
        store.add_session(session)
        assert store.sessions("r1") == [session]

    def test_beat_moves_the_heartbeat_and_nothing_else(self, store: Store) -> None:
        store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=T0))
        store.add_session(_session(1, host="a", heartbeat_at=T0, boot_id="b", pid_namespace=7))
        store.add_session(_session(2, host="a", heartbeat_at=T0 + 1))
        store.beat("r1", 2, T0 + 30.123456)
        store.beat("r1", 2, T0 + 35.654321)
        first, second = store.sessions("r1")
        assert second.heartbeat_at == T0 + 35.654321  # every digit kept
        assert first.heartbeat_at == T0  # only the session that beat
        expected = _session(2, host="a", heartbeat_at=T0 + 35.654321)
        assert second == expected
        assert store.get_run("r1").status is RunStatus.RUNNING
        other = type(store)(store.home.root)  # what another process reads
        try:
            assert other.sessions("r1")[1].heartbeat_at == T0 + 35.654321
        finally:
            other.close()

    def test_beat_for_a_missing_session_is_run_not_found(self, store: Store) -> None:
        store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=T0))
        with pytest.raises(RunNotFound):
            store.beat("r1", 1, T0)
        with pytest.raises(RunNotFound):
            store.beat("nope", 1, T0)
