"""Reads through libpq directly (``libpq_reads``): what commands that only read use, so that
they do not wait for psycopg to be imported. Same values as psycopg's, same errors, and psycopg
takes over wherever this path has no answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backprop_core.store.records import RunRecord, RunStatus
from tests.postgres.test_pg_runs import _closed_port_url
from tests.postgres_server import pg_store

pytestmark = pytest.mark.postgres

TEXTS = ["plain", "", "é ünïcode ✓", "quote ' and \" and \\", "line\nbreak", "NULL", "{a,b}"]
FLOATS = [0.1, -0.0, 1e300, 5e-324, float("nan"), float("inf"), float("-inf"), 2.0**53 + 1]
QUERIES: list[tuple[str, tuple[object, ...]]] = [
    ("SELECT %s::bigint, %s::bigint, %s::int, %s::smallint", (2**62, -(2**63), 7, -3)),
    *[("SELECT %s::double precision", (f,)) for f in FLOATS],
    ("SELECT %s::real, %s::real, %s::real", (0.1, float("nan"), float("-inf"))),
    *[("SELECT %s::text, length(%s)", (t, t)) for t in TEXTS],
    ("SELECT x FROM unnest(%s::text[]) AS x ORDER BY x", (TEXTS,)),
    ("SELECT %s::text IS NULL, NULL::bigint, true, false", (None,)),
    ("SELECT '\\x00ff10'::bytea, ''::bytea, 'name'::name, 'v'::varchar", ()),
    ("SELECT 1 WHERE false", ()),
    ("SELECT g, g / 4.0::float8, g::text FROM generate_series(1, 2000) AS g", ()),
]


@pytest.mark.parametrize(("sql", "params"), QUERIES, ids=range(len(QUERIES)))
def test_libpq_reads_give_exactly_what_psycopg_gives(
    pg_url: str, sql: str, params: tuple[object, ...]
) -> None:
    import psycopg

    from backprop_postgres.libpq_reads import LibpqConnection

    with psycopg.connect(pg_url) as conn:
        expected = conn.execute(sql, params).fetchall()
    libpq = LibpqConnection.open(pg_url)
    try:
        got = libpq.query(sql, params)
    finally:
        libpq.close()
    # repr: NaN equals itself, and -0.0 differs from 0.0
    assert repr(got) == repr(expected)
    assert [type(v) for row in got for v in row] == [type(v) for row in expected for v in row]


def test_a_column_libpq_reads_cannot_decode_is_read_by_psycopg(pg_url: str, tmp_path: Path) -> None:
    from decimal import Decimal

    store = pg_store(pg_url, tmp_path / "home")
    try:
        assert store.db.read("SELECT 1.50::numeric, %s::text", ("x",)) == [(Decimal("1.50"), "x")]
        assert store.db.read("SELECT %s::boolean", (True,)) == [(True,)]
        with pytest.raises(Exception, match="no_such_table"):
            store.db.read("SELECT * FROM no_such_table")  # psycopg's error, psycopg's words
    finally:
        store.close()


def _run(run_id: str) -> RunRecord:
    return RunRecord(id=run_id, script="train.py", status=RunStatus.COMPLETED, created_at=1.0)


def _seed(url: str, home: Path) -> None:
    """One run in the store at ``url``, written by a store object since closed."""
    store = pg_store(url, home)
    store.create_run(_run("20261202-101010-abcd"))
    store.close()


def _cli(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BACKPROP_HOME=str(home), BACKPROP_STORE=url)
    env["BACKPROP_GPU__PROBE"] = "none"
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "backprop_core.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if "|" in line}


def test_list_and_show_read_the_store_without_importing_psycopg(
    pg_url: str, tmp_path: Path
) -> None:
    _seed(pg_url, tmp_path / "home")
    for args in (("list", "--json"), ("show", "abcd", "--json")):
        done = _cli(pg_url, tmp_path / "home", *args)
        assert done.returncode == 0, done.stderr
        assert "20261202-101010-abcd" in done.stdout
        assert "psycopg" not in _imported(done.stderr), args


def test_the_first_list_of_a_database_without_tables_creates_them(
    empty_pg_url: str, tmp_path: Path
) -> None:
    import psycopg

    done = _cli(empty_pg_url, tmp_path / "home", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    with psycopg.connect(empty_pg_url) as conn:
        assert conn.execute("SELECT to_regclass('runs') IS NOT NULL").fetchone() == (True,)


def test_a_server_that_is_down_fails_list_in_one_line_without_psycopg(tmp_path: Path) -> None:
    url = _closed_port_url()
    port = urlsplit(url).port
    (tmp_path / "home").mkdir()
    done = _cli(url, tmp_path / "home", "list")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "|" not in line]
    assert errors == [
        f"backprop: error: cannot reach the run store {url}: connection to server at "
        f'"127.0.0.1", port {port} failed: Connection refused; check that the server is '
        "running and reachable from here, and the URL"
    ]


def test_a_forked_child_reads_without_ending_its_parents_session(
    pg_url: str, tmp_path: Path
) -> None:
    _seed(pg_url, tmp_path / "home")
    store = pg_store(pg_url, tmp_path / "home")
    try:
        assert [r.id for r in store.list_runs()] == ["20261202-101010-abcd"]
        libpq = store.db._libpq
        pid = os.fork()
        if pid == 0:  # the child reads on a connection of its own, then closes the store
            try:
                ok = [r.id for r in store.list_runs()] == ["20261202-101010-abcd"]
                store.close()
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.db._libpq is libpq  # still the parent's, still answering
        assert libpq.query("SELECT count(*) FROM runs") == [(1,)]  # type: ignore[union-attr]
    finally:
        store.close()


def test_after_a_write_one_connection_is_left_and_reads_see_the_writes(
    pg_url: str, tmp_path: Path
) -> None:
    import psycopg

    store = pg_store(pg_url, tmp_path / "home")
    try:
        assert store.list_runs() == []  # opens the libpq connection
        store.create_run(_run("20261202-101010-abcd"))
        assert [r.id for r in store.list_runs()] == ["20261202-101010-abcd"]
        with psycopg.connect(pg_url) as conn:
            (sessions,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'backprop'"
            ).fetchone() or (0,)
        assert sessions == 1
    finally:
        store.close()


def test_without_a_libpq_to_load_psycopg_does_the_reads(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backprop_postgres import libpq_reads

    monkeypatch.setattr(libpq_reads, "library", lambda: None)
    store = pg_store(pg_url, tmp_path / "home")
    try:
        store.create_run(_run("20261202-101010-abcd"))
        store.close()
        assert [r.id for r in store.list_runs()] == ["20261202-101010-abcd"]
        assert store.db._libpq is False
    finally:
        store.close()


def test_server_notices_are_not_printed(pg_url: str, capfd: pytest.CaptureFixture[str]) -> None:
    from backprop_postgres.libpq_reads import LibpqConnection

    libpq = LibpqConnection.open(pg_url)
    try:
        libpq.command("ROLLBACK")  # the server warns: there is no transaction in progress
        assert libpq.query("SELECT 1") == [(1,)]
    finally:
        libpq.close()
    assert capfd.readouterr().err == ""


def test_ctrl_c_stops_a_read_the_server_is_slow_to_answer(pg_url: str) -> None:
    import signal
    import time

    import psycopg

    from tests.conftest import wait_for

    code = (
        "import sys\n"
        "from backprop_postgres.libpq_reads import LibpqConnection\n"
        "LibpqConnection.open(sys.argv[1]).query('SELECT pg_sleep(120)')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, pg_url], stderr=subprocess.PIPE, text=True)
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            wait_for(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE query LIKE 'SELECT pg_sleep(120)%' AND state = 'active'"
                    ).fetchone()
                    == (1,)
                ),
                what="the slow query running",
            )
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - started < 30  # not when the query ends, two minutes on
        assert "KeyboardInterrupt" in err
    finally:
        proc.kill()
        proc.wait()
