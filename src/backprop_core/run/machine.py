"""Reading the machine and asking the policies, with the probing/governor modules when present.

``backprop_core.probing`` and ``backprop_core.governor`` own probe selection and vote
combination; this module is the runner's one door to them.
"""

from __future__ import annotations

from typing import Any

from backprop_core.admission import AdmissionRequest, Decision, decide
from backprop_core.plugins import get_plugins
from backprop_core.resources import Snapshot
from backprop_core.settings.model import Settings


class Machine:
    """Probes opened once, snapshots taken on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._prober: Any = None
        try:
            from backprop_core.probing import Prober
        except ImportError:
            return
        self._prober = Prober(settings)

    def snapshot(self) -> Snapshot:
        if self._prober is None:
            return Snapshot.empty(self.settings.gpu.probe)
        snapshot: Snapshot = self._prober.snapshot()
        return snapshot

    def evaluate(self, request: AdmissionRequest, snapshot: Snapshot) -> Decision:
        try:
            from backprop_core.governor import evaluate
        except ImportError:
            votes = get_plugins().admission_votes(request, snapshot, self.settings)
            return decide(votes, snapshot, request)
        decision: Decision = evaluate(self.settings, request, snapshot)
        return decision

    def close(self) -> None:
        if self._prober is not None:
            self._prober.close()
