"""What Slurm says about jobs: ``scontrol show job -o`` while the controller remembers them
(``MinJobAge``, five minutes by default, after they end), then ``sacct`` where there is
accounting, then ``sacct --completion`` where the job completion log can be read."""

from __future__ import annotations

import re

from backprop_core import JobInfo, JobPhase, LaunchError
from backprop_slurm.commands import slurm, words

#: Slurm job states (``squeue --help``, ``sacct -e``), in backprop's words.
QUEUED_STATES = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "SPECIAL_EXIT",
     "RESV_DEL_HOLD"}
)  # fmt: skip
RUNNING_STATES = frozenset({"RUNNING", "SUSPENDED", "STOPPED", "SIGNALING", "RESIZING"})
#: Ended by a cancellation (scancel, the job's deadline, a federation), not by running.
CANCELLED_STATES = frozenset({"CANCELLED", "DEADLINE", "REVOKED"})

# ``Key=value`` pairs of ``scontrol -o``; a value may hold spaces (Comment=, Command=), so a
# pair ends where the next ``Key=`` begins.
_PAIR = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9:/_]*)=(.*?)(?=\s[A-Za-z][A-Za-z0-9:/_]*=|$)")


def parse_scontrol(line: str) -> dict[str, str]:
    """One job line of ``scontrol show job -o`` as a dict."""
    return {m.group(1): m.group(2) for m in _PAIR.finditer(line.strip())}


def phase_of(state: str) -> JobPhase:
    if state in QUEUED_STATES:
        return JobPhase.QUEUED
    if state in RUNNING_STATES:
        return JobPhase.RUNNING
    return JobPhase.ENDED  # COMPLETING included: the batch script, the supervisor, has exited


def _exit(text: str | None) -> tuple[int | None, int | None]:
    """``ExitCode=2:0`` → (2, None); ``0:9`` → (0, 9)."""
    code, _, sig = (text or "").partition(":")
    try:
        return int(code), (int(sig) or None) if sig else None
    except ValueError:
        return None, None


def _node(text: str | None) -> str | None:
    return text if text and text not in ("(null)", "None", "") else None


def info_from(job_id: str, state_text: str, reason: str | None, node: str | None,
              exit_text: str | None, restarts: str | None = None) -> JobInfo:  # fmt: skip
    state = (state_text or "").split()[0] if state_text else "UNKNOWN"  # "CANCELLED by 0"
    code, sig = _exit(exit_text)
    phase = phase_of(state)
    ended = phase is JobPhase.ENDED
    return JobInfo(
        job_id=job_id,
        phase=phase,
        state=state,
        reason=reason if reason and reason != "None" else None,
        node=_node(node),
        exit_code=code if ended else None,
        signal=sig if ended else None,
        cancelled=state in CANCELLED_STATES,
        restart_count=int(restarts) if restarts and restarts.isdigit() else None,
    )


def from_scontrol(job_id: str) -> JobInfo | None:
    """``None`` when the controller no longer knows the job."""
    done = slurm("scontrol", "show", "job", "-o", job_id, check=False)
    if done.returncode != 0:
        if "invalid job id" in words(done).lower():
            return None
        raise LaunchError(f"scontrol could not tell about job {job_id}: {words(done)}")
    fields = parse_scontrol(done.stdout.splitlines()[0] if done.stdout else "")
    if fields.get("JobId") != job_id:
        return None
    return info_from(
        job_id,
        fields.get("JobState", "UNKNOWN"),
        fields.get("Reason"),
        fields.get("BatchHost") or fields.get("NodeList"),
        fields.get("ExitCode"),
        fields.get("Restarts"),
    )


def from_sacct(job_id: str) -> JobInfo | None:
    """From accounting, else from the job completion log; ``None`` when neither has it."""
    for mode in ([], ["--completion"]):
        done = slurm(
            "sacct", *mode, "-n", "-P", "-j", job_id, "-o", "JobID,State,ExitCode,NodeList",
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            continue
        for line in done.stdout.splitlines():
            parts = line.split("|")
            if len(parts) >= 4 and parts[0] == job_id:
                return info_from(job_id, parts[1], None, parts[3], parts[2])
    return None


def job_infos(job_ids: list[str]) -> dict[str, JobInfo]:
    out: dict[str, JobInfo] = {}
    for job_id in job_ids:
        info = from_scontrol(job_id) or from_sacct(job_id)
        out[job_id] = info or JobInfo(job_id, JobPhase.UNKNOWN)
    return out
