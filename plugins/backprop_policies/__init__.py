"""The default admission policies: ``ram``, ``cpu-load``, ``gpu-vram``, ``gpu-temperature`` and
``gpu-count``. Each is one module with a ``vote(request, snapshot, settings)`` function; this
package asks them all and hands their votes to the veto rule in ``backprop_core.admission.votes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import AdmissionRequest, Settings, Snapshot, Vote


@hookimpl
def backprop_admission_vote(
    request: AdmissionRequest, snapshot: Snapshot, settings: Settings
) -> list[Vote]:
    from backprop_policies import cpu_load, gpu_count, gpu_temperature, gpu_vram, ram

    votes = []
    for policy in (ram, cpu_load, gpu_count, gpu_vram, gpu_temperature):
        vote = policy.vote(request, snapshot, settings)
        if vote is not None:
            votes.append(vote)
    return votes
