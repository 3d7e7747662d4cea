"""Both built-in stores pass the shared store contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
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


def test_backprop_register_stores_adds_a_store_by_name(tmp_path: Path) -> None:
    from backprop_core import hookimpl
    from backprop_sqlite.store import SqliteStore

    class MemoryishStore(SqliteStore):
        name = "third-party"

    class Plugin:
        @hookimpl
        def backprop_register_stores(self) -> list[type[Store]]:
            return [MemoryishStore]

    plugins = get_plugins()
    assert {"sqlite", "json"} <= set(plugins.stores())
    plugins.register(Plugin(), "third-party-store")
    try:
        assert plugins.store_class("third-party") is MemoryishStore
        from backprop_core.settings import Settings
        from backprop_core.store.opening import open_store

        store = open_store(Settings(home=tmp_path / "h", store="third-party"))
        assert isinstance(store, MemoryishStore)
    finally:
        plugins.unregister("third-party-store")


def test_backprop_register_exporters_provides_csv_and_json() -> None:
    exporters = get_plugins().exporters()
    assert {"csv", "json"} <= set(exporters)
    assert exporters["csv"].suffix == ".csv" and exporters["json"].suffix == ".json"
