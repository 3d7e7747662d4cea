"""The published events schema (schemas/event.v1.schema.json) describes the ``artifact`` and
``use_artifact`` lines the SDK sends under ``backprop run`` and the ones docs/events.md shows,
so that a tool validating a script's output against it accepts them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.artifacts.conftest import cli

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import backprop_core as bp
bp.init(name="schema")
open("model.bin", "wb").write(b"m" * 1000)
bp.log_artifact("model.bin", type="model", aliases=["best"], metadata={"acc": 0.9})
bp.use_artifact("data", version="v0")
bp.finish()
"""


def validator() -> Any:
    schema = json.loads((REPO / "schemas" / "event.v1.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def event_lines(text: str, kinds: set[str]) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("event") in kinds:
            found.append(obj)
    return found


@pytest.mark.slow
def test_the_sdks_artifact_lines_are_valid_events(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("rows\n")
    cli("artifacts", "add", str(tmp_path / "data.txt"), "--name", "data", "--type", "dataset")
    (tmp_path / "train.py").write_text(textwrap.dedent(SCRIPT))
    # A run id and no events pipe: the SDK writes its protocol lines on stdout, as a
    # supervisor without a pipe would read them.
    done = subprocess.run(
        [sys.executable, "train.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "BACKPROP_RUN_ID": "20260101-000000-abcd"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sent = event_lines(done.stdout, {"artifact", "use_artifact"})
    assert [e["event"] for e in sent] == ["artifact", "use_artifact"], done.stdout
    check = validator()
    for event in sent:
        check.validate(event)
    assert sent[0]["name"] == "model.bin" and sent[0]["kind"] == "file"
    assert sent[1]["name"] == "data" and sent[1]["digest"].startswith("sha256:")


def test_the_documented_artifact_lines_are_valid_events() -> None:
    text = (REPO / "docs" / "events.md").read_text()
    shown = [
        json.loads(m) for m in re.findall(r'^\{"event": "(?:use_)?artifact".*\}$', text, flags=re.M)
    ]
    assert {e["event"] for e in shown} == {"artifact", "use_artifact"}
    check = validator()
    for event in shown:
        check.validate(event)


@pytest.mark.parametrize(
    "line",
    [
        {"event": "artifact", "name": "model"},  # neither a path nor stored content
        {"event": "artifact", "path": "m.bin", "name": "bad name"},
        {"event": "artifact", "digest": "sha256:00", "kind": "file"},
        {"event": "use_artifact"},  # which artifact?
    ],
)
def test_artifact_lines_backprop_cannot_honour_fail_the_schema(line: dict[str, Any]) -> None:
    assert not validator().is_valid(line)
