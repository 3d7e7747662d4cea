"""The slurm launcher without a cluster: the batch script it submits, the options it accepts,
and how it reads what Slurm says."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from backprop_core import JobPhase, JobRequest, UsageError
from backprop_core.settings import resolve_settings
from backprop_slurm.jobs import info_from, parse_scontrol
from backprop_slurm.script import check_args, render
from tests.conftest import run_cli


def request(tmp_path: Path, **config: object) -> JobRequest:
    settings = resolve_settings(dict(config), cwd=tmp_path)
    return JobRequest(
        run_id="20261201-120000-abcd",
        session=2,
        settings=settings,
        supervise=["/opt/venv/bin/python", "-m", "backprop_core.cli", "supervise", "R", "2"],
        cwd=tmp_path / "my project",
        output=tmp_path / "home" / "session-2.slurm.out",
        after="812",
    )


def sbatch_lines(script: str) -> list[str]:
    return [line.removeprefix("#SBATCH ") for line in script.splitlines() if line[:7] == "#SBATCH"]


def test_the_time_limit_leaves_the_grace_period_and_the_margin_after_the_time_box(
    tmp_path: Path,
) -> None:
    # 10 min box + 30 s grace + 90 s margin = 12 min; Slurm counts whole minutes.
    script = render(request(tmp_path))
    lines = sbatch_lines(script)
    assert "--time=12" in lines
    assert "--signal=B:XCPU@90" in lines  # to the batch shell, which is the supervisor
    assert "--dependency=afterany:812" in lines  # the previous session's job
    assert f"--output={tmp_path / 'home' / 'session-2.slurm.out'}" in lines
    assert "--open-mode=append" in lines  # a requeued job adds to the same file
    assert f'--chdir="{tmp_path / "my project"}"' in lines  # a space: quoted for sbatch
    body = [line for line in script.splitlines() if line and not line.startswith("#")]
    # The warning signal is ignored until the supervisor handles it, and the shell is
    # replaced by the supervisor so that Slurm's signals reach it.
    assert body == [
        "trap '' XCPU",
        "exec /opt/venv/bin/python -m backprop_core.cli supervise R 2",
    ]


def test_a_run_without_time_box_gets_the_partitions_limit_and_rounding_is_up(
    tmp_path: Path,
) -> None:
    assert not any(
        x.startswith("--time") for x in sbatch_lines(render(request(tmp_path, maxRunMinutes=0)))
    )
    short = request(
        tmp_path, maxRunMinutes=0.1, stop={"graceSeconds": 2}, slurm={"signalMarginSeconds": 20}
    )
    assert "--time=1" in sbatch_lines(render(short))  # 6 + 2 + 20 s: one minute


def test_user_options_come_after_backprops_own_so_they_win(tmp_path: Path) -> None:
    lines = sbatch_lines(
        render(
            request(
                tmp_path,
                slurm={"partition": "gpu", "args": ["--gres=gpu:2", "--time=45", "--comment=a b"]},
            )
        )
    )
    assert "--partition=gpu" in lines
    assert lines.index("--time=12") < lines.index("--time=45")  # sbatch keeps the last one
    assert '--comment="a b"' in lines


@pytest.mark.parametrize("bad", ["gres=gpu:1", "--comment=a\n#SBATCH --x", '--comment="x"'])
def test_an_sbatch_option_that_could_break_the_script_is_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid sbatch option"):
        check_args((bad,))


def test_slurm_args_come_from_config_env_and_flags_in_that_order(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "backprop.config.json").write_text(
        json.dumps({"slurm": {"args": ["--account=ml"], "partition": "cpu"}})
    )
    result = run_cli(
        "run", "--launcher", "slurm", "--dry-run", "--partition", "gpu",
        "--slurm=--gres=gpu:1", "--slurm", "--mem=16G", "train.py",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = sbatch_lines(result.stdout)
    assert lines[-3:] == ["--account=ml", "--gres=gpu:1", "--mem=16G"]
    assert "--partition=gpu" in lines  # the flag wins over the project config
    env = {"BACKPROP_SLURM__ARGS": "--account=ml '--comment=two words'"}
    result = run_cli("run", "--launcher", "slurm", "--dry-run", "train.py", cwd=tmp_path, env=env)
    assert sbatch_lines(result.stdout)[-2:] == ["--account=ml", '--comment="two words"']


def test_a_margin_within_the_grace_period_is_refused_before_anything_is_recorded(
    tmp_path: Path,
) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    env = {"BACKPROP_SLURM__SIGNAL_MARGIN_SECONDS": "20", "PATH": str(tmp_path)}
    result = run_cli(
        "run", "--launcher", "slurm", "--grace", "30", "train.py", cwd=tmp_path, env=env
    )
    assert result.returncode == 2
    assert "must be more than the grace period" in result.stderr
    listed = run_cli("list", "--json")
    assert json.loads(listed.stdout) == []


def test_an_unknown_launcher_names_the_installed_ones(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    result = run_cli("run", "--launcher", "slrum", "train.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown launcher 'slrum'" in result.stderr and "local, slurm" in result.stderr


def test_scontrol_values_with_spaces_are_kept_whole() -> None:
    line = (
        "JobId=812 JobName=backprop-x UserId=ana(1000) JobState=PENDING Reason=Priority "
        "Dependency=(null) Requeue=1 Restarts=2 ExitCode=0:0 Comment=two words here "
        "NodeList=(null) BatchHost= AllocNode:Sid=login1:2122 CPUs/Task=1 StdOut=/h/o.out"
    )
    fields = parse_scontrol(line)
    assert fields["Comment"] == "two words here"
    assert fields["JobState"] == "PENDING" and fields["Reason"] == "Priority"
    assert fields["AllocNode:Sid"] == "login1:2122" and fields["CPUs/Task"] == "1"
    assert fields["BatchHost"] == "" and fields["Restarts"] == "2"


@pytest.mark.parametrize(
    ("state", "phase", "cancelled"),
    [
        ("PENDING", JobPhase.QUEUED, False),
        ("REQUEUED", JobPhase.QUEUED, False),
        ("CONFIGURING", JobPhase.QUEUED, False),
        ("RUNNING", JobPhase.RUNNING, False),
        ("SUSPENDED", JobPhase.RUNNING, False),
        ("COMPLETING", JobPhase.ENDED, False),  # the batch script, the supervisor, has left
        ("TIMEOUT", JobPhase.ENDED, False),
        ("NODE_FAIL", JobPhase.ENDED, False),
        ("CANCELLED by 1000", JobPhase.ENDED, True),  # as sacct writes it
        ("DEADLINE", JobPhase.ENDED, True),
    ],
)
def test_slurm_states_in_backprops_words(state: str, phase: JobPhase, cancelled: bool) -> None:
    info = info_from("812", state, "None", "gpu-07", "0:15")
    assert info.phase is phase and info.cancelled is cancelled
    assert info.state == state.split()[0] and info.reason is None and info.node == "gpu-07"
    if phase is JobPhase.ENDED:
        assert info.exit_code == 0 and info.signal == 15
    assert info_from("9", "FAILED", None, "(null)", "127:0").exit_code == 127


def test_dry_run_prints_the_exact_script_and_submits_nothing(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    result = run_cli(
        "run", "--launcher", "slurm", "--dry-run", "--run-id", "r1", "train.py", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("#!/bin/bash\n")
    supervise = [sys.executable, "-m", "backprop_core.cli", "supervise"]
    supervise += ["--home", os.environ["BACKPROP_HOME"], "--store", "sqlite", "r1", "1"]
    assert result.stdout.splitlines()[-1] == "exec " + shlex.join(supervise)
    listed = run_cli("list", "--json")  # nothing recorded: not even the home was made
    assert listed.returncode == 2 and "does not exist" in listed.stderr, listed.stdout


MOUNTS = """\
sysfs /sys sysfs rw 0 0
/dev/sda1 / ext4 rw,relatime 0 0
nas:/export/home /home nfs4 rw,vers=4.2 0 0
/dev/sdb1 /home/ana/local\\040disk ext4 rw 0 0
"""


def test_a_sqlite_home_on_a_network_filesystem_is_recognised() -> None:
    from backprop_slurm.filesystems import network_filesystem

    assert network_filesystem(Path("/home/ana/.local/share/backprop"), MOUNTS) == "nfs4"
    assert network_filesystem(Path("/home/ana/local disk/bp"), MOUNTS) is None
    assert network_filesystem(Path("/var/tmp/bp"), MOUNTS) is None
    assert network_filesystem(Path("/homework"), MOUNTS) is None  # not under /home
