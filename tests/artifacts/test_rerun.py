"""``manifest`` and ``rerun`` with a real git repository, real runs and real artifacts: a
rerun of an unchanged run starts at once; changed code or inputs are each reported, and
``--strict`` starts nothing."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import REPO
from tests.run.conftest import Bp

from .conftest import cli, cli_json

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
]

TRAIN = """
import sys, backprop_core as bp
bp.init()
data = bp.use_artifact("data")
print("rows", data.read_text().count("\\n"), "lr", sys.argv[2])
"""


def git(bp: Bp, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=bp.work,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def start(bp: Bp, *args: str) -> subprocess.CompletedProcess[str]:
    result = bp.run(*args)
    assert result.returncode == 0, result.stderr
    return result


def run_id(result: subprocess.CompletedProcess[str]) -> str:
    return str(json.loads(result.stdout.strip().splitlines()[-1])["run_id"])


@pytest.fixture
def recorded(bp: Bp) -> str:
    """A run of a committed script that read artifact ``data``; its id."""
    bp.script("train.py", TRAIN)
    (bp.work / "data.csv").write_text("a\nb\n")
    git(bp, "init", "-q")
    git(bp, "add", "train.py")
    git(bp, "commit", "-qm", "train")
    start(bp, "artifacts", "add", "data.csv", "--name", "data")
    return run_id(start(bp, "run", "--json", "train.py", "--lr", "0.1"))


def test_the_manifest_holds_what_a_rerun_needs(bp: Bp, recorded: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = cli_json("manifest", recorded, env=bp.env)
    schema = json.loads((REPO / "schemas" / "run-manifest.v1.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["argv"] == ["--lr", "0.1"] and doc["cwd"] == str(bp.work)
    assert doc["git"]["commit"] == git(bp, "rev-parse", "HEAD") and doc["git"]["dirty"] is False
    assert doc["git"]["diff_sha256"].startswith("sha256:")
    assert doc["interpreter"]["version"] and "backprop" in doc["packages"]
    assert doc["settings"]["maxRunMinutes"] == 10
    data = cli_json("artifacts", "show", "data", env=bp.env)
    assert [(i["name"], i["version"], i["ref"], i["digest"]) for i in doc["inputs"]] == [
        ("data", 0, "latest", data["digest"])
    ]
    text = cli("manifest", recorded, env=bp.env).stdout
    branch = git(bp, "branch", "--show-current")
    assert f"  git          {branch} at {doc['git']['commit']}\n" in text
    assert f"  data:v0  4 B  {data['digest']}" in text


def test_rerun_of_an_unchanged_run_starts_the_same_command(bp: Bp, recorded: str) -> None:
    again = start(bp, "rerun", "--json", recorded)
    assert f"same code, interpreter and inputs as run {recorded}" in again.stderr
    assert "rows 2 lr 0.1" in again.stderr  # the script's output, beside --json
    shown = cli_json("show", run_id(again), env=bp.env)
    original = cli_json("show", recorded, env=bp.env)
    assert shown["rerun_of"] == recorded and shown["id"] != recorded
    assert (shown["argv"], shown["cwd"], shown["script"]) == (
        original["argv"],
        original["cwd"],
        original["script"],
    )


def test_rerun_reports_every_difference_and_strict_starts_nothing(bp: Bp, recorded: str) -> None:
    (bp.work / "train.py").write_text(TRAIN + "# tuned\n")  # uncommitted
    (bp.work / "data.csv").write_text("a\nb\nc\n")
    start(bp, "artifacts", "add", "data.csv", "--name", "data")
    refused = bp.run("rerun", "--strict", recorded)
    assert refused.returncode == 2, refused.stderr
    differs = [
        line for line in refused.stderr.splitlines() if line.startswith("backprop: differs: ")
    ]
    assert len(differs) == 2, refused.stderr
    assert "uncommitted changes: the run's diff hash was sha256:" in differs[0]
    assert "input data:latest: now data:v1" in differs[1] and "the run read data:v0" in differs[1]
    assert "nothing started" in refused.stderr.splitlines()[-1]
    assert len(cli_json("list", env=bp.env)) == 1
    git(bp, "commit", "-qam", "tuned")
    anyway = start(bp, "rerun", "--json", recorded)
    assert "git commit: the run was at" in anyway.stderr
    assert "rows 3 lr 0.1" in anyway.stderr  # the new run reads the data as it is now
    assert cli_json("show", run_id(anyway), env=bp.env)["rerun_of"] == recorded
