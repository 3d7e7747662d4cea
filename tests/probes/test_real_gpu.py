"""Both GPU probes against a real NVIDIA GPU (skipped where there is none)."""

from __future__ import annotations

import json
import shutil

import pytest

from backprop_core.units import MIB
from backprop_nvidia_smi.probe import NvidiaSmiProbe
from backprop_nvml.probe import NvmlProbe
from tests.conftest import run_cli

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no nvidia-smi on PATH"),
]


def test_nvidia_smi_and_nvml_agree() -> None:
    smi = NvidiaSmiProbe().snapshot()
    nvml_probe = NvmlProbe()
    assert nvml_probe.available().ok, nvml_probe.available().reason
    try:
        nvml = nvml_probe.snapshot()
    finally:
        nvml_probe.close()
    assert smi.gpus, "nvidia-smi sees no GPU"
    assert [g.uuid for g in smi.gpus] == [g.uuid for g in nvml.gpus]
    assert smi.driver_version == nvml.driver_version
    for a, b in zip(smi.gpus, nvml.gpus):
        assert a.index == b.index and a.name == b.name
        assert a.memory_total_bytes is not None and b.memory_total_bytes is not None
        # nvidia-smi rounds to MiB
        assert abs(a.memory_total_bytes - b.memory_total_bytes) <= MIB
        assert b.memory_free_bytes is not None and b.memory_free_bytes <= b.memory_total_bytes
        if a.pci_bus_id and b.pci_bus_id:
            assert a.pci_bus_id.upper().endswith(b.pci_bus_id.upper()[-12:])


@pytest.mark.parametrize("probe", ["nvml", "nvidia-smi"])
def test_status_on_the_real_gpu(probe: str) -> None:
    result = run_cli("status", "--json", "--gpu-probe", probe)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["gpu_error"] is None and data["gpus"]
    assert data["gpu_probe"] == probe
    text = run_cli("status", "--gpu-probe", probe)
    assert text.returncode == 0 and "gpu 0:" in text.stdout
