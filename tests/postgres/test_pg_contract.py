"""The PostgreSQL store passes the shared store contract unchanged, against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.store.contract import Store
from backprop_core.testing.store_contract import StoreContract
from tests.postgres_server import pg_store

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path, pg_url: str) -> Iterator[Store]:
        store = pg_store(pg_url, tmp_path / "home")
        yield store
        store.close()


def test_versions_of_one_name_added_at_once_get_a_number_each(pg_url: str, tmp_path: Path) -> None:
    import threading

    from backprop_core import ArtifactVersion

    stores = [pg_store(pg_url, tmp_path / "home") for _ in range(4)]

    def add(store: Store) -> None:
        for _ in range(10):
            store.add_artifact_version(
                ArtifactVersion(name="model", digest="0" * 64, kind="file", size=1, files=1)
            )

    threads = [threading.Thread(target=add, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        versions = stores[0].artifact_versions("model")
        assert [v.version for v in versions] == list(range(40))
        assert versions[-1].aliases == ["latest"]
    finally:
        for store in stores:
            store.close()


def test_gc_is_told_nothing_when_a_remembered_database_cannot_be_read(tmp_path: Path) -> None:
    from backprop_postgres.store import PostgresStore

    (tmp_path / "team-stores.txt").write_text("postgresql://nobody@127.0.0.1:1/none\n")
    assert PostgresStore.artifact_digests_in(tmp_path) is None
    assert PostgresStore.artifact_digests_in(tmp_path / "no-home") == set()


class TestPostgresStoreReadThroughLibpq(StoreContract):
    """The same contract with every ``read`` sent over libpq directly, as commands that only
    read send theirs (``libpq_reads``); none may fall back to psycopg."""

    @pytest.fixture
    def store(
        self, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[Store]:
        from backprop_postgres import database, libpq_reads

        monkeypatch.setattr(database, "LIBPQ_AFTER_PSYCOPG", True)
        declined: list[str] = []
        query = libpq_reads.LibpqConnection.query

        def watched(self: libpq_reads.LibpqConnection, sql: str, params: object = ()) -> object:
            try:
                return query(self, sql, params)  # type: ignore[arg-type]
            except libpq_reads.Unsupported as exc:
                declined.append(f"{sql} ({exc})")
                raise

        monkeypatch.setattr(libpq_reads.LibpqConnection, "query", watched)
        store = pg_store(pg_url, tmp_path / "home")
        yield store
        store.close()
        assert declined == []
