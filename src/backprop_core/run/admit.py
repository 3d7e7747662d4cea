"""Admission with waiting: re-check every poll, in arrival order, up to the wait timeout."""

from __future__ import annotations

import time
from dataclasses import dataclass

from backprop_core.admission.governor import evaluate, request_for
from backprop_core.admission.probing import Prober
from backprop_core.admission.resources import Snapshot
from backprop_core.admission.slots import Locks, Reservation, Ticket, take
from backprop_core.admission.votes import AdmissionRequest, Decision, Verdict
from backprop_core.errors import AdmissionRefused, UserInterrupted
from backprop_core.settings.model import Settings
from backprop_core.store.home import Home
from backprop_core.supervisor.display import Display, format_duration


@dataclass
class Admission:
    """An admitted run: the decision, the snapshot it was made on, and the slot it holds."""

    decision: Decision
    snapshot: Snapshot
    reservation: Reservation


def gpu_request(settings: Settings, run_id: str | None, locks: Locks) -> AdmissionRequest:
    return request_for(
        settings,
        run_id=run_id,
        active_runs=locks.active_runs(),
        reserved_gpus=locks.reserved_gpus(),
    )


def preview(settings: Settings, run_id: str | None) -> tuple[Decision, Snapshot]:
    """The decision as it would be now, taking nothing (``--dry-run``)."""
    locks = Locks(Home(settings.home).ensure().locks_dir)
    with Prober(settings) as prober:
        snapshot = prober.snapshot()
        return evaluate(settings, gpu_request(settings, run_id, locks), snapshot), snapshot


def admit(settings: Settings, run_id: str | None, wait: bool, display: Display) -> Admission:
    """Wait until admitted (holding a slot and the chosen GPUs), or raise ``AdmissionRefused``."""
    locks = Locks(Home(settings.home).ensure().locks_dir)
    timeout = settings.wait.timeout_minutes * 60 if wait else 0.0
    poll = max(0.05, settings.governor.poll_seconds)
    prober = Prober(settings)
    ticket = Ticket(locks)
    start = time.monotonic()
    shown: list[str] | None = None
    try:
        while True:
            snapshot = prober.snapshot()
            with locks.admission():
                first = ticket.is_first()
                decision = evaluate(settings, gpu_request(settings, run_id, locks), snapshot)
                if decision.verdict == Verdict.ADMIT and first:
                    reservation = take(locks, decision.gpus)
                    if reservation is not None:
                        return Admission(decision, snapshot, reservation)
            if decision.verdict == Verdict.REFUSE:
                raise AdmissionRefused(
                    "refused by the governor: " + "; ".join(decision.reasons),
                    hint="see backprop status",
                )
            if decision.verdict == Verdict.WAIT:
                reasons = decision.reasons
            else:
                reasons = ["earlier runs are waiting in line"]
            waited = time.monotonic() - start
            if waited >= timeout:
                if timeout <= 0:
                    raise AdmissionRefused(
                        "not admitted now: " + "; ".join(reasons),
                        hint="use --wait to wait for resources",
                    )
                raise AdmissionRefused(
                    f"gave up waiting after {format_duration(waited)}: " + "; ".join(reasons),
                    hint="raise --wait-timeout or free resources",
                )
            if reasons != shown:
                display.message("waiting: " + "; ".join(reasons))
                shown = reasons
            time.sleep(min(poll, max(0.01, timeout - waited)))
    except KeyboardInterrupt:
        raise UserInterrupted("stopped while waiting for admission; nothing started") from None
    finally:
        ticket.release()
        prober.close()
