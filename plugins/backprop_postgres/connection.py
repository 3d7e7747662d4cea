"""Connecting to the server (psycopg 3, imported only here and only when used), migrating,
and turning what goes wrong into one-line errors that say what to do."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from backprop_core import ConfigError, StoreError, StoreFull, StoreUnreachable
from backprop_postgres.schema import SCHEMA_VERSION, migrate

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 10
INSTALL_HINT = "install it with: pip install 'backprop[postgres]'"


def driver() -> Any:
    """The ``psycopg`` module; ``ConfigError`` (exit 2) when it is not installed."""
    try:
        import psycopg
    except ImportError:
        raise missing_driver() from None
    return psycopg


def check_driver() -> None:
    """``driver``'s error when psycopg is not installed, without importing it (slow)."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        raise missing_driver()


def missing_driver() -> ConfigError:
    return ConfigError(
        "the PostgreSQL store needs the psycopg package, which is not installed",
        hint=INSTALL_HINT,
    )


def connect(url: str) -> tuple[psycopg.Connection, int]:
    """An autocommit connection to ``url``, the schema migrated; and the schema's version
    (above ``SCHEMA_VERSION`` when a newer backprop wrote it)."""
    psycopg = driver()
    extra: dict[str, Any] = {"autocommit": True}
    info = psycopg.conninfo.conninfo_to_dict(url)
    if "connect_timeout" not in info and "PGCONNECT_TIMEOUT" not in os.environ:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    if "application_name" not in info and "PGAPPNAME" not in os.environ:
        extra["application_name"] = "backprop"
    try:
        conn = psycopg.connect(url, **extra)
    except psycopg.Error as exc:
        raise connect_error(exc, url) from exc
    try:
        version = migrate(conn)
    except psycopg.Error as exc:
        conn.close()
        if getattr(exc, "sqlstate", None) == "42501":
            raise StoreError(
                f"cannot create or upgrade the tables of the run store {url}: {_first_line(exc)}",
                hint="the role that owns the database does that: open the store once as that "
                "role (docs/store.md, 'Team store')",
            ) from exc
        raise store_error(exc, "prepare", url) from exc
    return conn, version


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # libpq repeats itself per address it tried; the first reason is the one to show.
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.removeprefix("connection failed: ").strip()


def connect_error(exc: Exception, url: str) -> StoreError:
    """Why the server could not be reached or logged into, and what to do."""
    text = _first_line(exc)
    lowered = str(exc).lower()
    if "password" in lowered and ("authentication" in lowered or "supplied" in lowered):
        hint = "put the password in ~/.pgpass (or PGPASSWORD, or a service file)"
    elif "does not exist" in lowered and "database" in lowered:
        hint = "create the database first (createdb), or fix the URL"
    elif "role" in lowered and "does not exist" in lowered:
        hint = "create the role first (createuser), or fix the user in the URL"
    else:
        hint = "check that the server is running and reachable from here, and the URL"
    return StoreUnreachable(f"cannot reach the run store {url}: {text}", hint=hint)


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone (server down, restarted, network)."""
    psycopg = driver()
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


def store_error(exc: Exception, what: str, url: str) -> StoreError:
    """A one-line ``StoreError`` for a failed operation, with what to do about it."""
    state = getattr(exc, "sqlstate", None)
    text = _first_line(exc)
    where = f"the run store {url}"
    if lost_connection(exc):
        return StoreUnreachable(
            f"lost the connection to {where}: {text}",
            hint="check that the server is running and reachable from here",
        )
    if state == "53100":
        return StoreFull(
            f"cannot {what} {where}: the server's disk is full ({text})",
            hint="free space on the database server",
        )
    if state == "25006":
        hint = "the server only allows reading (a standby?); point the URL at the primary"
    elif state == "42501":
        hint = "grant the role the rights a team store needs (docs/store.md, 'Team store')"
    elif state in ("40P01", "55P03"):
        hint = "another client held the run too long; try again"
    else:
        hint = "see the server's log, or run with --debug"
    return StoreError(f"cannot {what} {where}: {text}", hint=hint)


def newer_schema_error(url: str, version: int) -> StoreError:
    return StoreError(
        f"the run store {url} has schema version {version}, newer than this backprop "
        f"knows ({SCHEMA_VERSION}); it is not written to",
        hint="upgrade backprop on this machine (pip install -U 'backprop[postgres]')",
    )
