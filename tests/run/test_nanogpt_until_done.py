"""An unmodified nanoGPT-style script (saves ``ckpt.pt`` in its ``out_dir``, resumes with
``--init_from=resume``, prints ``iter N: loss X``) is time-boxed and carried to completion by
``--until-done``: the checkpoint is found by watching, each session resumes from it, and the
recorded steps continue instead of starting again at 0."""

from __future__ import annotations

import pytest

from backprop_core.store.records import RunStatus
from tests.ready_box import ready_box_env

from .conftest import Bp

TRAIN = """
import os, sys, time
import torch

# nanoGPT's configurator: --key=value overrides a global
out_dir = "out"
init_from = "scratch"
eval_interval = 4
max_iters = 60
for arg in sys.argv[1:]:
    key, val = arg[2:].split("=", 1)
    globals()[key] = type(globals()[key])(val)

torch.manual_seed(0)
model = torch.nn.Linear(8, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
iter_num = 0
if init_from == "resume":
    checkpoint = torch.load(os.path.join(out_dir, "ckpt.pt"))
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    iter_num = checkpoint["iter_num"]
    print(f"resuming at iter {iter_num}", flush=True)
os.makedirs(out_dir, exist_ok=True)
x = torch.randn(64, 8)
y = x.sum(1, keepdim=True)
while True:
    if iter_num % eval_interval == 0 and iter_num > 0:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "iter_num": iter_num}
        print(f"saving checkpoint to {out_dir}", flush=True)
        torch.save(state, os.path.join(out_dir, "ckpt.pt"))
    if iter_num > max_iters:
        break
    t0 = time.time()
    loss = torch.nn.functional.mse_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    time.sleep(0.1)
    print(f"iter {iter_num}: loss {loss.item():.4f}, time {(time.time() - t0) * 1000:.2f}ms",
          flush=True)
    iter_num += 1
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_unmodified_nanogpt_style_script_is_carried_to_completion_by_until_done(
    bp: Bp,
) -> None:
    env = ready_box_env(bp.work.parent / "site", 4, while_printing=True)
    bp.script("train.py", TRAIN)
    result = bp.run(
        "run", "--resume-arg", "nanogpt", "--until-done", "--max-sessions", "40",
        "train.py", "--out_dir=out", env=env, timeout=840,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = bp.only_run()
    assert run.status == RunStatus.COMPLETED
    sessions = bp.sessions(run.id)
    assert len(sessions) >= 2, "the time box never stopped a session"
    assert [s.status for s in sessions[:-1]] == [RunStatus.TIMEBOXED] * (len(sessions) - 1)
    # Every later session was told to resume, and resumed from the watched ckpt.pt.
    assert all(s.resumed_from and s.resumed_from.endswith("ckpt.pt") for s in sessions[1:])
    assert result.stdout.count("resuming at iter") == len(sessions) - 1
    with bp.store() as store:
        checkpoints = store.checkpoints(run.id)
        loss = store.metric_series(run.id, "loss")
    # ckpt.pt is rewritten in place: one record that moved forward, not one per save
    assert len(checkpoints) == 1 and checkpoints[0].found_by == "checkpoints"
    assert checkpoints[0].step is not None and checkpoints[0].step >= 56
    steps = [s for s in loss.steps if s is not None]
    assert steps[0] == 0 and steps[-1] == 60 and set(steps) == set(range(61))
    # A session starts again where its checkpoint was saved (repeating at most the steps
    # printed after it), never back at 0.
    assert steps.count(0) == 1
    restarts = [b for a, b in zip(steps, steps[1:]) if b <= a]
    assert len(restarts) <= len(sessions) - 1
    assert all(b % 4 == 0 for b in restarts), restarts
