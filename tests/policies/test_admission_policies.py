"""The default admission policies, the veto rule, and GPU selection, through the governor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import backprop_policies
from backprop_core.admission.governor import evaluate, request_for
from backprop_core.admission.resources import GpuInfo, HostInfo, Snapshot
from backprop_core.admission.votes import AdmissionRequest, Decision, Verdict
from backprop_core.plugin.manager import PluginManager
from backprop_core.settings import Settings
from backprop_core.units import GIB, MIB


@pytest.fixture
def policies() -> PluginManager:
    """Only the default policies (other plugins' votes are tested where they live)."""
    pm = PluginManager(load_entry_points=False)
    pm.register(backprop_policies, "policies")
    return pm


def settings(tmp_path: Path, sources: dict[str, str] | None = None, **config: Any) -> Settings:
    return Settings.from_config(config, home=tmp_path, sources=sources)


def host(available_gib: float = 16, load_1m: float = 0.5, cpus: int = 4) -> HostInfo:
    return HostInfo(
        hostname="box",
        cpu_count=cpus,
        load_1m=load_1m,
        ram_total_bytes=int(32 * GIB),
        ram_available_bytes=int(available_gib * GIB),
    )


def gpu(index: int, free_mib: float | None, temp: float | None = 40) -> GpuInfo:
    return GpuInfo(
        index=index,
        name=f"GPU{index}",
        memory_total_bytes=24576 * MIB,
        memory_free_bytes=None if free_mib is None else int(free_mib * MIB),
        temperature_c=temp,
    )


def snap(*gpus: GpuInfo, host_info: HostInfo | None = None, probe: str = "fake") -> Snapshot:
    return Snapshot(taken_at=0.0, host=host_info or host(), gpu_probe=probe, gpus=tuple(gpus))


def decide_for(
    pm: PluginManager, s: Settings, snapshot: Snapshot, request: AdmissionRequest | None = None
) -> Decision:
    return evaluate(s, request or request_for(s), snapshot, plugins=pm)


def vote_of(decision: Decision, policy: str) -> Any:
    found = [v for v in decision.votes if v.policy == policy]
    return found[0] if found else None


# ram ---------------------------------------------------------------------------------------
def test_ram_waits_below_the_minimum(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path, minFreeRamGB=4), snap(host_info=host(2.1)))
    assert d.verdict == Verdict.WAIT
    assert "ram: available RAM 2.1 GiB < 4 GiB required" in d.reasons


def test_ram_admits_at_the_minimum(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path, minFreeRamGB=4), snap(host_info=host(4)))
    assert vote_of(d, "ram").verdict == Verdict.ADMIT
    assert vote_of(d, "ram").reason == "available RAM 4.0 GiB >= 4 GiB required"


def test_ram_unknown_host_does_not_block(policies: PluginManager, tmp_path: Path) -> None:
    snapshot = Snapshot(taken_at=0, host=None, gpu_probe="none", host_error="unavailable: boom")
    d = decide_for(policies, settings(tmp_path), snapshot)
    assert vote_of(d, "ram").verdict == Verdict.ADMIT
    assert "unknown" in vote_of(d, "ram").reason and "boom" in vote_of(d, "ram").reason


# cpu-load ----------------------------------------------------------------------------------
def test_cpu_load_has_no_opinion_when_unset(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path), snap(host_info=host(load_1m=400)))
    assert vote_of(d, "cpu-load") is None
    assert d.verdict == Verdict.ADMIT


def test_cpu_load_waits_above_the_limit(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(
        policies, settings(tmp_path, maxCpuLoad=0.9), snap(host_info=host(load_1m=6, cpus=4))
    )
    assert d.verdict == Verdict.WAIT
    assert "cpu-load: CPU load 1.50 per core > 0.9 allowed" in d.reasons


def test_cpu_load_admits_under_the_limit(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(
        policies, settings(tmp_path, maxCpuLoad=0.9), snap(host_info=host(load_1m=2, cpus=4))
    )
    assert vote_of(d, "cpu-load").verdict == Verdict.ADMIT


# gpu-vram ----------------------------------------------------------------------------------
def test_vram_waits_with_one_reason_per_gpu(policies: PluginManager, tmp_path: Path) -> None:
    s = settings(tmp_path, gpu={"minFreeVramMB": 2500})
    d = decide_for(policies, s, snap(gpu(0, 800), gpu(1, 1200)))
    assert d.verdict == Verdict.WAIT
    reason = vote_of(d, "gpu-vram").reason
    assert "GPU 0: 800 MiB free < 2500 MiB required" in reason
    assert "GPU 1: 1200 MiB free < 2500 MiB required" in reason
    assert d.gpus == ()


def test_vram_unknown_free_memory_is_not_eligible(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path), snap(gpu(0, None), gpu(1, 9000)))
    assert vote_of(d, "gpu-vram").eligible_gpus == frozenset({1})
    assert "GPU 0: free memory unknown" in vote_of(d, "gpu-vram").reason
    assert d.verdict == Verdict.ADMIT and d.gpus == (1,)


def test_vram_does_not_apply_to_cpu_runs(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path, gpu={"count": 0}), snap(gpu(0, 10)))
    assert vote_of(d, "gpu-vram") is None
    assert d.verdict == Verdict.ADMIT and d.gpus == ()


# gpu-temperature ---------------------------------------------------------------------------
def test_hot_gpu_is_excluded(policies: PluginManager, tmp_path: Path) -> None:
    s = settings(tmp_path, gpu={"maxTempC": 85})
    d = decide_for(policies, s, snap(gpu(0, 20000, temp=90), gpu(1, 9000, temp=50)))
    assert vote_of(d, "gpu-temperature").eligible_gpus == frozenset({1})
    assert "GPU 0: 90 °C >= 85 °C limit" in vote_of(d, "gpu-temperature").reason
    assert d.gpus == (1,)  # not GPU 0, although it has more free memory


def test_every_gpu_hot_waits(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path), snap(gpu(0, 20000, temp=85)))
    assert d.verdict == Verdict.WAIT
    assert any(r.startswith("gpu-temperature: GPU 0: 85 °C >= 85 °C limit") for r in d.reasons)


def test_unknown_temperature_is_allowed_with_a_warning(
    policies: PluginManager, tmp_path: Path
) -> None:
    d = decide_for(policies, settings(tmp_path), snap(gpu(0, 20000, temp=None)))
    vote = vote_of(d, "gpu-temperature")
    assert vote.verdict == Verdict.ADMIT and vote.eligible_gpus == frozenset({0})
    assert "temperature unknown" in vote.reason
    assert d.gpus == (0,)


# gpu-count ---------------------------------------------------------------------------------
def test_count_zero_runs_on_cpu(policies: PluginManager, tmp_path: Path) -> None:
    s = settings(tmp_path, {"gpu.count": "flag --gpus"}, gpu={"count": 0})
    d = decide_for(policies, s, snap())
    assert d.verdict == Verdict.ADMIT
    assert vote_of(d, "gpu-count").reason == "gpu.count is 0: runs on CPU only"


def test_no_gpu_with_default_count_runs_on_cpu(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path), snap(probe="none"))
    assert d.verdict == Verdict.ADMIT and d.gpus == ()
    assert vote_of(d, "gpu-count").reason.startswith("no GPU visible: runs on CPU")


@pytest.mark.parametrize("source", ["flag --gpus", "env BACKPROP_GPU__COUNT", "project config x"])
def test_no_gpu_with_an_explicit_count_refuses(
    policies: PluginManager, tmp_path: Path, source: str
) -> None:
    s = settings(tmp_path, {"gpu.count": source}, gpu={"count": 1})
    snapshot = Snapshot(
        taken_at=0, host=host(), gpu_probe="nvidia-smi", gpu_error="unavailable: not on PATH"
    )
    d = decide_for(policies, s, snapshot)
    assert d.verdict == Verdict.REFUSE
    assert d.reasons == [
        "gpu-count: requested 1 GPU(s) but none is visible "
        "(probe: nvidia-smi, unavailable: not on PATH)"
    ]


def test_explicit_request_flag_counts_as_explicit(policies: PluginManager, tmp_path: Path) -> None:
    s = settings(tmp_path)
    request = AdmissionRequest(gpu_count=1, gpu_count_explicit=True)
    d = decide_for(policies, s, snap(probe="none"), request)
    assert d.verdict == Verdict.REFUSE


def test_fewer_gpus_than_requested_refuses(policies: PluginManager, tmp_path: Path) -> None:
    s = settings(tmp_path, {"gpu.count": "flag --gpus"}, gpu={"count": 4})
    d = decide_for(policies, s, snap(gpu(0, 20000), gpu(1, 20000)))
    assert d.verdict == Verdict.REFUSE
    assert "gpu-count: requested 4 GPU(s) but this machine has 2 (probe: fake)" in d.reasons


# veto and every reason kept ----------------------------------------------------------------
def test_refuse_beats_wait_beats_admit_and_every_vote_is_kept(
    policies: PluginManager, tmp_path: Path
) -> None:
    s = settings(tmp_path, {"gpu.count": "flag"}, gpu={"count": 3}, minFreeRamGB=64)
    d = decide_for(policies, s, snap(gpu(0, 100), host_info=host(2)))
    assert d.verdict == Verdict.REFUSE
    verdicts = {v.policy: v.verdict for v in d.votes}
    assert verdicts["ram"] == Verdict.WAIT
    assert verdicts["gpu-count"] == Verdict.REFUSE
    assert verdicts["gpu-vram"] == Verdict.WAIT
    assert len(d.reasons) == 1  # the deciding refusal; the others stay in d.votes

    s = settings(tmp_path, minFreeRamGB=64)
    d = decide_for(policies, s, snap(gpu(0, 20000), host_info=host(2)))
    assert d.verdict == Verdict.WAIT
    assert d.reasons == ["ram: available RAM 2.0 GiB < 64 GiB required"]


def test_all_admit_lists_every_reason(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path, maxCpuLoad=4), snap(gpu(0, 20000)))
    assert d.verdict == Verdict.ADMIT
    assert [r.split(":")[0] for r in d.reasons] == [
        "ram",
        "cpu-load",
        "gpu-count",
        "gpu-vram",
        "gpu-temperature",
    ]


# GPU selection -----------------------------------------------------------------------------
def test_most_free_memory_wins(policies: PluginManager, tmp_path: Path) -> None:
    d = decide_for(policies, settings(tmp_path), snap(gpu(0, 5000), gpu(1, 9000), gpu(2, 7000)))
    assert d.gpus == (1,)


def test_ties_go_to_the_cooler_then_the_lower_index(
    policies: PluginManager, tmp_path: Path
) -> None:
    d = decide_for(
        policies, settings(tmp_path), snap(gpu(0, 9000, 70), gpu(1, 9000, 50), gpu(2, 9000, 50))
    )
    assert d.gpus == (1,)
    s = settings(tmp_path, {"gpu.count": "flag"}, gpu={"count": 2})
    d = decide_for(policies, s, snap(gpu(0, 9000, 70), gpu(1, 9000, 50), gpu(2, 9000, 50)))
    assert d.gpus == (1, 2)


def test_reserved_gpus_are_not_handed_out(policies: PluginManager, tmp_path: Path) -> None:
    s = settings(tmp_path)
    snapshot = snap(gpu(0, 20000), gpu(1, 9000))
    d = decide_for(policies, s, snapshot, request_for(s, reserved_gpus=[0]))
    assert d.verdict == Verdict.ADMIT and d.gpus == (1,)
    d = decide_for(policies, s, snapshot, request_for(s, reserved_gpus=[0, 1]))
    assert d.verdict == Verdict.WAIT
    assert any("reserved by other runs: 0, 1" in r for r in d.reasons)


def test_request_for_reads_the_count_and_its_source(tmp_path: Path) -> None:
    assert request_for(settings(tmp_path)).gpu_count_explicit is False
    explicit = request_for(settings(tmp_path, {"gpu.count": "flag --gpus"}, gpu={"count": 2}))
    assert explicit.gpu_count == 2 and explicit.gpu_count_explicit


def test_the_plugin_hook_returns_one_vote_per_policy(tmp_path: Path) -> None:
    """``backprop_admission_vote`` of the policies plugin, called as pluggy calls it."""
    s = settings(tmp_path, maxCpuLoad=1)
    votes = backprop_policies.backprop_admission_vote(
        request=request_for(s), snapshot=snap(gpu(0, 9000)), settings=s
    )
    assert sorted(v.policy for v in votes) == [
        "cpu-load",
        "gpu-count",
        "gpu-temperature",
        "gpu-vram",
        "ram",
    ]
    registered = PluginManager()  # through the real entry point
    assert any(
        p.name == "policies" and "backprop_admission_vote" in p.hooks for p in registered.plugins()
    )
