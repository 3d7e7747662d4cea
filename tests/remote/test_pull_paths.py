"""Where a pulled run's checkpoint copies go: under its run folder here, wherever the host
kept them."""

from __future__ import annotations

from pathlib import Path

import pytest

from backprop_core.remote.pull_apply import local_copy_path

HERE = Path("/home/me/.backprop/runs/r1")
THERE = "/data/bp/runs/r1"


@pytest.mark.parametrize(
    ("origin", "copy"),
    [
        ("/data/bp/runs/r1/checkpoints/last.pt", HERE / "checkpoints" / "last.pt"),
        ("/data/bp/runs/r1/step-10", HERE / "step-10"),
        ("/data/bp/runs/r1", HERE),
        ("/data/bp/runs/r1//checkpoints/./a.pt", HERE / "checkpoints" / "a.pt"),
        ("/data/bp/runs/r1/../r2/b.pt", HERE / "r2" / "b.pt"),
        ("/data/bp/runs/r10/c.pt", HERE / "remote-files" / "data/bp/runs/r10/c.pt"),
        ("/work/outside.ckpt", HERE / "remote-files" / "work" / "outside.ckpt"),
        ("/work/../etc/passwd", HERE / "remote-files" / "work" / "etc" / "passwd"),
    ],
)
def test_a_checkpoint_copy_stays_under_the_run_folder(origin: str, copy: Path) -> None:
    assert local_copy_path(HERE, THERE, origin) == copy
