"""``gpu-temperature``: a GPU is eligible while it is cooler than ``gpu.maxTempC``.

An unknown temperature is eligible, with a warning in the reason (some GPUs and drivers do not
report it; refusing them would make backprop useless there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import AdmissionRequest, GpuInfo, Snapshot, Verdict, Vote
from backprop_policies.units import number

if TYPE_CHECKING:
    from backprop_core import Settings

NAME = "gpu-temperature"


def _judge(gpu: GpuInfo, limit: float) -> tuple[bool, str]:
    temp = gpu.temperature_c
    if temp is None:
        return True, f"GPU {gpu.index}: temperature unknown (allowed, not checked)"
    if temp >= limit:
        return False, f"GPU {gpu.index}: {number(temp)} °C >= {number(limit)} °C limit"
    return True, f"GPU {gpu.index}: {number(temp)} °C < {number(limit)} °C limit"


def vote(request: AdmissionRequest, snapshot: Snapshot, settings: Settings) -> Vote | None:
    if request.gpu_count <= 0 or not snapshot.gpus:
        return None
    limit = settings.gpu.max_temp_c
    judged = [(g.index, *_judge(g, limit)) for g in snapshot.gpus]
    eligible = frozenset(index for index, ok, _reason in judged if ok)
    reasons = "; ".join(reason for _index, _ok, reason in judged)
    if len(eligible) < min(request.gpu_count, len(snapshot.gpus)):
        return Vote(NAME, Verdict.WAIT, reasons, eligible)
    return Vote(NAME, Verdict.ADMIT, reasons, eligible)
