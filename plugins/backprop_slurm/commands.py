"""Running Slurm's client commands: one place for the environment, the time limit and turning
their failures into one-line ``LaunchError``s with Slurm's own words."""

from __future__ import annotations

import os
import subprocess

from backprop_core import LaunchError

TIMEOUT_S = 60.0

#: What Slurm sets inside a job. A job submitted from inside another (the next session of a
#: chain) must not inherit them: sbatch would pass them on as if they were the user's.
_JOB_OUTPUT_PREFIXES = ("SLURM_", "SLURMD_")
_KEPT = frozenset({"SLURM_CONF", "SLURM_TIME_FORMAT"})


def client_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a Slurm client, without the current job's variables."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(_JOB_OUTPUT_PREFIXES) or k in _KEPT
    }
    env.update(extra or {})
    return env


def slurm(
    *argv: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a Slurm command; ``LaunchError`` when it is missing, hangs, or (with ``check``)
    fails."""
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            env=env if env is not None else client_env(),
            timeout=TIMEOUT_S,
        )
    except FileNotFoundError:
        raise LaunchError(
            f"{argv[0]} is not installed here",
            hint="run backprop where Slurm's client commands are (a login node of the cluster)",
        ) from None
    except subprocess.TimeoutExpired:
        raise LaunchError(
            f"{argv[0]} did not answer in {TIMEOUT_S:g} s",
            hint="is the Slurm controller reachable from here? (try: sinfo)",
        ) from None
    if check and done.returncode != 0:
        raise LaunchError(f"{argv[0]} failed: {words(done)}")
    return done


def words(done: subprocess.CompletedProcess[str]) -> str:
    """What a Slurm command said, on one line."""
    text = (done.stderr or done.stdout or f"exit code {done.returncode}").strip()
    return " ".join(text.split())
