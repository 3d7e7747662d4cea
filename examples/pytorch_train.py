"""A small PyTorch regression trained on CPU, with real ``torch.save`` checkpoints.

    backprop run -m 0.2 examples/pytorch_train.py --steps 3000
    backprop resume RUN          # continues from the saved step

It saves a checkpoint (model, optimizer, step) when backprop sends the stop signal and every
BACKPROP_CHECKPOINT_EVERY seconds, announces it with a ``checkpoint_saved`` JSON line, and
resumes from BACKPROP_RESUME_FROM (or ``--resume PATH``, for ``--resume-arg``).

The stop handler is installed before ``import torch``: on a slow machine that import alone can
take seconds, and a stop signal arriving meanwhile (a short time box, ``backprop stop``) would
otherwise end the script without a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

stop_requested = False


def on_stop(signum: int, frame: object) -> None:
    global stop_requested
    stop_requested = True


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main() -> None:
    signal.signal(signal.SIGTERM, on_stop)
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--step-seconds", type=float, default=0.0)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    import torch  # after the stop handler: see the module docstring

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    x = torch.randn(512, 8)
    y = x.sum(dim=1, keepdim=True) ** 2 / 8
    step = 0
    resume = args.resume or os.environ.get("BACKPROP_RESUME_FROM")
    if resume:
        state = torch.load(resume)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed from {resume} at step {step}", flush=True)
    folder = os.environ.get("BACKPROP_CHECKPOINT_DIR", "checkpoints")
    os.makedirs(folder, exist_ok=True)
    every = float(os.environ.get("BACKPROP_CHECKPOINT_EVERY", "0") or 0)
    last_save = time.monotonic()

    def save() -> None:
        path = os.path.join(folder, f"step-{step:06d}.pt")
        torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step},
            path + ".tmp",
        )
        os.replace(path + ".tmp", path)
        emit(event="checkpoint_saved", path=path, step=step)

    while step < args.steps:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        step += 1
        if step % 10 == 0:
            emit(event="metrics", step=step, data={"loss": loss.item()})
            emit(event="progress", step=step, total=args.steps)
        if stop_requested:
            save()
            return
        if every and time.monotonic() - last_save >= every:
            save()
            last_save = time.monotonic()
        if args.step_seconds:
            time.sleep(args.step_seconds)
    save()
    emit(event="done")


if __name__ == "__main__":
    main()
