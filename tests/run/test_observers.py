"""With no code in the script, every run gets its environment and system metrics recorded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for

from .conftest import Bp

BUSY_UNTIL_TOLD = """
    import os, time
    hold = bytearray(64 * 1024 * 1024)  # resident: the pages are written
    for i in range(0, len(hold), 4096):
        hold[i] = 1
    stop = os.path.join(os.environ["BACKPROP_RUN_DIR"], "stop")
    while not os.path.exists(stop):
        t = time.monotonic()
        while time.monotonic() - t < 0.05:
            pass  # busy: the CPU figure has something to show
        time.sleep(0.01)
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.skipif(subprocess.run(["which", "git"]).returncode != 0, reason="needs git")
def test_a_script_that_ends_at_once_still_gets_its_environment(bp: Bp) -> None:
    bp.script("quick.py", "print('done')\n")
    git(bp.work, "init", "-q", "-b", "main")
    git(bp.work, "-c", "user.email=a@b", "-c", "user.name=n", "add", "quick.py")
    git(bp.work, "-c", "user.email=a@b", "-c", "user.name=n", "commit", "-qm", "first")
    head = git(bp.work, "rev-parse", "HEAD")
    (bp.work / "quick.py").write_text("print('done')\nprint('changed')\n")

    result = bp.run("run", "quick.py", "--lr", "3e-4", "--amp")
    assert result.returncode == 0, result.stderr
    run = bp.only_run()
    env = run.environment
    assert env["python"]["version"] == sys.version.split()[0]
    assert env["python"]["executable"] == sys.executable
    assert "psutil" in env["packages"]
    assert env["git"]["commit"] == head and env["git"]["branch"] == "main"
    assert env["git"]["dirty"] is True and re.fullmatch(r"[0-9a-f]{64}", env["git"]["diff_sha256"])
    assert env["hostname"] and env["gpus"] == []  # gpu.probe none
    assert env["launch"]["mode"] == "script"  # what resume needs is kept
    assert run.params == {"lr": 3e-4, "amp": True}
    first_hash = env["git"]["diff_sha256"]

    (bp.work / "quick.py").write_text("print('done')\nprint('changed again')\n")
    assert bp.run("resume", run.id).returncode == 0
    assert bp.only_run().environment["git"]["diff_sha256"] not in (None, first_hash)


def test_the_packages_are_the_scripts_interpreters_not_backprops(bp: Bp, tmp_path: Path) -> None:
    venv = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    bp.script("quick.py", "print('done')\n")
    result = bp.run("run", "--python", str(python), "quick.py")
    assert result.returncode == 0, result.stderr
    env = bp.only_run().environment
    assert env["python"]["executable"] == str(python)
    assert "psutil" not in env["packages"]  # backprop's interpreter has it; this one has nothing


def fake_gpu(path: Path) -> dict[str, str]:
    gpu = {
        "index": 0,
        "uuid": "GPU-test-0",
        "name": "Fake GPU",
        "memory_total_mib": 16384,
        "memory_used_mib": 1234,
        "memory_free_mib": 15150,
        "temperature_c": 55,
        "utilization_pct": 37,
    }
    path.write_text(json.dumps([gpu]))
    return {"BACKPROP_EXAMPLE_GPUS": str(path), "BACKPROP_GPU__PROBE": "example-gpu"}


def sys_metrics(bp: Bp, env: dict[str, str]) -> dict[str, float]:
    bp.script("busy.py", BUSY_UNTIL_TOLD)
    env = {**env, "BACKPROP_SYSTEM_METRICS__EVERY_SECONDS": "0.3"}
    proc = bp.start("run", "-m", "5", "busy.py", env=env)

    def sampled_twice() -> dict[str, float] | None:
        runs = bp.runs()
        if not runs:
            return None
        with bp.store() as store:
            cpu = store.metric_series(runs[0].id, "sys/cpu_pct")
        return runs[0].last_metrics if cpu.total >= 2 else None

    last = wait_for(sampled_twice, timeout=90, what="two system samples")
    (bp.home / "runs" / bp.only_run().id / "stop").touch()
    assert proc.wait(timeout=60) == 0
    return dict(last)


NVIDIA_SMI_HEADER = """#!/bin/sh
echo "| NVIDIA-SMI 550.54.15      Driver Version: 550.54.15      CUDA Version: 12.4     |"
"""


def test_system_metrics_land_for_the_gpus_handed_to_the_run(bp: Bp, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(NVIDIA_SMI_HEADER)
    (bin_dir / "nvidia-smi").chmod(0o755)
    env = {**fake_gpu(tmp_path / "gpus.json"), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    last = sys_metrics(bp, env)
    assert set(last) == {
        "sys/cpu_pct",
        "sys/rss_mb",
        "sys/gpu0/util_pct",
        "sys/gpu0/temp_c",
        "sys/gpu0/mem_mb",
    }
    assert (last["sys/gpu0/util_pct"], last["sys/gpu0/temp_c"]) == (37.0, 55.0)
    assert last["sys/gpu0/mem_mb"] == 1234.0  # the probe lists no processes: the GPU's memory
    assert last["sys/rss_mb"] >= 64
    assert last["sys/cpu_pct"] > 5
    run = bp.only_run()
    assert run.environment["gpus"] == [
        {"index": 0, "name": "Fake GPU", "uuid": "GPU-test-0", "memory_total_mb": 16384}
    ]
    assert run.environment["driver_version"] == "example"  # the probe's
    assert run.environment["cuda_version"] == "12.4"  # what nvidia-smi reports
    assert run.last_step is None  # system points carry no step


def test_without_a_gpu_probe_only_host_metrics_are_sampled(bp: Bp) -> None:
    last = sys_metrics(bp, {})
    assert set(last) == {"sys/cpu_pct", "sys/rss_mb"}


def test_sampling_and_capture_can_be_switched_off(bp: Bp) -> None:
    bp.script("quick.py", "import time; time.sleep(2)\n")
    env = {"BACKPROP_SYSTEM_METRICS__EVERY_SECONDS": "0", "BACKPROP_CAPTURE_ENVIRONMENT": "false"}
    assert bp.run("run", "quick.py", env=env).returncode == 0
    run = bp.only_run()
    assert run.last_metrics == {}
    assert set(run.environment) == {"launch"}  # what resume needs, nothing captured
