"""The batch script of one session: every option as an ``#SBATCH`` line (so ``--dry-run``
shows exactly what is submitted), then the supervisor ``exec``ed in place of the shell.

Timeline (docs/slurm.md): backprop's own deadline stops the script at the time box; the job's
``--time`` leaves the grace period and the margin after it; Slurm's warning (``--signal``)
comes ``margin`` seconds before the limit, to the batch shell only (``B:``) — which is the
supervisor, thanks to ``exec`` — as a safety net for a supervisor whose clock is off.
"""

from __future__ import annotations

import math
import shlex

from backprop_core import JobRequest, UsageError

#: The signal Slurm sends before the time limit; the supervisor takes it as "the time box
#: ends now" (``timeboxed``).
WARNING_SIGNAL = "XCPU"


def check_args(args: tuple[str, ...]) -> None:
    """``slurm.args`` must be options, one per item, each fit for an ``#SBATCH`` line."""
    for arg in args:
        if not arg.startswith("-") or any(ord(c) < 32 for c in arg) or '"' in arg:
            raise UsageError(
                f"invalid sbatch option {arg!r} in slurm.args / --slurm",
                hint='give one option per item, starting with "-", without quotes or newlines, '
                "e.g. --slurm=--gres=gpu:1",
            )


def _sbatch_line(arg: str) -> str:
    # sbatch splits #SBATCH lines at spaces outside double quotes.
    if any(c.isspace() for c in arg):
        name, eq, value = arg.partition("=")
        arg = f'{name}="{value}"' if eq else f'"{arg}"'
    return f"#SBATCH {arg}"


def time_limit_minutes(box: float | None, grace: float, margin: float) -> int | None:
    """Slurm counts time limits in whole minutes: the box, grace and margin, rounded up."""
    if box is None:
        return None
    return max(1, math.ceil((box + grace + margin) / 60))


def render(request: JobRequest) -> str:
    settings = request.settings
    slurm = settings.slurm
    margin = math.ceil(slurm.signal_margin_seconds)
    minutes = time_limit_minutes(settings.time_box_seconds, settings.stop.grace_seconds, margin)
    options = [
        f"--job-name=backprop-{request.run_id}-s{request.session}",
        f"--chdir={request.cwd}",
        f"--output={request.output}",
        "--open-mode=append",
    ]
    if minutes is not None:
        options.append(f"--time={minutes}")
    if margin > 0:
        options.append(f"--signal=B:{WARNING_SIGNAL}@{margin}")
    if slurm.partition:
        options.append(f"--partition={slurm.partition}")
    if request.after:
        options.append(f"--dependency=afterany:{request.after}")
    lines = [
        "#!/bin/bash",
        f"# backprop run {request.run_id}, session {request.session} "
        "(made by the slurm launcher; `backprop run --dry-run` prints it)",
        *(_sbatch_line(o) for o in options),
        *(_sbatch_line(a) for a in slurm.args),
        "",
        "# Slurm's warning signal may come up to a minute early: ignored until the supervisor",
        "# installs its handler (an ignored signal stays ignored across exec; a handler wins).",
        f"trap '' {WARNING_SIGNAL}",
        "# exec: Slurm's signals for the batch shell (--signal=B:, scancel --batch) must reach",
        "# the supervisor itself.",
        "exec " + " ".join(shlex.quote(part) for part in request.supervise),
        "",
    ]
    return "\n".join(lines)
