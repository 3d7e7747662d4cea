"""The parallel-slots admission policy: wait while ``maxParallel`` runs are already active.

``request.active_runs`` is filled by the runner from the slot locks under ``home/locks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import AdmissionRequest, Settings, Snapshot, Vote


def vote(request: AdmissionRequest, settings: Settings) -> Vote:
    from backprop_core import Verdict, Vote

    limit = settings.max_parallel
    used = request.active_runs
    reason = f"{used} of {limit} parallel slots in use"
    verdict = Verdict.WAIT if limit > 0 and used >= limit else Verdict.ADMIT
    return Vote("parallel slots", verdict, reason)


@hookimpl
def backprop_admission_vote(
    request: AdmissionRequest, snapshot: Snapshot, settings: Settings
) -> Vote:
    return vote(request, settings)
