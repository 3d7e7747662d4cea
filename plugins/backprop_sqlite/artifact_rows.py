"""Artifact versions, aliases and uses in SQLite (docs/artifacts.md).

``artifact_names`` keeps each name's next version number, so a deleted number is never given
again; ``artifact_aliases`` maps (name, alias) to a version, ``latest`` included; records are
JSON in ``record`` columns, with the columns queries filter on beside them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backprop_core import ArtifactNotFound, ArtifactUse, ArtifactVersion
from backprop_core.plugin_kit import (
    LATEST,
)
from backprop_sqlite.connection import BUSY_TIMEOUT_S, dumps

#: In ``ArtifactVersion``'s field order, so that a row builds a version directly (listing ten
#: thousand versions parses no JSON but their metadata).
_COLUMNS = (
    "name, digest, kind, size, files, version, type, run_id, created_at, step, metadata, source"
)
_EMPTY = "{}"
#: ``ArtifactUse``'s fields, in order.
_USE_COLUMNS = "run_id, name, version, digest, ref, time"


def _version(row: tuple[Any, ...], aliases: list[str]) -> ArtifactVersion:
    name, digest, kind, size, files, version, type_, run_id, created_at, step, meta, source = row
    metadata = {} if meta == _EMPTY else json.loads(meta)
    return ArtifactVersion(
        name, digest, kind, size, files, version, type_, run_id, created_at, step, aliases,
        metadata, source,
    )  # fmt: skip


def _missing(name: str, version: int) -> ArtifactNotFound:
    return ArtifactNotFound(f"no artifact version {name}:v{version}")


def add_version(conn: sqlite3.Connection, version: ArtifactVersion) -> ArtifactVersion:
    """Number and insert ``version``, pointing its aliases and ``latest`` at it."""
    row = conn.execute(
        "SELECT next_version FROM artifact_names WHERE name = ?", (version.name,)
    ).fetchone()
    number = row[0] if row else 0
    conn.execute(
        "INSERT OR REPLACE INTO artifact_names (name, next_version) VALUES (?, ?)",
        (version.name, number + 1),
    )
    aliases = sorted({*version.aliases, LATEST})
    stored = replace(version, version=number, aliases=[])
    conn.execute(
        f"INSERT INTO artifact_versions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            stored.name,
            stored.digest,
            stored.kind,
            stored.size,
            stored.files,
            number,
            stored.type,
            stored.run_id,
            stored.created_at,
            stored.step,
            dumps(stored.metadata),
            stored.source,
        ),
    )
    conn.executemany(
        "INSERT OR REPLACE INTO artifact_aliases (name, alias, version) VALUES (?,?,?)",
        [(stored.name, alias, number) for alias in aliases],
    )
    stored.aliases = aliases
    return stored


def record_use(conn: sqlite3.Connection, use: ArtifactUse) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO artifact_uses ({_USE_COLUMNS}) VALUES (?,?,?,?,?,?)",
        (use.run_id, use.name, use.version, use.digest, use.ref, use.time),
    )


def digests_in(path: Path) -> set[str] | None:
    """The digests of every version in the database at ``path``, read without creating or
    migrating anything; empty without a database (or one from before artifacts)."""
    if not path.exists():
        return set()
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            known = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'artifact_versions'"
            ).fetchone()
            if known is None:
                return set()
            return {row[0] for row in conn.execute("SELECT digest FROM artifact_versions")}
        finally:
            conn.close()
    except sqlite3.Error:
        return None


class SqliteArtifacts:
    """The artifact part of the store contract, for ``SqliteStore``."""

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def add_artifact_version(self, version: ArtifactVersion) -> ArtifactVersion:
        with self._write() as conn:
            return add_version(conn, version)

    def artifact_versions(
        self, name: str | None = None, *, type: str | None = None, run_id: str | None = None
    ) -> list[ArtifactVersion]:
        clauses, params = [], []
        for column, value in (("name", name), ("type", type), ("run_id", run_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"SELECT {_COLUMNS} FROM artifact_versions{where} ORDER BY name, version"
        rows = self._read(sql, params)
        alias_sql = "SELECT name, version, alias FROM artifact_aliases"
        names = sorted({r[0] for r in rows})
        if not clauses or len(names) > 500:
            alias_rows = self._read(alias_sql)
        else:  # the aliases of these names only: a run's outputs must not read every alias
            marks = ",".join("?" * len(names))
            alias_rows = self._read(f"{alias_sql} WHERE name IN ({marks})", names) if names else []
        aliases: dict[tuple[str, int], list[str]] = {}
        for n, v, alias in alias_rows:
            aliases.setdefault((n, v), []).append(alias)
        none: list[str] = []
        return [_version(r, sorted(aliases.get((r[0], r[5]), none))) for r in rows]

    def set_artifact_alias(self, name: str, version: int, alias: str) -> None:
        with self._write() as conn:
            if not _exists(conn, name, version):
                raise _missing(name, version)
            conn.execute(
                "INSERT OR REPLACE INTO artifact_aliases (name, alias, version) VALUES (?,?,?)",
                (name, alias, version),
            )

    def delete_artifact_version(self, name: str, version: int) -> None:
        with self._write() as conn:
            if not _exists(conn, name, version):
                raise _missing(name, version)
            conn.execute(
                "DELETE FROM artifact_versions WHERE name = ? AND version = ?", (name, version)
            )
            conn.execute(
                "DELETE FROM artifact_aliases WHERE name = ? AND version = ?", (name, version)
            )
            newest = conn.execute(
                "SELECT max(version) FROM artifact_versions WHERE name = ?", (name,)
            ).fetchone()[0]
            if newest is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO artifact_aliases (name, alias, version) VALUES (?,?,?)",
                    (name, LATEST, newest),
                )

    def record_artifact_use(self, use: ArtifactUse) -> None:
        with self._write() as conn:
            record_use(conn, use)

    def artifact_uses(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        version: int | None = None,
    ) -> list[ArtifactUse]:
        clauses, params = [], []
        for column, value in (("run_id", run_id), ("name", name), ("version", version)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"SELECT {_USE_COLUMNS} FROM artifact_uses{where} ORDER BY time, rowid"
        return [ArtifactUse(*row) for row in self._read(sql, params)]


def _exists(conn: sqlite3.Connection, name: str, version: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM artifact_versions WHERE name = ? AND version = ?", (name, version)
    ).fetchone()
    return row is not None
