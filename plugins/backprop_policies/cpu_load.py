"""``cpu-load``: wait while the 1-minute load per core is above ``maxCpuLoad``.

With ``maxCpuLoad`` unset the policy has no opinion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import AdmissionRequest, Snapshot, Verdict, Vote
from backprop_policies.units import number

if TYPE_CHECKING:
    from backprop_core import Settings

NAME = "cpu-load"


def vote(request: AdmissionRequest, snapshot: Snapshot, settings: Settings) -> Vote | None:
    limit = settings.max_cpu_load
    if limit is None:
        return None
    load = snapshot.host.load_per_core if snapshot.host else None
    if load is None:
        return Vote(NAME, Verdict.ADMIT, "CPU load unknown; not checked")
    if load > limit:
        return Vote(NAME, Verdict.WAIT, f"CPU load {load:.2f} per core > {number(limit)} allowed")
    return Vote(NAME, Verdict.ADMIT, f"CPU load {load:.2f} per core <= {number(limit)} allowed")
