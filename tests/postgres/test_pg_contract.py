"""The PostgreSQL store passes the shared store contract unchanged, against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.store.contract import Store
from backprop_core.testing.store_contract import StoreContract
from backprop_core.testing.store_contract_artifacts import ArtifactContract
from tests.postgres_server import pg_store

pytestmark = pytest.mark.postgres


ARTIFACT_CASES = [name for name in dir(ArtifactContract) if name.startswith("test_")]


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path, pg_url: str) -> Iterator[Store]:
        store = pg_store(pg_url, tmp_path / "home")
        yield store
        store.close()


for _name in ARTIFACT_CASES:
    # Artifact records are not kept in PostgreSQL yet (docs/store.md, "Team store").
    setattr(
        TestPostgresStore,
        _name,
        pytest.mark.skip(reason="the PostgreSQL store keeps no artifact records yet")(
            getattr(ArtifactContract, _name)
        ),
    )


def test_artifact_records_are_refused_with_a_clear_message(pg_url: str, tmp_path: Path) -> None:
    from backprop_core import ArtifactVersion, StoreError

    store = pg_store(pg_url, tmp_path / "home")
    try:
        assert store.artifact_versions() == [] and store.artifact_uses() == []
        with pytest.raises(StoreError, match="does not keep artifact records"):
            store.add_artifact_version(
                ArtifactVersion(name="model", digest="0" * 64, kind="file", size=1, files=1)
            )
    finally:
        store.close()
