"""The roles and grants docs/store.md gives a team, run as written: a member can record and
delete runs once the owner has created the tables, and before that is told who must."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.postgres


def _documented_sql() -> tuple[list[str], list[str]]:
    """The statements of the "Roles and grants" block: those run as the superuser, and those
    run in the new database as its owner (after ``\\c``)."""
    text = (REPO / "docs" / "store.md").read_text(encoding="utf-8")
    block = text.split("**Roles and grants.**", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    block = re.sub(r"--[^\n]*", "", block)
    before, after = block.split("\\c backprop backprop_owner")
    statements = [s.strip() for s in before.split(";") if s.strip()]
    return statements, [s.strip() for s in after.split(";") if s.strip()]


def test_a_member_records_runs_with_the_documented_grants(
    pg_server: object, tmp_path: Path
) -> None:
    import psycopg

    as_superuser, as_owner = _documented_sql()
    for statement in as_superuser:
        pg_server.execute(statement)  # type: ignore[attr-defined]
    base = pg_server.url("backprop")  # type: ignore[attr-defined]
    owner_url = base.replace("postgres@", "backprop_owner@")
    member_url = base.replace("postgres@", "ada@")
    with psycopg.connect(owner_url, autocommit=True) as conn:
        for statement in as_owner:
            conn.execute(statement.encode())
    env = {"BACKPROP_HOME": str(tmp_path / "home")}

    early = run_cli("list", "--store", member_url, env=env)
    assert early.returncode == 1
    assert "cannot create or upgrade the tables" in early.stderr
    assert "open the store once as that role" in early.stderr

    assert run_cli("list", "--store", owner_url, env=env).returncode == 0
    script = tmp_path / "train.py"
    script.write_text(
        "import json\n"
        "for s in range(5):\n"
        "    print(json.dumps({'event': 'metrics', 'step': s, 'data': {'loss': 1 / (s + 1)}}))\n"
    )
    member = {**env, "BACKPROP_STORE": member_url, "BACKPROP_GPU__PROBE": "none",
              "BACKPROP_MIN_FREE_RAM_GB": "0"}  # fmt: skip
    done = run_cli("run", "--name", "by-ada", str(script), env=member, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = run_cli("list", "--json", env=member)
    assert listed.returncode == 0 and '"by-ada"' in listed.stdout
    removed = run_cli("rm", "by-ada", "--yes", env=member)
    assert removed.returncode == 0, removed.stderr
    assert '"by-ada"' not in run_cli("list", "--json", env=member).stdout
