"""Artifact versions, aliases and uses in PostgreSQL (docs/artifacts.md), with the SQLite
store's semantics (``backprop_sqlite.artifact_rows``).

``artifact_names`` keeps each name's next version number, so a deleted number is never given
again; every change to a name's versions or aliases first locks that row, so writers of one
name take turns (several names: in sorted order, so they never wait on each other in a cycle).
``artifact_aliases`` maps (name, alias) to a version, ``latest`` included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from backprop_core import ArtifactNotFound, ArtifactUse, ArtifactVersion
from backprop_core.plugin_kit import LATEST
from backprop_postgres.location import across_databases
from backprop_postgres.rows import dumps
from backprop_postgres.series_pg import clean_text

if TYPE_CHECKING:
    import psycopg

    from backprop_postgres.database import Database, Reader

#: In ``ArtifactVersion``'s field order, so that a row builds a version directly.
_COLUMNS = (
    "name, digest, kind, size, files, version, type, run_id, created_at, step, metadata, source"
)
_EMPTY = "{}"
#: ``ArtifactUse``'s fields, in order.
_USE_COLUMNS = "run_id, name, version, digest, ref, time"


def _text(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def _version(row: tuple[Any, ...], aliases: list[str]) -> ArtifactVersion:
    name, digest, kind, size, files, version, type_, run_id, created_at, step, meta, source = row
    metadata = {} if meta == _EMPTY else json.loads(meta)
    return ArtifactVersion(
        name, digest, kind, size, files, version, type_, run_id, created_at, step, aliases,
        metadata, source,
    )  # fmt: skip


def _missing(name: str, version: int) -> ArtifactNotFound:
    return ArtifactNotFound(f"no artifact version {name}:v{version}")


def lock_names(conn: psycopg.Connection, names: Iterable[str]) -> None:
    """Lock the ``artifact_names`` rows of ``names`` (created if new), in sorted order."""
    ordered = sorted({clean_text(n) for n in names})
    if not ordered:
        return
    conn.execute(
        "INSERT INTO artifact_names (name, next_version) SELECT unnest(%s::text[]), 0"
        " ORDER BY 1 ON CONFLICT (name) DO NOTHING",
        (ordered,),
    )
    conn.execute(
        "SELECT 1 FROM artifact_names WHERE name = ANY(%s) ORDER BY name FOR UPDATE", (ordered,)
    )


def add_version(conn: psycopg.Connection, version: ArtifactVersion) -> ArtifactVersion:
    """Number and insert ``version``, pointing its aliases and ``latest`` at it."""
    name = clean_text(version.name)
    (number,) = conn.execute(
        "INSERT INTO artifact_names (name, next_version) VALUES (%s, 1)"
        " ON CONFLICT (name) DO UPDATE SET next_version = artifact_names.next_version + 1"
        " RETURNING next_version - 1",
        (name,),
    ).fetchone() or (0,)
    aliases = sorted({*(clean_text(a) for a in version.aliases), LATEST})
    stored = replace(version, name=name, version=int(number), aliases=[])
    conn.execute(
        f"INSERT INTO artifact_versions ({_COLUMNS})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            name,
            clean_text(stored.digest),
            clean_text(stored.kind),
            stored.size,
            stored.files,
            stored.version,
            clean_text(stored.type),
            _text(stored.run_id),
            stored.created_at,
            stored.step,
            dumps(stored.metadata),
            _text(stored.source),
        ),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO artifact_aliases (name, alias, version) VALUES (%s, %s, %s)"
            " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
            [(name, alias, stored.version) for alias in aliases],
        )
    stored.aliases = aliases
    return stored


def add_versions(conn: psycopg.Connection, versions: list[ArtifactVersion]) -> None:
    """``add_version`` each of ``versions`` in order, their names locked first."""
    if versions:
        lock_names(conn, (v.name for v in versions))
        for version in versions:
            add_version(conn, version)


def record_use(conn: psycopg.Connection, use: ArtifactUse) -> None:
    """Record ``use``, replacing the run's earlier use of the same version (ordered anew)."""
    conn.execute(
        f"INSERT INTO artifact_uses ({_USE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (run_id, name, version) DO UPDATE SET digest = excluded.digest,"
        " ref = excluded.ref, time = excluded.time, n = nextval('artifact_use_seq')",
        (
            clean_text(use.run_id),
            clean_text(use.name),
            use.version,
            clean_text(use.digest),
            clean_text(use.ref),
            use.time,
        ),
    )


def digests(url: str) -> set[str] | None:
    """The digests of every version in the database at ``url``, read without creating or
    migrating anything; empty for a database without the artifact tables, ``None`` if it
    cannot be read."""
    try:
        import psycopg
    except ImportError:
        return None
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            (exists,) = conn.execute(
                "SELECT to_regclass('artifact_versions') IS NOT NULL"
            ).fetchone() or (False,)
            if not exists:
                return set()
            return {row[0] for row in conn.execute("SELECT digest FROM artifact_versions")}
    except psycopg.Error:
        return None


def _exists(conn: psycopg.Connection, name: str, version: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM artifact_versions WHERE name = %s AND version = %s", (name, version)
    ).fetchone()
    return row is not None


class PostgresArtifacts:
    """The artifact part of the store contract, for ``PostgresStore``."""

    location: ClassVar[str | None]
    db: Database

    @classmethod
    def artifact_digests_in(cls, home: Path) -> set[str] | None:
        return across_databases(Path(home), cls.location, digests)

    def add_artifact_version(self, version: ArtifactVersion) -> ArtifactVersion:
        with self.db.write() as conn:
            return add_version(conn, version)

    def artifact_versions(
        self, name: str | None = None, *, type: str | None = None, run_id: str | None = None
    ) -> list[ArtifactVersion]:
        clauses, params = [], []
        for column, value in (("name", name), ("type", type), ("run_id", run_id)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(clean_text(value))
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""

        def read(query: Reader) -> list[ArtifactVersion]:
            # One snapshot for the versions and their aliases.
            rows = query(
                f"SELECT {_COLUMNS} FROM artifact_versions{where} ORDER BY name, version", params
            )
            alias_sql = "SELECT name, version, alias FROM artifact_aliases"
            names = sorted({r[0] for r in rows})
            if not clauses:
                alias_rows = query(alias_sql)
            elif names:  # the aliases of these names only
                alias_rows = query(f"{alias_sql} WHERE name = ANY(%s)", (names,))
            else:
                alias_rows = []
            aliases: dict[tuple[str, int], list[str]] = {}
            for n, v, alias in alias_rows:
                aliases.setdefault((n, v), []).append(alias)
            none: list[str] = []
            return [_version(r, sorted(aliases.get((r[0], r[5]), none))) for r in rows]

        return self.db.snapshot(read)

    def set_artifact_alias(self, name: str, version: int, alias: str) -> None:
        name = clean_text(name)
        with self.db.write() as conn:
            conn.execute("SELECT 1 FROM artifact_names WHERE name = %s FOR UPDATE", (name,))
            if not _exists(conn, name, version):
                raise _missing(name, version)
            conn.execute(
                "INSERT INTO artifact_aliases (name, alias, version) VALUES (%s, %s, %s)"
                " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                (name, clean_text(alias), version),
            )

    def delete_artifact_version(self, name: str, version: int) -> None:
        name = clean_text(name)
        with self.db.write() as conn:
            conn.execute("SELECT 1 FROM artifact_names WHERE name = %s FOR UPDATE", (name,))
            if not _exists(conn, name, version):
                raise _missing(name, version)
            for table in ("artifact_versions", "artifact_aliases"):
                conn.execute(
                    f"DELETE FROM {table} WHERE name = %s AND version = %s", (name, version)
                )
            (newest,) = conn.execute(
                "SELECT max(version) FROM artifact_versions WHERE name = %s", (name,)
            ).fetchone() or (None,)
            if newest is not None:
                conn.execute(
                    "INSERT INTO artifact_aliases (name, alias, version) VALUES (%s, %s, %s)"
                    " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                    (name, LATEST, newest),
                )

    def record_artifact_use(self, use: ArtifactUse) -> None:
        with self.db.write() as conn:
            record_use(conn, use)

    def artifact_uses(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        version: int | None = None,
    ) -> list[ArtifactUse]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("run_id", run_id), ("name", name), ("version", version)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(clean_text(value) if isinstance(value, str) else value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"SELECT {_USE_COLUMNS} FROM artifact_uses{where} ORDER BY time, n"
        return [ArtifactUse(*row) for row in self.db.read(sql, params)]
