"""``ram``: wait while the host's available RAM is under ``minFreeRamGB``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import GIB, AdmissionRequest, Snapshot, Verdict, Vote
from backprop_policies.units import gib, number

if TYPE_CHECKING:
    from backprop_core import Settings

NAME = "ram"


def vote(request: AdmissionRequest, snapshot: Snapshot, settings: Settings) -> Vote | None:
    required = settings.min_free_ram_gb
    if snapshot.host is None:
        why = snapshot.host_error or "host probe gave nothing"
        return Vote(NAME, Verdict.ADMIT, f"available RAM unknown ({why}); not checked")
    available = snapshot.host.ram_available_bytes
    if available < required * GIB:
        return Vote(
            NAME, Verdict.WAIT, f"available RAM {gib(available)} < {number(required)} GiB required"
        )
    return Vote(
        NAME, Verdict.ADMIT, f"available RAM {gib(available)} >= {number(required)} GiB required"
    )
