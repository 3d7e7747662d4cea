"""Both built-in stores pass the shared store contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from backprop_core.plugins import get_plugins
from backprop_core.store import Store
from backprop_core.testing.store_contract import StoreContract


@pytest.fixture(params=["sqlite", "json"])
def store_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestBuiltinStores(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path, store_name: str) -> Store:
        cls = get_plugins().store_class(store_name)
        store = cls(tmp_path / "home")
        store.home.ensure()
        yield store  # type: ignore[misc]
        store.close()
