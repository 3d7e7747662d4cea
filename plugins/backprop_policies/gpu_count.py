"""``gpu-count``: are there as many GPUs as the run asks for?

With the default ``gpu.count`` a machine without a visible GPU still runs the script on the
CPU; a count the user asked for explicitly (flag, env, config) is refused when it cannot be met.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import AdmissionRequest, Snapshot, Verdict, Vote

if TYPE_CHECKING:
    from backprop_core import Settings

NAME = "gpu-count"


def vote(request: AdmissionRequest, snapshot: Snapshot, settings: Settings) -> Vote:
    wanted = request.gpu_count
    if wanted <= 0:
        return Vote(NAME, Verdict.ADMIT, "gpu.count is 0: runs on CPU only")
    explicit = request.gpu_count_explicit or not settings.is_default("gpu.count")
    probe = f"probe: {snapshot.gpu_probe}" + (
        f", {snapshot.gpu_error}" if snapshot.gpu_error else ""
    )
    visible = len(snapshot.gpus)
    if visible == 0:
        if not explicit:
            return Vote(NAME, Verdict.ADMIT, f"no GPU visible: runs on CPU ({probe})")
        return Vote(
            NAME, Verdict.REFUSE, f"requested {wanted} GPU(s) but none is visible ({probe})"
        )
    if visible < wanted:
        return Vote(
            NAME,
            Verdict.REFUSE,
            f"requested {wanted} GPU(s) but this machine has {visible} ({probe})",
        )
    return Vote(NAME, Verdict.ADMIT, f"{visible} GPU(s) visible, {wanted} requested")
