"""Choosing probes and taking snapshots: auto order, named probes, failures that never raise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

import pytest

from backprop_core import hookimpl
from backprop_core.admission.probing import (
    Prober,
    choose_gpu_probe,
    choose_gpu_probe_noting,
    snapshot_as_dict,
    take_snapshot,
)
from backprop_core.admission.resources import Availability, GpuInfo, GpuProbe, GpuReading
from backprop_core.errors import ProbeError, UsageError
from backprop_core.plugin.manager import PluginManager
from backprop_core.settings import Settings
from tests.probes.smi_captures import FakeSmi


def settings(tmp_path: Path, probe: str = "auto") -> Settings:
    return Settings.from_config({"gpu": {"probe": probe}}, home=tmp_path)


class Recorder:
    closed: ClassVar[list[str]] = []
    created: ClassVar[list[str]] = []


def make_probe(
    probe_name: str, rank: int, ok: bool = True, fails: Exception | None = None
) -> type[GpuProbe]:
    class Probe(GpuProbe):
        name = probe_name
        priority = rank

        def __init__(self) -> None:
            Recorder.created.append(probe_name)
            self.reads = 0

        def available(self) -> Availability:
            return Availability(ok, "" if ok else f"{probe_name} is switched off")

        def snapshot(self) -> GpuReading:
            self.reads += 1
            if fails is not None:
                raise fails
            return GpuReading(gpus=(GpuInfo(index=0, name=probe_name),), driver_version="1.0")

        def close(self) -> None:
            Recorder.closed.append(probe_name)

    return Probe


def manager(*probes: type[GpuProbe], with_host: bool = True) -> PluginManager:
    class Plugin:
        @hookimpl
        def backprop_register_probes(self) -> list[type[GpuProbe]]:
            return list(probes)

    pm = PluginManager(load_entry_points=False)
    pm.register(Plugin(), "test-probes")
    if with_host:
        import backprop_host

        pm.register(backprop_host, "host")
    Recorder.closed.clear()
    Recorder.created.clear()
    return pm


def test_auto_takes_the_first_available_by_priority(tmp_path: Path) -> None:
    pm = manager(make_probe("slow", 30), make_probe("off", 10, ok=False), make_probe("on", 20))
    probe, notes = choose_gpu_probe_noting(settings(tmp_path), pm)
    assert probe.name == "on"
    assert notes == ("off: off is switched off",)
    assert Recorder.closed == ["off"]  # a probe passed over is closed again
    assert choose_gpu_probe(settings(tmp_path), pm).name == "on"


def test_named_probe_is_used_even_when_auto_would_pick_another(tmp_path: Path) -> None:
    pm = manager(make_probe("first", 1), make_probe("second", 2))
    assert choose_gpu_probe(settings(tmp_path, "second"), pm).name == "second"


def test_unknown_probe_name_lists_the_valid_ones(tmp_path: Path) -> None:
    pm = manager(make_probe("alpha", 1), make_probe("beta", 2))
    with pytest.raises(UsageError, match="unknown GPU probe 'gamma'") as info:
        take_snapshot(settings(tmp_path, "gamma"), pm)
    assert "auto, alpha, beta" in str(info.value)


def test_unavailable_named_probe_gives_an_error_not_an_exception(tmp_path: Path) -> None:
    pm = manager(make_probe("off", 1, ok=False))
    snapshot = take_snapshot(settings(tmp_path, "off"), pm)
    assert snapshot.gpu_error == "unavailable: off is switched off"
    assert snapshot.gpus == () and snapshot.gpu_probe == "off"
    assert snapshot.host is not None  # the host is still read


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ProbeError("driver hung"), "unavailable: driver hung"),
        (RuntimeError("oops"), "unavailable: broken failed: RuntimeError: oops"),
    ],
)
def test_failing_probe_gives_an_error_not_an_exception(
    tmp_path: Path, error: Exception, expected: str
) -> None:
    pm = manager(make_probe("broken", 1, fails=error))
    snapshot = take_snapshot(settings(tmp_path, "broken"), pm)
    assert snapshot.gpu_error == expected
    assert snapshot.gpus == ()


def test_prober_keeps_one_probe_across_polls_and_closes_it_once(tmp_path: Path) -> None:
    pm = manager(make_probe("steady", 1))
    with Prober(settings(tmp_path), pm) as prober:
        first = prober.snapshot()
        second = prober.snapshot()
        assert getattr(prober.gpu_probe, "reads", None) == 2
    assert Recorder.created == ["steady"]
    assert Recorder.closed == ["steady"]
    assert first.gpus[0].name == "steady" and second.taken_at >= first.taken_at
    assert first.driver_version == "1.0"


def test_no_gpu_probe_at_all_still_snapshots(tmp_path: Path) -> None:
    snapshot = take_snapshot(settings(tmp_path), manager())
    assert snapshot.gpus == () and snapshot.gpu_error is None


def test_no_host_probe_is_reported(tmp_path: Path) -> None:
    snapshot = take_snapshot(settings(tmp_path), manager(make_probe("g", 1), with_host=False))
    assert snapshot.host is None and snapshot.host_error == "no host probe installed"


def test_host_probe_reads_this_machine(tmp_path: Path) -> None:
    snapshot = take_snapshot(settings(tmp_path, "none"))
    host = snapshot.host
    assert host is not None and host.hostname
    assert host.cpu_count >= 1
    assert 0 < host.ram_available_bytes <= host.ram_total_bytes
    if sys.platform != "win32":
        assert host.load_1m is not None and host.load_per_core is not None


def test_none_probe_sees_no_gpu(tmp_path: Path) -> None:
    snapshot = take_snapshot(settings(tmp_path, "none"))
    assert snapshot.gpu_probe == "none" and snapshot.gpus == () and snapshot.gpu_error is None


def test_default_plugins_rank_nvml_then_nvidia_smi_then_none() -> None:
    names = list(PluginManager().gpu_probes())
    builtin = [n for n in names if n in ("nvml", "nvidia-smi", "none")]
    assert builtin == ["nvml", "nvidia-smi", "none"]


def test_auto_falls_back_to_nvidia_smi_then_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_smi: FakeSmi, any_capture: Path
) -> None:
    monkeypatch.setenv("BACKPROP_DISABLE_PLUGINS", "nvml")
    monkeypatch.delenv("BACKPROP_EXAMPLE_GPUS", raising=False)
    fake_smi.use(any_capture, "idle")
    snapshot = take_snapshot(settings(tmp_path), PluginManager())
    assert snapshot.gpu_probe == "nvidia-smi"
    assert len(snapshot.gpus) == 1 and snapshot.driver_version

    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi any more
    with Prober(settings(tmp_path), PluginManager()) as prober:
        snapshot = prober.snapshot()
        assert snapshot.gpu_probe == "none" and snapshot.gpu_error is None
        assert "nvidia-smi: nvidia-smi not found on PATH" in prober.notes


def test_named_nvidia_smi_missing_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    snapshot = take_snapshot(settings(tmp_path, "nvidia-smi"))
    assert snapshot.gpu_error == "unavailable: nvidia-smi not found on PATH"


def test_snapshot_json_shape(tmp_path: Path) -> None:
    pm = manager(make_probe("g", 1))
    data = snapshot_as_dict(take_snapshot(settings(tmp_path), pm))
    assert set(data) == {
        "taken_at",
        "host",
        "host_error",
        "gpu_probe",
        "gpu_error",
        "driver_version",
        "gpus",
        "warnings",
    }
    assert set(data["host"]) == {
        "hostname",
        "cpu_count",
        "load_1m",
        "load_per_core",
        "ram_total_bytes",
        "ram_available_bytes",
    }
    assert data["gpus"][0]["name"] == "g" and data["gpus"][0]["processes"] == []


def test_a_probe_handed_in_is_not_closed(tmp_path: Path) -> None:
    pm = manager()
    mine = make_probe("mine", 1)()
    snapshot = take_snapshot(settings(tmp_path), pm, gpu_probe=mine)
    assert snapshot.gpu_probe == "mine" and snapshot.gpus[0].name == "mine"
    assert Recorder.closed == []
