"""``backprop status`` in real subprocesses: host, GPUs through a fake nvidia-smi, the verdict."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.probes import fake_nvidia_smi
from tests.probes.smi_captures import CAPTURES

STATUS_KEYS = {
    "version",
    "taken_at",
    "host",
    "host_error",
    "gpu_probe",
    "gpu_error",
    "driver_version",
    "gpus",
    "warnings",
    "gpu_probes_skipped",
    "admission",
    "limits",
}


@pytest.fixture
def capture() -> Path:
    found = [c for c in CAPTURES if "h100-80gb" in c.name]
    if not found:
        pytest.skip("no nvidia-smi captures")
    return found[0]


@pytest.fixture
def mig_capture() -> Path:
    found = [c for c in CAPTURES if "h100-mig" in c.name]
    if not found:
        pytest.skip("no MIG capture")
    return found[0]


def smi_env(
    tmp_path: Path, capture: Path | None, mode: str = "ok", phase: str = "idle"
) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi.install(bin_dir)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_NVIDIA_SMI_MODE": mode,
        "FAKE_NVIDIA_SMI_PHASE": phase,
        "BACKPROP_GPU__PROBE": "nvidia-smi",
    }
    if capture is not None:
        env["FAKE_NVIDIA_SMI_CAPTURE"] = str(capture)
    return env


def idle_row(capture: Path) -> dict[str, str]:
    header, row = fake_nvidia_smi.query_gpu_csv(capture, "idle").split("\n")
    names = [h.split(" [")[0] for h in header.split(", ")]
    return dict(zip(names, row.split(", ")))


def mib(cell: str) -> str:
    return cell.split()[0]


def test_no_gpu_probe(tmp_path: Path) -> None:
    result = run_cli("status", "--gpu-probe", "none")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("host: ") and "CPUs" in lines[0] and "available of" in lines[0]
    assert "gpus: none visible (probe none)" in lines
    assert any(line.startswith("verdict: admit") for line in lines)
    assert "  - [admit] gpu-count: no GPU visible: runs on CPU (probe: none)" in lines


def test_gpu_values_come_from_nvidia_smi(tmp_path: Path, capture: Path) -> None:
    row = idle_row(capture)
    result = run_cli("status", env=smi_env(tmp_path, capture))
    assert result.returncode == 0, result.stderr
    expected = (
        f"gpu {row['index']}: {row['name']}, memory used {mib(row['memory.used'])} MiB, "
        f"free {mib(row['memory.free'])} MiB, total {mib(row['memory.total'])} MiB, "
        f"temperature {row['temperature.gpu']} °C, utilization {row['utilization.gpu']}, "
        f"processes 0, MIG off"
    )
    assert expected in result.stdout.splitlines()
    assert f"gpus: 1 (probe nvidia-smi, driver {row['driver_version']})" in result.stdout
    assert "verdict: admit (a run would start now, on GPU 0)" in result.stdout


def test_unknown_values_are_shown_as_unknown(tmp_path: Path, mig_capture: Path) -> None:
    result = run_cli("status", env=smi_env(tmp_path, mig_capture, phase="load"))
    assert result.returncode == 0, result.stderr
    gpu_line = next(line for line in result.stdout.splitlines() if line.startswith("gpu 0:"))
    assert "utilization unknown" in gpu_line
    assert "processes 3" in gpu_line and "MIG on (4 devices)" in gpu_line


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        pytest.param(
            "hang",
            "unavailable: nvidia-smi --query-gpu did not answer within 3 s",
            marks=pytest.mark.slow,
        ),
        ("garbage", "unavailable: nvidia-smi --query-gpu printed unexpected output"),
        ("fail", "unavailable: nvidia-smi exited with code 9: NVIDIA-SMI has failed"),
    ],
)
def test_broken_nvidia_smi_is_unavailable_and_exit_0(
    tmp_path: Path, capture: Path, mode: str, reason: str
) -> None:
    started = time.monotonic()
    result = run_cli("status", env=smi_env(tmp_path, capture, mode=mode))
    assert result.returncode == 0, result.stderr
    gpus = next(line for line in result.stdout.splitlines() if line.startswith("gpus: "))
    assert gpus.startswith(f"gpus: {reason}")
    assert gpus.endswith("(probe nvidia-smi)")
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30


def test_missing_nvidia_smi_is_unavailable(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "BACKPROP_GPU__PROBE": "nvidia-smi"}
    result = run_cli("status", env=env)
    assert result.returncode == 0, result.stderr
    assert "gpus: unavailable: nvidia-smi not found on PATH (probe nvidia-smi)" in result.stdout


def test_json_shape(tmp_path: Path, capture: Path) -> None:
    result = run_cli("status", "--json", env=smi_env(tmp_path, capture))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == STATUS_KEYS
    assert data["version"] == 1
    assert data["gpu_probe"] == "nvidia-smi" and data["gpu_error"] is None
    gpu = data["gpus"][0]
    assert gpu["memory_total_bytes"] == int(mib(idle_row(capture)["memory.total"])) * 2**20
    assert set(data["admission"]) == {"verdict", "gpus", "reasons", "notes", "votes", "request"}
    assert data["admission"]["verdict"] == "admit" and data["admission"]["gpus"] == [0]
    policies = {v["policy"] for v in data["admission"]["votes"]}
    assert {"ram", "gpu-count", "gpu-vram", "gpu-temperature"} <= policies
    assert data["limits"]["gpu"] == {
        "probe": "nvidia-smi",
        "minFreeVramMB": 2500,
        "maxTempC": 85,
        "count": 1,
    }


def test_json_when_the_probe_fails(tmp_path: Path, capture: Path) -> None:
    result = run_cli("status", "--json", env=smi_env(tmp_path, capture, mode="garbage"))
    data = json.loads(result.stdout)
    assert data["gpus"] == [] and data["gpu_error"].startswith("unavailable: ")


def test_min_free_ram_flag_makes_a_run_wait() -> None:
    result = run_cli("status", "--gpu-probe", "none", "--min-free-ram", "100000")
    assert result.returncode == 0, result.stderr
    assert "verdict: wait (a run would wait for resources)" in result.stdout
    wait_lines = [line for line in result.stdout.splitlines() if "[wait] ram:" in line]
    assert wait_lines and wait_lines[0].endswith("< 100000 GiB required")


def test_env_override_and_flag_over_env() -> None:
    env = {"BACKPROP_MIN_FREE_RAM_GB": "100000", "BACKPROP_GPU__PROBE": "none"}
    result = run_cli("status", "--json", env=env)
    assert json.loads(result.stdout)["admission"]["verdict"] == "wait"
    result = run_cli("status", "--json", "--min-free-ram", "0", env=env)
    data = json.loads(result.stdout)
    ram = next(v for v in data["admission"]["votes"] if v["policy"] == "ram")
    assert ram["verdict"] == "admit" and data["limits"]["minFreeRamGB"] == 0


def test_gpu_flags_change_the_verdict(tmp_path: Path, capture: Path) -> None:
    row = idle_row(capture)
    env = smi_env(tmp_path, capture)
    result = run_cli("status", "--gpu-min-vram", "900000", env=env)
    assert "verdict: wait" in result.stdout
    assert f"GPU 0: {mib(row['memory.free'])} MiB free < 900000 MiB required" in result.stdout
    temp = float(row["temperature.gpu"])
    result = run_cli("status", "--gpu-max-temp", f"{temp:g}", env=env)
    assert "verdict: wait" in result.stdout
    assert f"GPU 0: {temp:g} °C >= {temp:g} °C limit" in result.stdout


def test_max_cpu_load_flag_is_applied() -> None:
    result = run_cli("status", "--json", "--gpu-probe", "none", "--max-cpu-load", "0.0000001")
    votes = json.loads(result.stdout)["admission"]["votes"]
    cpu = next(v for v in votes if v["policy"] == "cpu-load")
    # Any load at all is above this limit; an idle machine may report exactly 0.
    assert cpu["reason"].startswith("CPU load ")


def test_explicit_gpu_count_without_gpu_is_refused_but_status_exits_0() -> None:
    env = {"BACKPROP_GPU__COUNT": "1", "BACKPROP_GPU__PROBE": "none"}
    result = run_cli("status", env=env)
    assert result.returncode == 0, result.stderr
    assert "verdict: refuse (a run would be refused)" in result.stdout
    assert "[refuse] gpu-count: requested 1 GPU(s) but none is visible (probe: none)" in (
        result.stdout
    )


def test_unknown_probe_is_a_usage_error() -> None:
    result = run_cli("status", "--gpu-probe", "nvidai-smi")
    assert result.returncode == 2
    assert "unknown GPU probe 'nvidai-smi'" in result.stderr
    assert "nvidia-smi" in result.stderr and "Traceback" not in result.stderr


def test_table_on_a_terminal(tmp_path: Path, capture: Path) -> None:
    row = idle_row(capture)
    env = dict(os.environ)
    env.update(smi_env(tmp_path, capture))
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop_core.cli", "status"],
        stdout=secondary,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(secondary)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(main)
    text = out.decode("utf-8", errors="replace")
    lines = [line.rstrip() for line in text.splitlines()]
    header = next(line for line in lines if "NAME" in line)
    assert header.split() == [
        "GPU",
        "NAME",
        "USED",
        "MiB",
        "FREE",
        "MiB",
        "TOTAL",
        "MiB",
        "TEMP",
        "UTIL",
        "PROCS",
        "MIG",
    ]
    gpu_row = lines[lines.index(header) + 1].split()
    assert gpu_row[0] == "0" and mib(row["memory.total"]) in gpu_row
    assert f"{float(row['temperature.gpu']):g}°C" in gpu_row
    assert proc.returncode == 0


def test_watch_refreshes_until_ctrl_c(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update({"BACKPROP_GPU__PROBE": "none", "BACKPROP_GOVERNOR__POLL_SECONDS": "0.2"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop_core.cli", "status", "--watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(json.loads(line))
    assert len(seen) == 2, proc.stderr.read() if proc.stderr else ""
    assert seen[1]["taken_at"] > seen[0]["taken_at"]
    proc.send_signal(signal.SIGINT)
    # Keep reading: a --watch that filled the pipe while unread could not flush and exit.
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_slots_held_by_active_runs_count(tmp_path: Path) -> None:
    from backprop_core.admission.slots import Locks, take
    from backprop_core.store.home import Home

    home = tmp_path / "home"
    env = {"BACKPROP_HOME": str(home), "BACKPROP_GPU__PROBE": "none", "BACKPROP_MAX_PARALLEL": "1"}

    def slots_vote() -> dict[str, Any]:
        data = json.loads(run_cli("status", "--json", env=env).stdout)
        return next(v for v in data["admission"]["votes"] if v["policy"] == "parallel slots")

    assert slots_vote()["reason"] == "0 of 1 parallel slots in use"  # no home yet
    locks = Locks(Home(home).ensure().locks_dir)
    reservation = take(locks, ())  # what an active run holds
    assert reservation is not None
    try:
        vote = slots_vote()
        assert vote["reason"] == "1 of 1 parallel slots in use"
        assert vote["verdict"] == "wait"
    finally:
        reservation.release()
    assert slots_vote()["reason"] == "0 of 1 parallel slots in use"
