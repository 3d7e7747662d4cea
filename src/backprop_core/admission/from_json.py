"""The ``status --json`` object back into a ``Snapshot`` and a ``Decision``: the inverse of
``probing.snapshot_as_dict`` and ``governor.decision_as_dict``, so the status of another machine
(``backprop --remote HOST status``) is drawn by the same code as this machine's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backprop_core.admission.resources import GpuInfo, GpuProcess, HostInfo, MigDevice, Snapshot
from backprop_core.admission.votes import Decision, Verdict, Vote


def _fields(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in data.items() if k in names}


def _gpu(data: Mapping[str, Any]) -> GpuInfo:
    fields = _fields(GpuInfo, data)
    fields["processes"] = tuple(GpuProcess(**_fields(GpuProcess, p)) for p in data["processes"])
    fields["mig_devices"] = tuple(MigDevice(**_fields(MigDevice, m)) for m in data["mig_devices"])
    return GpuInfo(**fields)


def snapshot_from_dict(data: Mapping[str, Any]) -> Snapshot:
    host = data.get("host")
    return Snapshot(
        taken_at=float(data["taken_at"]),
        host=None if host is None else HostInfo(**_fields(HostInfo, host)),
        gpu_probe=str(data["gpu_probe"]),
        gpus=tuple(_gpu(g) for g in data.get("gpus", [])),
        driver_version=data.get("driver_version"),
        gpu_error=data.get("gpu_error"),
        host_error=data.get("host_error"),
        warnings=tuple(data.get("warnings", [])),
    )


def decision_from_dict(data: Mapping[str, Any]) -> Decision:
    votes = tuple(
        Vote(
            policy=str(v["policy"]),
            verdict=Verdict(v["verdict"]),
            reason=str(v["reason"]),
            eligible_gpus=None if v.get("eligible_gpus") is None else frozenset(v["eligible_gpus"]),
        )
        for v in data.get("votes", [])
    )
    return Decision(
        verdict=Verdict(data["verdict"]),
        votes=votes,
        gpus=tuple(data.get("gpus", [])),
        notes=tuple(data.get("notes", [])),
    )
