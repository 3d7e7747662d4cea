"""Nothing a user can set or meet goes undocumented: every settings key, every ``BACKPROP_*``
variable, and every error class with its exit code and HTTP status. One case per item, so a
failure names what is missing."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest

from backprop_core import errors
from backprop_core.env_vars import CONTRACT_VARS, SWITCH_VARS
from backprop_core.settings.sources import env_keys
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "schemas" / "backprop.config.schema.json").read_text("utf-8"))
DOCS = {p.relative_to(REPO).as_posix(): p.read_text("utf-8") for p in REPO.glob("docs/*.md")}
DOCS["README.md"] = (REPO / "README.md").read_text("utf-8")
SETTINGS_DOC = DOCS["docs/settings.md"]
ARCHITECTURE = DOCS["docs/architecture.md"]


def _keys(schema: dict, prefix: str = "") -> list[str]:
    out = []
    for key, sub in schema["properties"].items():
        if key.startswith("$"):
            continue
        if sub.get("type") == "object":
            out.extend(_keys(sub, f"{prefix}{key}."))
        else:
            out.append(prefix + key)
    return out


SETTINGS_KEYS = _keys(SCHEMA)
VARIABLES = sorted(
    {
        f"BACKPROP_{suffix}"
        for suffix, path in env_keys(SCHEMA).items()
        if ".".join(path) in SETTINGS_KEYS
    }
    | set(SWITCH_VARS)
    | set(CONTRACT_VARS)
)
ERROR_CLASSES = sorted(
    name
    for name, obj in vars(errors).items()
    if inspect.isclass(obj) and issubclass(obj, errors.BackpropError)
)


def test_settings_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_settings_docs.py"), "--check"], cwd=REPO
    )
    assert result.returncode == 0, (
        "docs/settings.md is stale: run python scripts/gen_settings_docs.py"
    )


@pytest.mark.parametrize("key", SETTINGS_KEYS)
def test_every_settings_key_is_documented(key: str) -> None:
    row = re.search(rf"^\| `{re.escape(key)}` \|(.+)\|$", SETTINGS_DOC, re.MULTILINE)
    assert row, f"docs/settings.md has no row for the settings key {key}"
    description = row.group(1).rsplit("|", 1)[-1].strip()
    assert description, f"the settings key {key} has no description in the schema"


@pytest.mark.parametrize("name", VARIABLES)
def test_every_backprop_variable_is_documented(name: str) -> None:
    found = [path for path, text in DOCS.items() if f"`{name}`" in text]
    assert found, f"{name} is not documented in README.md or docs/*.md"


@pytest.mark.parametrize("name", ERROR_CLASSES)
def test_every_error_class_is_documented_with_its_exit_code_and_status(name: str) -> None:
    cls = getattr(errors, name)
    row = re.search(rf"^\| `{name}` \| (\d+) \| (\d+) \| (.+) \|$", ARCHITECTURE, re.MULTILINE)
    assert row, f"docs/architecture.md's Errors table has no row for {name}"
    assert int(row.group(1)) == cls.exit_code, f"{name} exits with {cls.exit_code}"
    assert int(row.group(2)) == cls.http_status, f"{name} is HTTP {cls.http_status}"


@pytest.mark.parametrize("code", sorted({getattr(errors, n).exit_code for n in ERROR_CLASSES}))
def test_every_exit_code_is_documented(code: int) -> None:
    assert re.search(rf"^\| {code} \| \S", ARCHITECTURE, re.MULTILINE), (
        f"docs/architecture.md's Exit codes table has no row for {code}"
    )
    readme = DOCS["README.md"]
    assert f"`{code}`" in readme, f"README.md's exit codes do not mention {code}"
