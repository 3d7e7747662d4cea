"""A real PostgreSQL server for the tests marked ``postgres``: started once per test session in
a temporary folder from the distribution's packages, and stopped at the end. Each test gets a
database of its own. Where no server can be started (no binaries, no psycopg), those tests
skip, saying why."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

TEMPLATE = "backprop_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    pytest.importorskip(
        "psycopg", reason="psycopg is not installed (pip install 'backprop[postgres]')"
    )
    from backprop_postgres.scratch import ScratchServer, ScratchUnavailable

    try:
        server = ScratchServer.start()
    except ScratchUnavailable as exc:
        pytest.skip(f"no PostgreSQL server can be started here: {exc}")
    try:
        # A migrated template makes each test's fresh database a quick file copy.
        from backprop_postgres.connection import connect

        conn, _ = connect(server.create_database(TEMPLATE))
        conn.close()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: object) -> str:
    """The URL of a new database holding backprop's tables and nothing else."""
    return pg_server.create_database(f"test_{next(_numbers)}", template=TEMPLATE)  # type: ignore[attr-defined]


@pytest.fixture
def empty_pg_url(pg_server: object) -> str:
    """The URL of a new, empty database (no backprop tables yet)."""
    return pg_server.create_database(f"empty_{next(_numbers)}")  # type: ignore[attr-defined]


def pg_store(url: str, home: Path):  # type: ignore[no-untyped-def]
    """A store object on ``url`` with ``home`` as its home (created)."""
    from backprop_core.plugin.manager import get_plugins

    store = get_plugins().store_class(url)(home)
    store.home.ensure()
    return store
