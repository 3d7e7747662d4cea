"""Writer processes for the concurrency and crash tests (run as ``python -m``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.ids import new_run_id
from backprop_core.store.records import RunRecord, RunStatus


def concurrent_writer(store_name: str, home: str, go_file: str, worker: int) -> None:
    """Wait for the go file, then create two runs and append 500 events to each."""
    store = get_plugins().store_class(store_name)(Path(home))
    deadline = time.time() + 60
    while not os.path.exists(go_file) and time.time() < deadline:
        time.sleep(0.005)
    for r in range(2):
        run = store.create_run_unique(
            RunRecord(
                id=new_run_id(),
                status=RunStatus.RUNNING,
                created_at=time.time(),
                name=f"w{worker}-r{r}",
                tags={"worker": str(worker)},
            )
        )
        for batch in range(50):
            store.append_events(
                run.id,
                [
                    Event(
                        "metrics",
                        time.time(),
                        batch * 10 + i,
                        {"data": {"loss": float(batch * 10 + i), "w": float(worker)}},
                    )
                    for i in range(10)
                ],
            )
        store.update_run(run.id, status=RunStatus.COMPLETED)
    print(f"worker {worker} done", flush=True)


def crash_writer(store_name: str, home: str, run_id: str) -> None:
    """Append batches forever, printing ``committed N`` after each one returns."""
    store = get_plugins().store_class(store_name)(Path(home))
    store.create_run(RunRecord(id=run_id, status=RunStatus.RUNNING, created_at=time.time()))
    print("committed 0", flush=True)
    n = 0
    while True:
        n += 1
        store.append_events(
            run_id,
            [
                Event("metrics", time.time(), n * 100 + i, {"data": {"x": float(n)}})
                for i in range(100)
            ]
            + [Event("checkpoint_saved", time.time(), n, {"path": f"c{n}.pt"})],
        )
        print(f"committed {n}", flush=True)


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "concurrent":
        concurrent_writer(args[0], args[1], args[2], int(args[3]))
    else:
        crash_writer(args[0], args[1], args[2])
