"""``backprop run`` options: dry run, GPU hand-over, refusal, bad usage, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backprop_core.store.records import RunStatus
from tests.conftest import wait_for

from .conftest import Bp


def _fake_gpus(path: Path, temps: list[float]) -> dict[str, str]:
    gpus = [
        {
            "index": i,
            "uuid": f"GPU-{i}",
            "name": "Fake",
            "memory_total_mib": 16384,
            "memory_used_mib": 1024 * (i + 1),
            "memory_free_mib": 16384 - 1024 * (i + 1),
            "temperature_c": t,
            "utilization_pct": 0,
        }
        for i, t in enumerate(temps)
    ]
    path.write_text(json.dumps(gpus))
    return {"BACKPROP_EXAMPLE_GPUS": str(path), "BACKPROP_GPU__PROBE": "example-gpu"}


def test_dry_run_shows_decision_gpu_env_and_command_and_starts_nothing(
    bp: Bp, tmp_path: Path
) -> None:
    bp.script("train.py", "import torch\n")
    env = _fake_gpus(tmp_path / "gpus.json", [50, 40])
    result = bp.run("run", "--dry-run", "--json", "-g", "50%", "train.py", "--x", "1", env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["verdict"] == "admit"
    assert shown["gpus"] == ["GPU-0"]  # the most free memory
    assert shown["framework"] == "pytorch"
    assert "set_per_process_memory_fraction" in shown["memory_cap"]
    assert shown["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert shown["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert shown["env"]["BACKPROP_GPU_MEMORY_LIMIT"] == str(8 * 1024**3)
    assert shown["command"][1:] == ["train.py", "--x", "1"]
    assert bp.runs() == []


def test_cpu_only_run_hides_gpus(bp: Bp) -> None:
    bp.script("env.py", "import os\nprint('CVD=[%s]' % os.environ.get('CUDA_VISIBLE_DEVICES'))\n")
    result = bp.run("run", "--gpus", "0", "env.py")
    assert result.returncode == 0, result.stderr
    assert "CVD=[]" in result.stdout


def test_json_result_and_name_and_tags(bp: Bp) -> None:
    bp.script("ok.py", 'print(\'{"event": "summary", "data": {"acc": 0.9}}\')\n')
    result = bp.run("run", "--json", "-n", "baseline", "--tag", "lr=0.1", "ok.py")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["status"] == "completed" and shown["sessions"] == 1
    run = bp.only_run()
    assert run.name == "baseline" and run.tags == {"lr": "0.1"}
    assert run.summary.get("acc") == 0.9


@pytest.mark.slow
def test_no_wait_refuses_when_slots_are_full(bp: Bp) -> None:
    bp.script("slow.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    env = {"BACKPROP_MAX_PARALLEL": "1"}
    first = bp.start("run", "slow.py", env=env)
    wait_for(lambda: any(r.status == RunStatus.RUNNING for r in bp.runs()), timeout=60)
    second = bp.run("run", "--no-wait", "slow.py", env=env)
    assert second.returncode == 3
    assert "1 of 1 parallel slots in use" in second.stderr
    timed_out = bp.run("run", "--wait-timeout", "0.01", "slow.py", env=env)
    assert timed_out.returncode == 3
    assert "gave up waiting" in timed_out.stderr
    first.terminate()
    assert first.wait(30) == 130


@pytest.mark.slow
def test_bad_usage_exits_2_without_traceback(bp: Bp) -> None:
    missing = bp.run("run", "missing.py")
    assert missing.returncode == 2 and "script not found" in missing.stderr
    bad_tag = bp.run("run", "--tag", "novalue", "--", "true")
    assert bad_tag.returncode == 2
    bad_cmd = bp.run("run", "--", "no-such-command-xyz")
    assert bad_cmd.returncode == 2 and "not found" in bad_cmd.stderr
    for result in (missing, bad_tag, bad_cmd):
        assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_live_status_line_on_a_terminal_plain_lines_off_it(bp: Bp) -> None:
    import os
    import pty
    import subprocess

    bp.script(
        "steps.py",
        """
        import json, time
        for step in range(1, 400):
            print(json.dumps({"event": "progress", "step": step, "total": 400}))
            print(json.dumps({"event": "metrics", "step": step, "data": {"loss": 1.0 / step}}))
            time.sleep(0.01)
        """,
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        bp.argv("run", "steps.py"),
        cwd=bp.work,
        env=bp.env,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: backprop is gone
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(60) == 0
    os.close(master)
    assert b"\x1b[K" in seen and "⏱".encode() in seen
    assert b"/400 (" in seen and b"loss=" in seen
    plain = bp.run("run", "steps.py")
    assert "\x1b[K" not in plain.stderr and "⏱" not in plain.stderr
