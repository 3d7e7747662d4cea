"""Admission: policies vote on a snapshot, votes combine by veto, and GPUs are chosen.

Policies live in plugins (``backprop_admission_vote``); this module only defines the types and
the rules that combine their answers, so every caller (``status``, ``run``, the viewer) agrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from backprop_core.admission.resources import Snapshot


class Verdict(str, Enum):
    ADMIT = "admit"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Vote:
    """One policy's answer.

    ``eligible_gpus`` is the set of GPU indices this policy accepts, or ``None`` when the policy
    has no opinion about GPUs (e.g. the RAM policy).
    """

    policy: str
    verdict: Verdict
    reason: str
    eligible_gpus: frozenset[int] | None = None


@dataclass(frozen=True)
class AdmissionRequest:
    """What a run asks for. ``reserved_gpus`` are held by other active runs."""

    gpu_count: int = 1
    gpu_count_explicit: bool = False
    run_id: str | None = None
    active_runs: int = 0
    reserved_gpus: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Decision:
    """The combined verdict, every vote behind it, and the GPUs handed to the run."""

    verdict: Verdict
    votes: tuple[Vote, ...]
    gpus: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def reasons(self) -> list[str]:
        """The reasons of the votes that decided: refusals, else waits, else every admit."""
        deciding = [v for v in self.votes if v.verdict == self.verdict]
        return [f"{v.policy}: {v.reason}" for v in deciding] + list(self.notes)


def combine(votes: Iterable[Vote]) -> Verdict:
    """Any refuse refuses, else any wait waits, else admit (no votes admits)."""
    verdicts = {v.verdict for v in votes}
    if Verdict.REFUSE in verdicts:
        return Verdict.REFUSE
    if Verdict.WAIT in verdicts:
        return Verdict.WAIT
    return Verdict.ADMIT


def eligible_gpus(
    snapshot: Snapshot, votes: Sequence[Vote], request: AdmissionRequest
) -> list[int]:
    """GPUs every opinionated policy accepts and no other active run has reserved."""
    indices = {g.index for g in snapshot.gpus}
    for v in votes:
        if v.eligible_gpus is not None:
            indices &= set(v.eligible_gpus)
    return sorted(indices - set(request.reserved_gpus))


def select_gpus(snapshot: Snapshot, candidates: Iterable[int], count: int) -> tuple[int, ...]:
    """The ``count`` candidates with the most free memory; ties go to the cooler, then lower index.

    Unknown free memory sorts last, unknown temperature sorts after known ones.
    """
    if count <= 0:
        return ()

    def key(index: int) -> tuple[int, float, int]:
        g = snapshot.gpu(index)
        free = g.memory_free_bytes if g and g.memory_free_bytes is not None else -1
        temp = g.temperature_c if g and g.temperature_c is not None else float("inf")
        return (-free, temp, index)

    ranked = sorted(candidates, key=key)
    return tuple(ranked[:count]) if len(ranked) >= count else ()


def decide(votes: Sequence[Vote], snapshot: Snapshot, request: AdmissionRequest) -> Decision:
    """Combine votes and, when admitted with GPUs present, pick the GPUs.

    An admit with too few free eligible GPUs (for instance all reserved by other runs) becomes a
    wait, with a note saying so.
    """
    verdict = combine(votes)
    if verdict != Verdict.ADMIT or request.gpu_count <= 0 or not snapshot.gpus:
        return Decision(verdict, tuple(votes))
    candidates = eligible_gpus(snapshot, votes, request)
    chosen = select_gpus(snapshot, candidates, request.gpu_count)
    if not chosen:
        busy = sorted(set(request.reserved_gpus) & {g.index for g in snapshot.gpus})
        note = f"needs {request.gpu_count} GPU(s), {len(candidates)} eligible and free" + (
            f" (reserved by other runs: {', '.join(map(str, busy))})" if busy else ""
        )
        return Decision(Verdict.WAIT, tuple(votes), notes=(note,))
    return Decision(verdict, tuple(votes), gpus=chosen)
