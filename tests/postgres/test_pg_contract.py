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
