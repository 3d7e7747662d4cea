"""The NVML probe against a fake ``pynvml`` that behaves like nvidia-ml-py (errors included)."""

from __future__ import annotations

import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.admission.probing import Prober, take_snapshot
from backprop_core.admission.resources import GpuInfo, GpuReading
from backprop_core.errors import ProbeError
from backprop_core.plugin.manager import PluginManager
from backprop_core.settings import Settings
from backprop_nvml.probe import NvmlProbe
from tests.probes import fake_pynvml
from tests.probes.fake_pynvml import MIB, h100_load, h100_mig_load


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml)
    fake_pynvml.configure([h100_load()])
    yield fake_pynvml


def settings(tmp_path: Path, probe: str = "nvml") -> Settings:
    return Settings.from_config({"gpu": {"probe": probe}}, home=tmp_path)


def read(probe: NvmlProbe | None = None) -> tuple[tuple[GpuInfo, ...], GpuReading]:
    probe = probe or NvmlProbe()
    try:
        reading = probe.snapshot()
    finally:
        probe.close()
    return reading.gpus, reading


# the fake itself behaves like the binding ----------------------------------------------------
def test_fake_binding_requires_init_and_maps_error_codes(nvml: types.ModuleType) -> None:
    with pytest.raises(nvml.NVMLError_Uninitialized) as info:
        nvml.nvmlDeviceGetCount()
    assert info.value.value == nvml.NVML_ERROR_UNINITIALIZED
    assert isinstance(nvml.NVMLError(nvml.NVML_ERROR_NOT_SUPPORTED), nvml.NVMLError_NotSupported)
    assert str(nvml.NVMLError_NotSupported()) == "Not Supported"
    nvml.nvmlInit()
    assert nvml.nvmlDeviceGetCount() == 1
    nvml.nvmlShutdown()
    with pytest.raises(nvml.NVMLError_Uninitialized):
        nvml.nvmlDeviceGetHandleByIndex(0)


# readings ------------------------------------------------------------------------------------
def test_reads_the_h100_under_load(nvml: types.ModuleType) -> None:
    (gpu,), reading = read()
    assert reading.driver_version == "590.48.01"
    assert gpu.index == 0
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.uuid == "GPU-00000000-0000-0000-0000-000000000000"
    assert gpu.pci_bus_id == "00000000:00:09.0"
    assert gpu.memory_total_bytes == 81559 * MIB
    assert gpu.memory_free_bytes == 61263 * MIB
    assert gpu.memory_used_bytes == 19818 * MIB  # v2: without the 479 MiB the driver reserves
    assert gpu.temperature_c == 59 and gpu.utilization_pct == 100
    assert [(p.pid, p.name, p.used_memory_bytes) for p in gpu.processes] == [
        (11327, "/root/tools/memhog", 2566 * MIB),
        (11328, "/root/tools/memhog", 1542 * MIB),
        (11345, "./gpu_burn", 15690 * MIB),
    ]
    assert all(p.gpu_uuid == gpu.uuid for p in gpu.processes)
    assert gpu.mig_enabled is False and gpu.mig_devices == ()
    assert reading.warnings == ()


def test_v1_memory_info_where_the_driver_lacks_v2(nvml: types.ModuleType) -> None:
    state = nvml.configure([h100_load(), h100_load()], memory_v2=False)
    probe = NvmlProbe()
    first = probe.snapshot()
    second = probe.snapshot()
    probe.close()
    for gpu in (*first.gpus, *second.gpus):
        assert gpu.memory_free_bytes == 61263 * MIB
        assert gpu.memory_used_bytes == (81559 - 61263) * MIB  # v1 counts reserved as used
    assert state.memory_v2_calls == 1  # learnt once, not asked again on every GPU and poll


def test_binding_without_v2_support_falls_back(
    nvml: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(nvml, "nvmlMemory_v2")
    (gpu,), _reading = read()
    assert gpu.memory_used_bytes == (81559 - 61263) * MIB


@pytest.mark.parametrize(
    ("function", "attribute", "unknown"),
    [
        ("nvmlDeviceGetTemperature", "temperature_c", None),
        ("nvmlDeviceGetUtilizationRates", "utilization_pct", None),
        ("nvmlDeviceGetComputeRunningProcesses", "processes", ()),
        ("nvmlDeviceGetMigMode", "mig_enabled", None),
        ("nvmlDeviceGetName", "name", None),
        ("nvmlDeviceGetPciInfo", "pci_bus_id", None),
    ],
)
def test_not_supported_makes_one_field_unknown(
    nvml: types.ModuleType, function: str, attribute: str, unknown: object
) -> None:
    gpu = h100_load()
    gpu.errors[function] = nvml.NVML_ERROR_NOT_SUPPORTED
    nvml.configure([gpu])
    (info,), reading = read()
    assert getattr(info, attribute) == unknown
    assert info.memory_free_bytes == 61263 * MIB  # the rest of the GPU is still read
    assert reading.warnings == ()  # NotSupported is normal, not worth a warning


def test_other_field_errors_are_unknown_with_a_warning(nvml: types.ModuleType) -> None:
    gpu = h100_load()
    gpu.errors["nvmlDeviceGetTemperature"] = nvml.NVML_ERROR_UNKNOWN
    nvml.configure([gpu])
    (info,), reading = read()
    assert info.temperature_c is None and info.memory_total_bytes == 81559 * MIB
    assert reading.warnings == ("NVML: GPU 0 temperature: Unknown Error",)


def test_memory_not_supported_is_unknown_memory(nvml: types.ModuleType) -> None:
    gpu = h100_load()
    gpu.errors["nvmlDeviceGetMemoryInfo"] = nvml.NVML_ERROR_NOT_SUPPORTED
    nvml.configure([gpu])
    (info,), _reading = read()
    assert info.memory_free_bytes is None and info.memory_total_bytes is None
    assert info.temperature_c == 59


def test_a_lost_gpu_is_kept_with_unknown_values(nvml: types.ModuleType) -> None:
    lost = h100_load()
    lost.errors["nvmlDeviceGetHandleByIndex"] = nvml.NVML_ERROR_GPU_IS_LOST
    nvml.configure([h100_load(), lost])
    gpus, reading = read()
    assert [g.index for g in gpus] == [0, 1]
    assert gpus[1].memory_free_bytes is None and gpus[1].name is None
    assert any("GPU 1 cannot be read: GPU is lost" in w for w in reading.warnings)


def test_mig_devices(nvml: types.ModuleType) -> None:
    nvml.configure([h100_mig_load()])
    (gpu,), _reading = read()
    assert gpu.mig_enabled is True
    assert gpu.utilization_pct is None  # NVML does not report it in MIG mode
    assert [(m.profile, m.uuid, m.gpu_instance_id) for m in gpu.mig_devices] == [
        ("3g.40gb", "MIG-00000000-0000-0000-0000-000000000000", 2),
        ("2g.20gb", "MIG-00000001-0000-0000-0000-000000000001", 3),
        ("1g.10gb", "MIG-00000002-0000-0000-0000-000000000002", 9),
        ("1g.10gb", "MIG-00000003-0000-0000-0000-000000000003", 10),
    ]
    first = gpu.mig_devices[0]
    assert first.memory_total_bytes == 40448 * MIB
    assert first.memory_used_bytes == 11091 * MIB
    assert first.memory_free_bytes == (40448 - 11091) * MIB


def test_old_binding_returning_bytes(nvml: types.ModuleType) -> None:
    nvml.configure([h100_load()], as_bytes=True)
    (gpu,), reading = read()
    assert gpu.name == "NVIDIA H100 80GB HBM3" and reading.driver_version == "590.48.01"
    assert gpu.processes[0].name == "/root/tools/memhog"


def test_no_gpu_at_all(nvml: types.ModuleType) -> None:
    nvml.configure([])
    gpus, _reading = read()
    assert gpus == ()


# life cycle ----------------------------------------------------------------------------------
def test_init_once_and_shutdown_once_across_polls(nvml: types.ModuleType, tmp_path: Path) -> None:
    state = nvml.configure([h100_load()])
    with Prober(settings(tmp_path, "auto")) as prober:
        assert prober.gpu_probe.name == "nvml"  # auto prefers NVML when it works
        for _ in range(3):
            assert len(prober.snapshot().gpus) == 1
        assert state.init_calls == 1 and state.shutdown_calls == 0
    assert state.shutdown_calls == 1 and state.refcount == 0


def test_close_without_init_does_nothing(nvml: types.ModuleType) -> None:
    state = nvml.configure([h100_load()])
    NvmlProbe().close()
    assert state.shutdown_calls == 0


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (fake_pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "NVML library not found"),
        (fake_pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVIDIA driver not loaded"),
        (fake_pynvml.NVML_ERROR_UNKNOWN, "NVML failed to start: Unknown Error"),
    ],
)
def test_library_or_driver_missing(
    nvml: types.ModuleType, tmp_path: Path, code: int, reason: str
) -> None:
    nvml.configure([h100_load()], init_error=code)
    availability = NvmlProbe().available()
    assert not availability.ok and availability.reason.startswith(reason)
    with pytest.raises(ProbeError, match=reason):
        NvmlProbe().snapshot()
    snapshot = take_snapshot(settings(tmp_path))
    assert snapshot.gpu_error is not None and snapshot.gpu_error.startswith(
        f"unavailable: {reason}"
    )
    assert snapshot.gpus == ()


def test_auto_skips_nvml_when_its_driver_is_missing(
    nvml: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml.configure([h100_load()], init_error=nvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi either
    with Prober(settings(tmp_path, "auto"), PluginManager()) as prober:
        assert prober.gpu_probe.name == "none"
        assert any(n.startswith("nvml: NVML library not found") for n in prober.notes)


def test_binding_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setitem(sys.modules, "py3nvml", None)
    availability = NvmlProbe().available()
    assert not availability.ok
    assert availability.reason == "the NVML binding nvidia-ml-py is not installed"


def test_py3nvml_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    package = types.ModuleType("py3nvml")
    package.py3nvml = fake_pynvml  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setitem(sys.modules, "py3nvml", package)
    monkeypatch.setitem(sys.modules, "py3nvml.py3nvml", fake_pynvml)
    fake_pynvml.configure([h100_load()])
    (gpu,), _reading = read()
    assert gpu.memory_free_bytes == 61263 * MIB


def test_real_binding_without_a_driver_is_unavailable() -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has an NVIDIA driver")
    availability = NvmlProbe().available()
    assert not availability.ok and availability.reason
