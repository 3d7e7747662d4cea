"""Reads that do not import psycopg: libpq itself, through ctypes.

Commands such as ``list``, ``show`` and ``status`` read a few rows and exit. Importing psycopg
(its C layer, its copy of libpq and what it imports, asyncio among them) takes longer than the
whole of such a command on a SQLite store. So until a process first needs psycopg (to write,
to migrate, or for a read this module does not take), ``Database.read`` sends its queries over a
connection opened here: the same libpq (psycopg's bundled copy when it has one), the same URL,
the same connection settings, so passwords come from the same places (``~/.pgpass``,
``PGPASSWORD``, a service file).

Only what the store's reads need is handled: text results of the column types below, and
parameters that are ``None``, ``str``, ``int``, ``float`` or a list of ``str``. Anything else,
and any error from the server, raises ``Unsupported``; the caller then asks psycopg, so the
values and the error messages are psycopg's wherever this module has no answer.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import importlib.util
import math
import os
import select
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: libpq's codes (libpq-fe.h).
CONNECTION_OK = 0
PGRES_COMMAND_OK = 1
PGRES_TUPLES_OK = 2
#: Column types by OID (pg_type.dat) and how a text value of each becomes what psycopg returns.
_BOOLS = {"t": True, "f": False}
CONVERTERS: dict[int, Callable[[str], Any]] = {
    16: _BOOLS.__getitem__,  # bool
    17: lambda text: bytes.fromhex(text.removeprefix("\\x")) if text[:2] == "\\x" else _no(),
    19: str,  # name
    20: int,  # int8
    21: int,  # int2
    23: int,  # int4
    25: str,  # text
    700: float,  # float4
    701: float,  # float8: the server writes NaN, Infinity and -Infinity, which float() reads
    1043: str,  # varchar
}
#: Seconds between two looks at whether Ctrl-C was pressed while the server answers.
WAIT_S = 0.5
#: Where psycopg's binary package keeps its own libpq (Linux wheels, then macOS wheels).
_BUNDLED = ("psycopg_binary.libs/libpq*", "psycopg_binary/.dylibs/libpq*")
_SYSTEM = ("libpq.so.5", "libpq.5.dylib", "libpq.dylib")


class Unsupported(Exception):
    """This read is psycopg's to do (a type, a parameter or an error this module leaves it)."""


class ConnectFailed(Exception):
    """libpq could not connect; the message is libpq's (as psycopg would show it)."""


def _no() -> Any:
    raise Unsupported("a value in a form this reader does not decode")


@functools.cache
def library() -> Any:
    """libpq, its functions typed; ``None`` where none can be loaded."""
    lib = None
    spec = importlib.util.find_spec("psycopg_binary")  # found, not imported
    folders = (spec.submodule_search_locations or []) if spec else []
    roots = [Path(folder).parent for folder in folders]
    candidates = [f for root in roots for glob_ in _BUNDLED for f in glob.glob(str(root / glob_))]
    for name in [*sorted(candidates), *_SYSTEM]:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return None
    p, i, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    strings = ctypes.POINTER(ctypes.c_char_p)
    for fn, args, result in (
        ("PQconnectdbParams", [strings, strings, i], p),
        ("PQstatus", [p], i),
        ("PQerrorMessage", [p], s),
        ("PQfinish", [p], None),
        ("PQsendQueryParams", [p, s, i, p, strings, p, p, i], i),
        ("PQconsumeInput", [p], i),
        ("PQisBusy", [p], i),
        ("PQsocket", [p], i),
        ("PQgetResult", [p], p),
        ("PQresultStatus", [p], i),
        ("PQntuples", [p], i),
        ("PQnfields", [p], i),
        ("PQftype", [p, i], ctypes.c_uint),
        ("PQgetvalue", [p, i, i], p),
        ("PQgetlength", [p, i, i], i),
        ("PQgetisnull", [p, i, i], i),
        ("PQclear", [p], None),
        ("PQsetNoticeProcessor", [p, _NOTICE, p], p),
    ):
        func = getattr(lib, fn)
        func.argtypes, func.restype = args, result
    return lib


#: libpq prints the server's notices on stderr unless told otherwise; psycopg only logs them.
_NOTICE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_IGNORE_NOTICE = _NOTICE(lambda arg, message: None)


def _strings(values: Sequence[bytes | None]) -> Any:
    return (ctypes.c_char_p * (len(values) + 1))(*values, None)


def _param(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise Unsupported("a boolean parameter")
    if isinstance(value, str):
        if "\0" in value:
            raise Unsupported("a NUL character, which psycopg refuses with its own message")
        return value.encode()
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        if math.isnan(value):
            return b"NaN"
        if math.isinf(value):
            return b"Infinity" if value > 0 else b"-Infinity"
        return repr(value).encode()
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        # An array literal: every element quoted, so commas, braces and NULL stay text.
        quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in value)
        return _param("{" + ",".join(f'"{v}"' for v in quoted) + "}")
    raise Unsupported(f"a parameter of type {type(value).__name__}")


def numbered(sql: str) -> str:
    """psycopg's ``%s`` placeholders as libpq's ``$1``, ``$2``…"""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        raise Unsupported("a query with other % sequences")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


class LibpqConnection:
    """One libpq connection in autocommit mode, for reads."""

    def __init__(self, lib: Any, handle: int) -> None:
        self._lib = lib
        self._handle: int | None = handle
        self.pid = os.getpid()

    @classmethod
    def open(cls, url: str) -> LibpqConnection:
        """A connection to ``url`` with the settings psycopg's is opened with
        (``connection.connect``); ``Unsupported`` without libpq, ``ConnectFailed``."""
        lib = library()
        if lib is None:
            raise Unsupported("no libpq here")
        query = parse_qs(urlsplit(url).query)
        settings: dict[str, str] = {"client_encoding": "UTF8"}
        if "connect_timeout" not in query and "PGCONNECT_TIMEOUT" not in os.environ:
            from backprop_postgres.connection import CONNECT_TIMEOUT_S

            settings["connect_timeout"] = str(CONNECT_TIMEOUT_S)
        if "application_name" not in query and "PGAPPNAME" not in os.environ:
            settings["application_name"] = "backprop"
        # The URL comes last: libpq lets what it says override the keywords before it.
        keys = [k.encode() for k in settings] + [b"dbname"]
        values = [v.encode() for v in settings.values()] + [url.encode()]
        handle = lib.PQconnectdbParams(_strings(keys), _strings(values), 1)
        if not handle:
            raise Unsupported("libpq could not allocate a connection")
        if lib.PQstatus(handle) != CONNECTION_OK:
            message = (lib.PQerrorMessage(handle) or b"").decode("utf-8", "replace")
            lib.PQfinish(handle)
            raise ConnectFailed(message.strip() or "the connection failed")
        lib.PQsetNoticeProcessor(handle, _IGNORE_NOTICE, None)
        return cls(lib, handle)

    def _execute(self, sql: str, params: Sequence[Any], status: int) -> int:
        """``sql``'s result, which ``PQclear`` must free; ``Unsupported`` unless its status."""
        if self._handle is None:
            raise Unsupported("the connection is closed")
        lib, handle = self._lib, self._handle
        values = [_param(v) for v in params]
        sent = lib.PQsendQueryParams(
            handle, numbered(sql).encode(), len(values), None, _strings(values), None, None, 0
        )
        if not sent:
            raise Unsupported("the query could not be sent")
        try:
            # Waiting here rather than in libpq lets Ctrl-C through while the server is slow
            # or gone (libpq itself would retry its wait until the network gives up).
            while lib.PQconsumeInput(handle) and lib.PQisBusy(handle):
                select.select([lib.PQsocket(handle)], [], [], WAIT_S)
        except BaseException:
            self.close()  # a query still in flight: this connection is not used again
            raise
        result, extra = lib.PQgetResult(handle), lib.PQgetResult(handle)
        while extra:  # one statement gives one result; a broken connection may add others
            lib.PQclear(extra)
            extra = lib.PQgetResult(handle)
        if not result:
            raise Unsupported("libpq returned no result")
        if lib.PQresultStatus(result) != status:
            lib.PQclear(result)
            raise Unsupported("the server refused the query")
        return int(result)

    def command(self, sql: str) -> None:
        """Run a statement that returns no rows (``BEGIN``, ``ROLLBACK``)."""
        self._lib.PQclear(self._execute(sql, (), PGRES_COMMAND_OK))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows ``sql`` returns, typed as psycopg types them; ``Unsupported`` otherwise."""
        lib = self._lib
        result = self._execute(sql, params, PGRES_TUPLES_OK)
        try:
            fields = range(lib.PQnfields(result))
            try:
                convert = [CONVERTERS[lib.PQftype(result, c)] for c in fields]
            except KeyError:
                raise Unsupported("a column type this reader does not decode") from None
            value, length, null = lib.PQgetvalue, lib.PQgetlength, lib.PQgetisnull
            return [
                tuple(
                    None
                    if null(result, r, c)
                    else convert[c](
                        ctypes.string_at(value(result, r, c), length(result, r, c)).decode()
                    )
                    for c in fields
                )
                for r in range(lib.PQntuples(result))
            ]
        finally:
            lib.PQclear(result)

    def schema_version(self) -> int:
        """The schema's version, as ``schema.schema_version`` reads it."""
        from backprop_postgres.schema import META_EXISTS, VERSION_ROW

        if not self.query(META_EXISTS)[0][0]:
            return 0
        rows = self.query(VERSION_ROW)
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        """End the session; in a forked child, only forget it (the parent still uses it)."""
        handle, self._handle = self._handle, None
        if handle is not None and self.pid == os.getpid():
            self._lib.PQfinish(handle)
