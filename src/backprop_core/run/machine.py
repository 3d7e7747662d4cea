"""The runner's one door to the machine: probes opened once (``probing.Prober``), snapshots
taken on demand, and the policies' decision on them (``governor.evaluate``)."""

from __future__ import annotations

from backprop_core.admission import AdmissionRequest, Decision
from backprop_core.governor import evaluate
from backprop_core.probing import Prober
from backprop_core.resources import Snapshot
from backprop_core.settings.model import Settings


class Machine:
    """Probes opened once, snapshots taken on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._prober = Prober(settings)

    def snapshot(self) -> Snapshot:
        return self._prober.snapshot()

    def evaluate(self, request: AdmissionRequest, snapshot: Snapshot) -> Decision:
        return evaluate(self.settings, request, snapshot)

    def close(self) -> None:
        self._prober.close()
