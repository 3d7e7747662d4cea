"""GPU probe ``nvml``: reads the GPUs through NVML (nvidia-ml-py).

Neither the probe nor the NVML binding is imported until probes are asked for, so loading
this plugin costs nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import GpuProbe


@hookimpl
def backprop_register_probes() -> list[type[GpuProbe]]:
    from backprop_nvml.probe import NvmlProbe

    return [NvmlProbe]
