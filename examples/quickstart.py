"""A tiny CPU "training" loop that speaks the backprop events protocol with plain JSON lines.

    backprop run examples/quickstart.py            # runs to the end (~20 s)
    backprop run -m 0.1 examples/quickstart.py     # time-boxed after 6 s, checkpointed
    backprop resume RUN                            # continues from the saved step

No dependencies, no downloads. It checkpoints when backprop sends the stop signal (SIGTERM),
when BACKPROP_CHECKPOINT_EVERY seconds have passed, and at the end; it resumes from
BACKPROP_RESUME_FROM when backprop passes one.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
import time

TOTAL_STEPS = 200
STEP_SECONDS = 0.1

stop_requested = False


def on_stop(signum: int, frame: object) -> None:
    global stop_requested
    stop_requested = True


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def save(step: int, weight: float) -> str:
    folder = os.environ.get("BACKPROP_CHECKPOINT_DIR", "checkpoints")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"step-{step:05d}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"step": step, "weight": weight}, f)
    os.replace(tmp, path)  # a checkpoint is either complete or absent
    emit(event="checkpoint_saved", path=path, step=step)
    return path


def main() -> int:
    signal.signal(signal.SIGTERM, on_stop)
    step, weight = 0, 5.0
    resume = os.environ.get("BACKPROP_RESUME_FROM")
    if resume:
        with open(resume) as f:
            state = json.load(f)
        step, weight = state["step"], state["weight"]
        print(f"resuming from step {step}")
    every = float(os.environ.get("BACKPROP_CHECKPOINT_EVERY", "0") or 0)
    last_save = time.monotonic()
    emit(event="progress", step=step, total=TOTAL_STEPS)
    while step < TOTAL_STEPS:
        # gradient descent on (w - 1)^2 with a little noise
        weight -= 0.05 * 2 * (weight - 1.0) + random.gauss(0, 0.01)
        step += 1
        loss = (weight - 1.0) ** 2
        emit(event="metrics", step=step, data={"loss": loss, "log_loss": math.log(loss + 1e-12)})
        if step % 20 == 0:
            emit(event="progress", step=step, total=TOTAL_STEPS)
        if stop_requested:
            save(step, weight)
            print("stop requested: checkpoint saved, leaving")
            return 0
        if every and time.monotonic() - last_save >= every:
            save(step, weight)
            last_save = time.monotonic()
        time.sleep(STEP_SECONDS)
    save(step, weight)
    emit(event="summary", data={"final_loss": (weight - 1.0) ** 2})
    emit(event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
