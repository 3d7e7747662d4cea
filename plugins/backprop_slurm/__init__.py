"""The ``slurm`` launcher: each session of a run is a Slurm batch job whose script ``exec``s
the backprop supervisor (docs/slurm.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Launcher


@hookimpl
def backprop_register_launchers() -> list[type[Launcher]]:
    from backprop_slurm.launcher import SlurmLauncher

    return [SlurmLauncher]
