"""Numbered schema migrations for the PostgreSQL store; ``meta.schema_version`` counts those
applied. Append new migrations to ``MIGRATIONS``; never edit one that has shipped.

The tables mirror the SQLite store's (``backprop_sqlite.schema``): records as JSON text (which
keeps the NaN a record may hold, unlike ``jsonb``), events one row each, metric points in
packed chunks with a min/max per ``TILE`` points. Migrations run in one transaction under an
advisory lock, so two clients opening a new database at once apply them once; PostgreSQL's DDL
is transactional, so a migration that fails leaves nothing half done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

#: Key of the advisory lock held while migrating (any 64-bit number; this one spells "bp-migr").
MIGRATION_LOCK = 0x62702D6D69677200

MIGRATIONS: list[str] = [
    # 1: the record model of run-record v1, with params, tags, chunk sessions and
    # checkpoint keys as the SQLite store has them after its migration 5.
    """
    CREATE TABLE runs (
        id text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C",
        status text NOT NULL,
        created_at double precision NOT NULL,
        event_seq bigint NOT NULL DEFAULT 0,
        checkpoint_seq bigint NOT NULL DEFAULT 0,
        tags text NOT NULL DEFAULT '{}',
        params text NOT NULL DEFAULT '{}',
        record text NOT NULL
    );
    CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
    CREATE INDEX runs_by_status ON runs (status, created_at DESC, id DESC);
    CREATE INDEX runs_by_name ON runs (name);
    -- heartbeat_at is kept apart from the record: a beat is then one small UPDATE.
    CREATE TABLE sessions (
        run_id text COLLATE "C" NOT NULL,
        number integer NOT NULL,
        heartbeat_at double precision,
        record text NOT NULL,
        PRIMARY KEY (run_id, number)
    );
    CREATE TABLE checkpoints (
        run_id text COLLATE "C" NOT NULL,
        n bigint NOT NULL,
        path text NOT NULL,
        key text NOT NULL,
        record text NOT NULL,
        PRIMARY KEY (run_id, n)
    );
    CREATE INDEX checkpoints_by_key ON checkpoints (run_id, key);
    CREATE TABLE events (
        run_id text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        kind text NOT NULL,
        time double precision NOT NULL,
        step bigint,
        session integer,
        payload text NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE series (
        id bigserial PRIMARY KEY,
        run_id text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        count bigint NOT NULL DEFAULT 0,
        UNIQUE (run_id, key)
    );
    -- Points of one series and one session, packed: steps int64 (-2**63 for none), times
    -- and values IEEE doubles, so NaN and ±Inf are kept bit for bit.
    CREATE TABLE chunks (
        series bigint NOT NULL,
        start bigint NOT NULL,
        n integer NOT NULL,
        max_step bigint,
        min_step bigint,
        session integer,
        non_finite boolean NOT NULL,
        steps bytea NOT NULL,
        times bytea NOT NULL,
        vals bytea NOT NULL,
        PRIMARY KEY (series, start)
    );
    -- Packed doubles do not compress: trying costs more than storing them (7x on appends).
    ALTER TABLE chunks ALTER COLUMN steps SET STORAGE EXTERNAL,
        ALTER COLUMN times SET STORAGE EXTERNAL, ALTER COLUMN vals SET STORAGE EXTERNAL;
    CREATE INDEX chunks_non_finite ON chunks (series, start) WHERE non_finite;
    -- Per 64 consecutive points: the first finite min and max and where they are. Downsampling
    -- a long series reads these instead of every point.
    CREATE TABLE tiles (
        series bigint NOT NULL,
        tile bigint NOT NULL,
        lo double precision, lo_idx bigint, lo_step bigint, lo_time double precision,
        hi double precision, hi_idx bigint, hi_step bigint, hi_time double precision,
        PRIMARY KEY (series, tile)
    );
    CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)
    """,
    # 2: the token of the last batch appended to each run, which tells a client whose COMMIT
    # lost its connection whether the server committed it (so it is not appended twice).
    "ALTER TABLE runs ADD COLUMN last_batch text",
    # 3: the host a run was pulled from (``RunRecord.origin``; NULL for a run recorded on this
    # machine), a column of its own as in the SQLite store's migration 6, to filter on.
    """
    ALTER TABLE runs ADD COLUMN origin text COLLATE "C";
    CREATE INDEX runs_by_origin ON runs (origin, created_at DESC, id DESC)
    """,
    # 4: artifact versions, their aliases, and runs' uses of them, as in the SQLite store's
    # migration 7 (docs/artifacts.md). ``artifact_names`` keeps each name's next version number
    # (a deleted number is never given again) and is the row writers of one name lock; a use's
    # ``n`` orders uses recorded at the same time, and is drawn anew when a use is replaced.
    """
    CREATE TABLE artifact_names (
        name text COLLATE "C" PRIMARY KEY,
        next_version bigint NOT NULL
    );
    CREATE TABLE artifact_versions (
        name text COLLATE "C" NOT NULL,
        version bigint NOT NULL,
        digest text NOT NULL,
        kind text NOT NULL,
        size bigint NOT NULL,
        files bigint NOT NULL,
        type text COLLATE "C" NOT NULL,
        run_id text COLLATE "C",
        created_at double precision NOT NULL,
        step bigint,
        metadata text NOT NULL,
        source text,
        PRIMARY KEY (name, version)
    );
    CREATE INDEX artifact_versions_by_type ON artifact_versions (type, name, version);
    CREATE INDEX artifact_versions_by_run ON artifact_versions (run_id);
    CREATE TABLE artifact_aliases (
        name text COLLATE "C" NOT NULL,
        alias text COLLATE "C" NOT NULL,
        version bigint NOT NULL,
        PRIMARY KEY (name, alias)
    );
    CREATE SEQUENCE artifact_use_seq;
    CREATE TABLE artifact_uses (
        run_id text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        version bigint NOT NULL,
        digest text NOT NULL,
        ref text NOT NULL,
        time double precision NOT NULL,
        n bigint NOT NULL DEFAULT nextval('artifact_use_seq'),
        UNIQUE (run_id, name, version)
    );
    CREATE INDEX artifact_uses_by_version ON artifact_uses (name, version)
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


META_EXISTS = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relname = 'meta'"
    " AND relnamespace = current_schema()::regnamespace)"
)
VERSION_ROW = "SELECT value FROM meta WHERE key = 'schema_version'"


def schema_version(conn: psycopg.Connection) -> int:
    """The version of the database's schema: 0 for an empty database."""
    # A query on the catalog, not to_regclass: after waiting for the migration lock, the
    # lookup cache of this session may not know yet that another client created the table.
    (exists,) = conn.execute(META_EXISTS).fetchone() or (False,)
    if not exists:
        return 0
    row = conn.execute(VERSION_ROW).fetchone()
    return int(row[0]) if row is not None else 0


def migrate(conn: psycopg.Connection) -> int:
    """Bring the database to ``SCHEMA_VERSION`` (safe when several clients race to do it) and
    return its version, which is higher than ``SCHEMA_VERSION`` when a newer backprop wrote it."""
    version = schema_version(conn)
    if version >= SCHEMA_VERSION:
        return version
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        version = schema_version(conn)  # another client may have migrated while we waited
        if version >= SCHEMA_VERSION:
            return version
        for number in range(version, SCHEMA_VERSION):
            conn.execute(MIGRATIONS[number].encode())
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
    return SCHEMA_VERSION
