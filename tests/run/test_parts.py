"""The run's building blocks on their own: event parser, framework adapters, locks, governor."""

from __future__ import annotations

import math
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backprop_core.admission.resources import GpuInfo, HostInfo, Snapshot
from backprop_core.admission.slots import Locks, Ticket, take
from backprop_core.admission.votes import AdmissionRequest, Verdict
from backprop_core.events.event import ParseContext
from backprop_core.launch.spec import LaunchSpec
from backprop_core.settings.model import Settings
from backprop_core.supervisor.pausing import PauseGovernor
from backprop_core.units import GIB
from backprop_frameworks.adapters import (
    JaxAdapter,
    PyTorchAdapter,
    TensorFlowAdapter,
    imported_modules,
)
from backprop_json_events import parse_line
from backprop_slots import vote

CTX = ParseContext("r", 1, "stdout", ".")


@pytest.mark.parametrize(
    "line",
    ["", "plain", "[1,2]", "null", '"s"', "{bad", '{"event": 3}', '{"loss": 1}', "{" * 100000],
)
def test_non_events_are_not_events(line: str) -> None:
    assert parse_line(line, CTX) is None


def test_events_protocol_v1() -> None:
    m = parse_line('{"event":"metrics","step":3,"data":{"loss":NaN,"a":"x","b":null,"c":2}}', CTX)
    assert m is not None and m.kind == "metrics" and m.step == 3
    assert math.isnan(m.data["loss"]) and dict(m.data) == {"loss": m.data["loss"], "c": 2.0}
    node = parse_line('{"step": 7, "loss": 0.25, "acc": 0.9}', CTX)
    assert (
        node is not None
        and node.kind == "metrics"
        and dict(node.data) == {"loss": 0.25, "acc": 0.9}
    )
    custom = parse_line('  {"event": "lr_changed", "lr": 0.1}', CTX)
    assert custom is not None and custom.kind == "lr_changed" and custom.payload["lr"] == 0.1
    no_path = parse_line('{"event": "checkpoint_saved", "step": 2}', CTX)
    assert no_path is not None and no_path.kind == "alert"
    ck = parse_line('{"event": "checkpoint_saved", "path": "a.pt", "step": "x"}', CTX)
    assert ck is not None and ck.kind == "checkpoint_saved" and ck.step is None
    assert parse_line('{"event": "done"}', CTX).kind == "done"  # type: ignore[union-attr]


def test_framework_detection_reads_imports_without_importing(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("import os\nfrom torch import nn\nimport jax.numpy as jnp\n")
    assert imported_modules(script) >= {"os", "torch", "jax"}
    assert PyTorchAdapter().detect(script) and JaxAdapter().detect(script)
    assert not TensorFlowAdapter().detect(script)
    broken = tmp_path / "b.py"
    broken.write_bytes(b"import tensorflow\n\xff(((")
    assert not TensorFlowAdapter().detect(broken)


def _spec(tmp_path: Path, gpus: tuple[int, ...], limit: int | None) -> LaunchSpec:
    return LaunchSpec(
        "r",
        1,
        ["python"],
        tmp_path,
        {},
        Settings(home=tmp_path),
        gpus=gpus,
        gpu_memory_limit_bytes=limit,
        gpu_memory_total_bytes=16 * GIB,
    )


def test_adapters_say_how_they_cap_memory(tmp_path: Path) -> None:
    torch_prep = PyTorchAdapter().prepare(_spec(tmp_path, (0,), 8 * GIB))
    assert torch_prep.pythonpath and "set_per_process_memory_fraction" in torch_prep.note
    assert torch_prep.env["BACKPROP_GPU_MEMORY_LIMIT"] == str(8 * GIB)
    jax_prep = JaxAdapter().prepare(_spec(tmp_path, (0,), 8 * GIB))
    assert jax_prep.env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.500"
    tf_prep = TensorFlowAdapter().prepare(_spec(tmp_path, (0,), 8 * GIB))
    assert "set_logical_device_configuration" in tf_prep.note
    assert "no GPU" in PyTorchAdapter().prepare(_spec(tmp_path, (), None)).note


def test_bootstrap_chains_existing_sitecustomize_and_stays_lazy(tmp_path: Path) -> None:
    from backprop_frameworks.adapters import BOOTSTRAP_DIR

    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    env = {
        "PYTHONPATH": f"{BOOTSTRAP_DIR}:{other}",
        "BACKPROP_BOOTSTRAP_FRAMEWORK": "pytorch",
        "BACKPROP_GPU_MEMORY_LIMIT": str(GIB),
        "PATH": "/usr/bin:/bin",
    }
    code = "import os, sys; print(os.environ.get('CHAINED'), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["yes", "False"], out.stderr


def test_slots_count_active_runs_and_free_on_process_death(tmp_path: Path) -> None:
    locks = Locks(tmp_path / "locks")
    with locks.admission():
        held = take(locks, (0,))
    assert held is not None
    assert locks.active_runs() == 1 and locks.reserved_gpus() == frozenset({0})
    with locks.admission():
        assert take(locks, (0,)) is None  # GPU 0 is reserved
    held.release()
    assert locks.active_runs() == 0 and locks.reserved_gpus() == frozenset()

    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_hold_slot_forever, args=(str(tmp_path / "locks"),))
    child.start()
    deadline = time.monotonic() + 20
    while locks.active_runs() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert locks.active_runs() == 1
    child.kill()
    child.join()
    assert locks.active_runs() == 0  # a dead holder never leaks its slot


def _hold_slot_forever(path: str) -> None:
    locks = Locks(Path(path))
    take(locks, ())
    time.sleep(60)


def test_tickets_are_first_in_first_out(tmp_path: Path) -> None:
    locks = Locks(tmp_path / "locks")
    first, second = Ticket(locks), Ticket(locks)
    assert first.is_first() and not second.is_first()
    first.release()
    assert second.is_first()
    second.release()


def test_parallel_slots_vote() -> None:
    settings = Settings(home=Path("."), max_parallel=2)
    assert vote(AdmissionRequest(active_runs=1), settings).verdict == Verdict.ADMIT
    full = vote(AdmissionRequest(active_runs=2), settings)
    assert full.verdict == Verdict.WAIT and full.reason == "2 of 2 parallel slots in use"


def test_pause_governor_hysteresis_and_ram() -> None:
    settings = Settings.from_config(
        {"gpu": {"maxTempC": 85}, "governor": {"resumeHysteresisC": 5, "pauseBelowFreeRamGB": 1}},
        home=Path("."),
    )
    gov = PauseGovernor(settings, (0,))

    def snap(temp: float, ram_gb: float = 8) -> Snapshot:
        host = HostInfo("h", 2, 0.1, 16 * GIB, int(ram_gb * GIB))
        return Snapshot(
            0.0, host, "fake", (GpuInfo(0, temperature_c=temp), GpuInfo(1, temperature_c=99))
        )

    assert gov.reason(snap(84), paused=False) is None  # GPU 1 is not the run's
    assert gov.reason(snap(85), paused=False) == "GPU 0 at 85°C (limit 85°C)"
    assert gov.reason(snap(81), paused=True) is not None
    assert gov.reason(snap(80), paused=True) is None
    assert "available RAM" in (gov.reason(snap(50, ram_gb=0.5), paused=False) or "")


@pytest.mark.slow
def test_bootstrap_hook_runs_after_torch_import_without_breaking_it(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from backprop_frameworks.adapters import BOOTSTRAP_DIR

    env = {
        "PYTHONPATH": str(BOOTSTRAP_DIR),
        "BACKPROP_BOOTSTRAP_FRAMEWORK": "pytorch",
        "BACKPROP_GPU_MEMORY_LIMIT": str(GIB),
        "PATH": "/usr/bin:/bin",
    }
    code = "import torch; print(torch.tensor([1, 2]).sum().item())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "3", out.stderr
    assert "could not cap" not in out.stderr
