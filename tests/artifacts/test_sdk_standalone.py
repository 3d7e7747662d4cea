"""``bp.log_artifact`` and ``bp.use_artifact`` in a script run on its own (no ``backprop run``):
the SDK records versions and uses in the store itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backprop_core.store.contract import Store

pytestmark = pytest.mark.slow

SCRIPT = """
import json, os, stat, backprop_core as bp
run = bp.init(name="standalone")
open("weights.bin", "wb").write(b"w" * 4096)
first = bp.log_artifact("weights.bin", type="model", aliases=["best"], link=True)
open("weights2.bin", "wb").write(b"v" * 4096)
second = bp.log_artifact("weights2.bin", name="weights.bin", metadata={"epoch": 2})
path = bp.use_artifact("weights.bin:best")
try:
    bp.log_artifact("weights.bin", name="bad name")
    refused = None
except Exception as exc:
    refused = str(exc)
print(json.dumps({
    "first": [first.label, first.aliases, first.run_id == run.id],
    "second": [second.label, second.metadata],
    "path": [os.path.basename(path), open(path, "rb").read() == b"w" * 4096],
    "handed_over_read_only": not os.stat("weights.bin").st_mode & stat.S_IWUSR,
    "refused": refused,
}))
"""


def test_a_script_alone_numbers_its_versions_and_records_its_reads(
    tmp_path: Path, store: Store, store_name: str
) -> None:
    (tmp_path / "train.py").write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, "train.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "BACKPROP_STORE": store_name},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["first"] == ["weights.bin:v0", ["best", "latest"], True]
    assert out["second"] == ["weights.bin:v1", {"epoch": 2}]
    assert out["path"] == ["weights.bin", True]  # v0, under its own file name
    assert out["handed_over_read_only"] is True
    assert "invalid artifact name 'bad name'" in out["refused"]
    (run,) = store.list_runs()
    (use,) = store.artifact_uses(run_id=run.id)
    assert (use.label, use.ref) == ("weights.bin:v0", "best")
    assert [v.run_id for v in store.artifact_versions()] == [run.id, run.id]
