"""The tracking SDK in a plain training loop (CPU, no downloads).

python examples/sdk_quickstart.py                  # standalone: recorded in the store
backprop run -m 1 examples/sdk_quickstart.py       # time-boxed, resumable
backprop resume RUN                                # goes on from the last checkpoint
"""

from __future__ import annotations

import json
import math
import os
import random
import time

import backprop_core as bp

TOTAL_STEPS = 3000


def main() -> None:
    run = bp.init(name="quickstart", config={"lr": 0.05, "total_steps": TOTAL_STEPS})
    weight, start = 0.0, 0
    resume = bp.resume_from()
    if resume:  # a checkpoint from an earlier session of this run
        with open(resume) as f:
            state = json.load(f)
        weight, start = state["weight"], state["step"] + 1
        print(f"resuming at step {start} from {resume}")

    folder = run.checkpoint_dir or "checkpoints"
    os.makedirs(folder, exist_ok=True)
    for step in range(start, TOTAL_STEPS):
        x = random.uniform(-1, 1)
        error = weight * x - 3.0 * x  # learn y = 3x
        weight -= 0.05 * error * x
        bp.log({"loss": error * error, "weight": weight}, step=step)
        if bp.should_checkpoint() or bp.should_stop() or step == TOTAL_STEPS - 1:
            path = os.path.join(folder, f"step-{step}.json")
            with open(path, "w") as f:
                json.dump({"weight": weight, "step": step}, f)
            bp.checkpoint(path, step=step, metrics={"weight": weight})
        if bp.should_stop():  # the time box is up: saved above, leave now
            print(f"stopping at step {step}")
            return
        time.sleep(0.002)
    bp.summary({"final_weight": weight, "converged": math.isclose(weight, 3.0, abs_tol=0.05)})
    bp.finish()


if __name__ == "__main__":
    main()
