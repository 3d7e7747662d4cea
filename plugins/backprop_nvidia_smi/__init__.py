"""GPU probe ``nvidia-smi``: reads the GPUs through the ``nvidia-smi`` command-line tool.

The probe class is imported only when probes are asked for, so loading this plugin costs
nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import GpuProbe


@hookimpl
def backprop_register_probes() -> list[type[GpuProbe]]:
    from backprop_nvidia_smi.probe import NvidiaSmiProbe

    return [NvidiaSmiProbe]
