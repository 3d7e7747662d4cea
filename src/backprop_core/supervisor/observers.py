"""What the supervisor records about a session beside the script's output, with no code in the
script: its environment (``capture``) and its use of the machine (``sampler``). Both run in
threads started after the launch and write through the session's event sink."""

from __future__ import annotations

from collections.abc import Callable

from backprop_core.admission.resources import Snapshot
from backprop_core.launch.spec import LaunchSpec
from backprop_core.supervisor.capture import EnvironmentCapture
from backprop_core.supervisor.process import ProcessTree
from backprop_core.supervisor.sampler import SystemSampler
from backprop_core.supervisor.sink import EventSink


class Observers:
    def __init__(self, capture: EnvironmentCapture | None, sampler: SystemSampler | None) -> None:
        self.capture = capture
        self.sampler = sampler

    @classmethod
    def start(
        cls,
        spec: LaunchSpec,
        tree: ProcessTree,
        sink: EventSink,
        snapshot: Callable[[], Snapshot | None],
    ) -> Observers:
        """Start both for a session whose script was just launched."""
        capture = None
        if spec.settings.capture_environment:
            capture = EnvironmentCapture(spec, sink.extend, tree.ignore, snapshot)
            capture.start()
        every = spec.settings.system_metrics.every_seconds
        sampler = None
        if every > 0:
            sampler = SystemSampler(every, spec.session, tree, spec.gpus, snapshot, sink.extend)
            sampler.start()
        return cls(capture, sampler)

    def stop(self) -> None:
        """Stop sampling and hand over the environment (before the sink's last write)."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.capture is not None:
            self.capture.finish()
