"""System metrics of every session (docs/unmodified-scripts.md): every
``systemMetrics.everySeconds`` the supervisor records what the run uses as ``sys/…`` metric
points, with no code in the script.

- ``sys/cpu_pct``: CPU time the run's process tree used since the previous sample over the wall
  time between them (200 = two cores busy); ``sys/rss_mb``: the tree's resident memory, summed
  over its processes (pages they share count once per process).
- ``sys/gpu<i>/util_pct``, ``sys/gpu<i>/temp_c``, ``sys/gpu<i>/mem_mb`` for each GPU handed to
  the run (``<i>`` is the index ``backprop status`` shows), from the governor's latest reading
  of the probe it already polls, so sampling costs no extra probe call. ``mem_mb`` is the memory
  the run's own processes hold when the probe lists processes and some are the run's, else the
  GPU's whole used memory. With ``gpu.probe none`` or a CPU-only run only host metrics exist.

The points carry no step (charts put them on a time axis; a resumed session never supersedes
them) and go straight to the event sink: monitors and the status line never see them, so they
cannot count as the script's progress.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from backprop_core.admission.resources import Snapshot
from backprop_core.events.event import Event
from backprop_core.store.records import SYSTEM_PREFIX
from backprop_core.supervisor.process import ProcessTree
from backprop_core.units import MIB


class SystemSampler(threading.Thread):
    def __init__(
        self,
        every: float,
        session: int,
        tree: ProcessTree,
        gpus: tuple[int, ...],
        snapshot: Callable[[], Snapshot | None],
        emit: Callable[[list[Event]], None],
    ) -> None:
        super().__init__(name="backprop-system-metrics", daemon=True)
        self.every = every
        self.session = session
        self.tree = tree
        self.gpus = gpus
        self.snapshot = snapshot
        self.emit = emit
        self._stopping = threading.Event()
        self._cpu: dict[int, float] = {}  # pid -> CPU seconds at the previous sample
        self._at = time.monotonic()
        self.samples = 0

    def run(self) -> None:
        while not self._stopping.wait(self.every):
            try:
                data = self.sample()
            except Exception:  # a reading problem skips one sample, never the run
                continue
            if data:
                self.samples += 1
                self.emit([Event("metrics", time.time(), None, {"data": data}, self.session)])

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(5.0)

    def sample(self) -> dict[str, float]:
        """One sample: the tree's CPU and memory, and the run's GPUs."""
        import psutil  # after the launch, like every psutil use (supervisor/process.py)

        now = time.monotonic()
        used = 0.0
        rss = 0
        seen: dict[int, float] = {}
        for proc in self.tree.alive():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                rss += proc.memory_info().rss
                total = times.user + times.system
                # A process first seen now started since the previous sample: all its time is new.
                used += max(0.0, total - self._cpu.get(proc.pid, 0.0))
                seen[proc.pid] = total
        if not seen:
            return {}
        elapsed = max(now - self._at, 1e-6)
        self._cpu, self._at = seen, now
        data = {
            SYSTEM_PREFIX + "cpu_pct": round(100.0 * used / elapsed, 2),
            SYSTEM_PREFIX + "rss_mb": round(rss / MIB, 2),
        }
        data.update(self._gpu_metrics(set(seen)))
        return data

    def _gpu_metrics(self, pids: set[int]) -> dict[str, float]:
        snapshot = self.snapshot() if self.gpus else None
        if snapshot is None or time.time() - snapshot.taken_at > max(30.0, 3 * self.every):
            return {}
        out: dict[str, float] = {}
        for index in self.gpus:
            gpu = snapshot.gpu(index)
            if gpu is None:
                continue
            prefix = f"{SYSTEM_PREFIX}gpu{index}/"
            if gpu.utilization_pct is not None:
                out[prefix + "util_pct"] = float(gpu.utilization_pct)
            if gpu.temperature_c is not None:
                out[prefix + "temp_c"] = float(gpu.temperature_c)
            own = [
                p.used_memory_bytes
                for p in gpu.processes
                if p.pid in pids and p.used_memory_bytes is not None
            ]
            memory = sum(own) if own else gpu.memory_used_bytes
            if memory is not None:
                out[prefix + "mem_mb"] = round(memory / MIB, 2)
        return out
