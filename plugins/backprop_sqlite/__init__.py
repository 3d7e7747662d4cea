"""The SQLite run store (the default): ``home/backprop.db`` in WAL mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Store


@hookimpl
def backprop_register_stores() -> list[type[Store]]:
    from backprop_sqlite.store import SqliteStore

    return [SqliteStore]
