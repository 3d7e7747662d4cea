"""The ``slurm`` launcher class, imported by the plugin only when launchers are asked for."""

from __future__ import annotations

import os
import shutil
import signal as signals
from typing import TYPE_CHECKING

from backprop_core import JobHere, JobInfo, JobRequest, LaunchError, SchedulerLauncher, UsageError
from backprop_slurm.commands import client_env, slurm
from backprop_slurm.filesystems import network_filesystem
from backprop_slurm.jobs import job_infos, parse_scontrol
from backprop_slurm.script import check_args, render

if TYPE_CHECKING:
    from backprop_core import Settings


def _allocated_gpus() -> tuple[int, ...] | None:
    """The GPUs Slurm gave the job (``SLURM_JOB_GPUS``, global indices), if it gave any."""
    text = os.environ.get("SLURM_JOB_GPUS") or os.environ.get("SLURM_STEP_GPUS")
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        return None


class SlurmLauncher(SchedulerLauncher):
    """Each session is a Slurm batch job running the backprop supervisor (docs/slurm.md)."""

    name = "slurm"
    scheduler = "Slurm"

    def check(self, request: JobRequest) -> None:
        settings = request.settings
        check_args(settings.slurm.args)
        margin, grace = settings.slurm.signal_margin_seconds, settings.stop.grace_seconds
        if 0 < margin <= grace:
            raise UsageError(
                f"slurm.signalMarginSeconds ({margin:g}) must be more than the grace period "
                f"({grace:g} s): a stop that begins at Slurm's warning must be over before "
                "its time limit",
                hint="raise slurm.signalMarginSeconds (90 s or more) or lower --grace",
            )
        shared = network_filesystem(settings.home) if settings.store == "sqlite" else None
        if shared:
            raise UsageError(
                f"the home {settings.home} is on {shared}: SQLite is not safe there when jobs "
                "on several nodes write to it",
                hint="use --store json for a home on a shared filesystem (docs/slurm.md)",
            )
        if shutil.which("sbatch") is None:
            raise LaunchError(
                "sbatch is not installed here",
                hint="submit from a machine with Slurm's client commands (a login node)",
            )

    def batch_script(self, request: JobRequest) -> str:
        return render(request)

    def submit(self, request: JobRequest) -> str:
        script = render(request)
        copy = request.output.with_suffix(".sh")
        copy.write_text(script, encoding="utf-8")  # for the record: what was submitted
        done = slurm("sbatch", "--parsable", stdin=script)
        job_id = done.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise LaunchError(f"sbatch gave no job id: {done.stdout.strip()!r}")
        return job_id

    def jobs(self, job_ids: list[str]) -> dict[str, JobInfo]:
        return job_infos(job_ids)

    def cancel(self, job_id: str) -> None:
        slurm("scancel", job_id)

    def signal(self, job_id: str, signum: int) -> None:
        name = signals.Signals(signum).name.removeprefix("SIG")
        slurm("scancel", "--batch", f"--signal={name}", job_id)

    def current_job(self, settings: Settings) -> JobHere | None:
        job_id = os.environ.get("SLURM_JOB_ID")
        if not job_id:
            return None
        restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
        return JobHere(
            job_id=job_id,
            restart_count=int(restarts) if restarts.isdigit() else 0,
            node=os.environ.get("SLURMD_NODENAME"),
            stop_by=self._stop_by(job_id, settings.slurm.signal_margin_seconds),
            gpus=_allocated_gpus(),
        )

    def _stop_by(self, job_id: str, margin: float) -> float | None:
        """The job's end (its start plus its time limit) less the margin."""
        done = slurm(
            "scontrol", "show", "job", "-o", job_id,
            env=client_env({"SLURM_TIME_FORMAT": "%s"}), check=False,
        )  # fmt: skip
        fields = parse_scontrol(done.stdout) if done.returncode == 0 else {}
        if fields.get("TimeLimit") in (None, "UNLIMITED", "Partition_Limit"):
            return None
        try:
            return float(fields["EndTime"]) - margin
        except (KeyError, ValueError):
            return None
