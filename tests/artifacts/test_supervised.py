"""Artifacts through the real ``backprop run``: the SDK in the script, and plain scripts
printing ``artifact`` / ``use_artifact`` lines; lineage across three runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.run.conftest import Bp

from .conftest import cli_json

pytestmark = pytest.mark.slow

PREP = """
import os, backprop_core as bp
bp.init(name="prep")
os.makedirs("data", exist_ok=True)
with open("data/train.csv", "w") as fh:
    fh.write("x,y\\n" + "1,2\\n" * 100)
version = bp.log_artifact("data", name="mnist", type="dataset")
print("VERSION", version.version, version.digest)
"""

TRAIN = """
import backprop_core as bp
bp.init(name="train")
data = bp.use_artifact("mnist")
rows = (data / "train.csv").read_text().count("\\n")
with open("model.pt", "w") as fh:
    fh.write(f"trained on {rows} rows")
bp.log({"loss": 0.5}, step=1)
bp.log_artifact("model.pt", "classifier", type="model", aliases=["best"], metadata={"rows": rows})
"""

EVAL = """
import backprop_core as bp
bp.init(name="eval")
print(open(bp.use_artifact("classifier", version="best")).read())
"""


def run_script(bp: Bp, name: str, source: str) -> str:
    bp.script(name, source)
    result = bp.run("run", "--json", name)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout.strip().splitlines()[-1])["run_id"])


def test_lineage_follows_three_runs_through_two_artifacts(bp: Bp) -> None:
    prep = run_script(bp, "prep.py", PREP)
    train = run_script(bp, "train.py", TRAIN)
    evaluation = run_script(bp, "eval.py", EVAL)
    env = bp.env
    versions = {v["label"]: v for v in cli_json("artifacts", "list", env=env)}
    assert set(versions) == {"mnist:v0", "classifier:v0"}
    assert versions["mnist:v0"]["run_id"] == prep and versions["mnist:v0"]["kind"] == "folder"
    model = versions["classifier:v0"]
    assert (model["run_id"], model["step"], model["aliases"]) == (train, 1, ["best", "latest"])
    assert model["metadata"] == {"rows": 101}
    graph = cli_json("lineage", train, env=env)
    depth = {n["id"]: n["depth"] for n in graph["nodes"]}
    assert depth == {
        f"run:{prep}": -2,
        "artifact:mnist:v0": -1,
        f"run:{train}": 0,
        "artifact:classifier:v0": 1,
        f"run:{evaluation}": 2,
    }
    edges = {(e["source"], e["target"], e["kind"]) for e in graph["edges"]}
    assert edges == {
        (f"run:{prep}", "artifact:mnist:v0", "produced"),
        ("artifact:mnist:v0", f"run:{train}", "used"),
        (f"run:{train}", "artifact:classifier:v0", "produced"),
        ("artifact:classifier:v0", f"run:{evaluation}", "used"),
    }
    text = bp.run("lineage", "classifier:best").stdout
    assert text.splitlines()[0] == "classifier:v0 (model, 19 B, best,latest)"
    upstream, downstream = text.split("\ndownstream\n")
    assert "<- run" in upstream and "(train)" in upstream and "(prep)" in upstream
    assert "-> run" in downstream and "(eval)" in downstream
    shown = bp.run("show", train).stdout
    assert "artifacts read\n  mnist:v0" in shown and "artifacts made\n  classifier:v0" in shown
    uses = cli_json("show", evaluation, env=env)["artifacts"]["inputs"]
    assert [(u["label"], u["ref"]) for u in uses] == [("classifier:v0", "best")]


PLAIN = """
import json
open("report.txt", "w").write("accuracy 0.9")
print(json.dumps({"event": "use_artifact", "name": "mnist:latest"}), flush=True)
print(json.dumps({"event": "artifact", "path": "report.txt", "name": "report", "type": "report",
                  "aliases": ["first"]}), flush=True)
print(json.dumps({"event": "artifact", "path": "missing.txt"}), flush=True)
print(json.dumps({"event": "use_artifact", "name": "nothing"}), flush=True)
print(json.dumps({"event": "artifact", "path": "/etc/hostname", "digest": "sha256:" + "0" * 64,
                  "kind": "file", "name": "claimed"}), flush=True)
"""


def test_a_plain_script_announces_artifacts_by_printing_lines(bp: Bp) -> None:
    run_script(bp, "prep.py", PREP)
    run = run_script(bp, "plain.py", PLAIN)
    versions = {v["label"]: v for v in cli_json("artifacts", "list", env=bp.env)}
    report = versions["report:v0"]
    assert (report["run_id"], report["type"], report["aliases"]) == (
        run,
        "report",
        ["first", "latest"],
    )
    out = Path(bp.work) / "out"
    bp.run("artifacts", "get", "report", "-o", str(out))
    assert (out / "report.txt").read_text() == "accuracy 0.9"
    # a digest the store does not hold is not taken on the script's word: the path is stored
    claimed = versions["claimed:v0"]
    assert claimed["digest"] != "sha256:" + "0" * 64
    assert claimed["size"] == Path("/etc/hostname").stat().st_size
    view = cli_json("show", run, env=bp.env)
    assert [u["label"] for u in view["artifacts"]["inputs"]] == ["mnist:v0"]
    alerts = [a["text"] for a in view["alerts"]]
    assert any("artifact event ignored: no file or folder at" in a for a in alerts), alerts
    assert any("use_artifact event ignored: no artifact named 'nothing'" in a for a in alerts)
