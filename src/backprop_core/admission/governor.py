"""The governor's admission step: ask every policy about a snapshot and decide.

``status`` calls it once (or every poll with ``--watch``); ``run`` calls it while a run waits
for admission and during the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from backprop_core.admission.votes import AdmissionRequest, Decision, decide

if TYPE_CHECKING:
    from backprop_core.admission.resources import Snapshot
    from backprop_core.plugin.manager import PluginManager
    from backprop_core.settings import Settings


def request_for(
    settings: Settings,
    *,
    run_id: str | None = None,
    active_runs: int = 0,
    reserved_gpus: Iterable[int] = (),
) -> AdmissionRequest:
    """The request a run makes under ``settings`` (GPU count from ``gpu.count``)."""
    return AdmissionRequest(
        gpu_count=settings.gpu.count,
        gpu_count_explicit=not settings.is_default("gpu.count"),
        run_id=run_id,
        active_runs=active_runs,
        reserved_gpus=frozenset(reserved_gpus),
    )


def current_request(settings: Settings) -> AdmissionRequest:
    """The request a run would make now: ``request_for`` with the slots and GPUs that active
    runs hold under ``home/locks`` (none when the home has no lock folder yet)."""
    from backprop_core.admission.slots import Locks
    from backprop_core.store.home import Home

    locks_dir = Home(settings.home).locks_dir
    if not locks_dir.is_dir():
        return request_for(settings)
    try:
        locks = Locks(locks_dir)
        return request_for(
            settings, active_runs=locks.active_runs(), reserved_gpus=locks.reserved_gpus()
        )
    except OSError:  # a read-only home: report what the machine says, without the locks
        return request_for(settings)


def evaluate(
    settings: Settings,
    request: AdmissionRequest,
    snapshot: Snapshot,
    plugins: PluginManager | None = None,
) -> Decision:
    """Collect every policy's vote on ``snapshot`` and combine them:
    any refuse refuses, else any wait waits, else admit."""
    if plugins is None:
        from backprop_core.plugin.manager import get_plugins

        plugins = get_plugins()
    votes = plugins.admission_votes(request, snapshot, settings)
    return decide(votes, snapshot, request)


def decision_as_dict(decision: Decision) -> dict[str, Any]:
    """The decision as the JSON object ``backprop status --json`` prints (docs/probes.md)."""
    return {
        "verdict": decision.verdict.value,
        "gpus": list(decision.gpus),
        "reasons": decision.reasons,
        "notes": list(decision.notes),
        "votes": [
            {
                "policy": v.policy,
                "verdict": v.verdict.value,
                "reason": v.reason,
                "eligible_gpus": None if v.eligible_gpus is None else sorted(v.eligible_gpus),
            }
            for v in decision.votes
        ],
    }
