"""GPU probe ``none``: always available and sees no GPU (CPU-only machines, CI).

``--gpu-probe none`` skips every driver; ``auto`` falls back to it when no other probe works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import GpuProbe


@hookimpl
def backprop_register_probes() -> list[type[GpuProbe]]:
    from backprop_core.plugin_kit import NoGpuProbe

    return [NoGpuProbe]
