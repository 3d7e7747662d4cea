"""The registry of the viewer ``ui --ssh`` reaches: a viewer that still runs but no longer
answers is stopped by its recorded pid when it is replaced, so none is ever left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from backprop_core.remote.viewer_host import ViewerEntry, live_entry
from backprop_core.store.process_identity import process_start_time


def test_a_viewer_that_runs_but_does_not_answer_is_stopped_not_reused(tmp_path: Path) -> None:
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        folder = tmp_path / "viewer"
        folder.mkdir(mode=0o700)
        entry = ViewerEntry(
            pid=stuck.pid,
            started=process_start_time(stuck.pid),
            token="t",
            socket=str(folder / "viewer.sock"),  # nothing listens there
        )
        (folder / "viewer.json").write_text(json.dumps(asdict(entry)))
        assert live_entry(folder, tcp=False) is None
        assert stuck.wait(timeout=30) == -15  # SIGTERM, by the pid it recorded
        assert not (folder / "viewer.json").exists()
    finally:
        if stuck.poll() is None:
            stuck.kill()
            stuck.wait()


def test_a_registry_naming_a_process_that_is_gone_is_simply_not_used(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    folder = tmp_path / "viewer"
    folder.mkdir(mode=0o700)
    gone = ViewerEntry(pid=int(done.stdout), started=1.0, token="t", port=1)
    (folder / "viewer-tcp.json").write_text(json.dumps(asdict(gone)))
    assert live_entry(folder, tcp=True) is None
    assert live_entry(folder, tcp=False) is None
