"""The PostgreSQL run store: a team's runs in one database (``store: postgresql://…``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Store


@hookimpl
def backprop_register_stores() -> list[type[Store]]:
    from backprop_postgres.store import PostgresStore

    return [PostgresStore]
