"""``gpu-vram``: a GPU is eligible when its free memory is at least ``gpu.minFreeVramMB``.

Unknown free memory is not eligible (nothing says the run would fit). The vote waits while
fewer GPUs are eligible than the run asks for, with one reason per GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import MIB, AdmissionRequest, GpuInfo, Snapshot, Verdict, Vote
from backprop_policies.units import mib, number

if TYPE_CHECKING:
    from backprop_core import Settings

NAME = "gpu-vram"


def _judge(gpu: GpuInfo, required_bytes: float, required: str) -> tuple[bool, str]:
    free = gpu.memory_free_bytes
    if free is None:
        return False, f"GPU {gpu.index}: free memory unknown, {required} MiB required"
    if free < required_bytes:
        return False, f"GPU {gpu.index}: {mib(free)} free < {required} MiB required"
    return True, f"GPU {gpu.index}: {mib(free)} free >= {required} MiB required"


def vote(request: AdmissionRequest, snapshot: Snapshot, settings: Settings) -> Vote | None:
    if request.gpu_count <= 0 or not snapshot.gpus:
        return None  # CPU-only run, or no GPU at all: gpu-count speaks for that
    required = settings.gpu.min_free_vram_mb
    judged = [(g.index, *_judge(g, required * MIB, number(required))) for g in snapshot.gpus]
    eligible = frozenset(index for index, ok, _reason in judged if ok)
    reasons = "; ".join(reason for _index, _ok, reason in judged)
    if len(eligible) < min(request.gpu_count, len(snapshot.gpus)):
        return Vote(NAME, Verdict.WAIT, reasons, eligible)
    return Vote(NAME, Verdict.ADMIT, reasons, eligible)
