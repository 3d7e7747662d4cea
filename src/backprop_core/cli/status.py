"""``backprop status``: the host, each GPU, and whether a run would be admitted now, and why.

Text goes to a terminal as a table and elsewhere as plain lines that stay stable for scripts;
``--json`` prints the object documented in docs/probes.md. The command exits 0 whatever the
verdict and whatever the GPU probe says: an unusable probe is shown as ``unavailable: <reason>``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from backprop_core.cli.options import (
    echo_json,
    governor_options,
    is_terminal,
    json_option,
    settings_from_options,
    settings_options,
)
from backprop_core.render.terminal import terminal_json, terminal_lines
from backprop_core.units import MIB, gib

if TYPE_CHECKING:
    from backprop_core.admission.probing import Prober
    from backprop_core.admission.resources import GpuInfo, HostInfo, Snapshot
    from backprop_core.admission.votes import AdmissionRequest, Decision
    from backprop_core.settings import Settings

UNKNOWN_CELL = "?"
UNKNOWN_TEXT = "unknown"
_ORDER = {"refuse": 0, "wait": 1, "admit": 2}
_COLOURS = {"admit": "green", "wait": "yellow", "refuse": "red"}


@click.command("status")
@json_option
@click.option("--watch", is_flag=True, help="Refresh every governor.pollSeconds until Ctrl-C.")
@governor_options
@settings_options
def status_command(as_json: bool, watch: bool, **options: Any) -> None:
    """Show the machine and whether a run would be admitted now.

    The host, each GPU, and the verdict with every policy's reason.
    """
    from backprop_core.admission.probing import Prober

    settings = settings_from_options(options)
    terminal = is_terminal()
    with Prober(settings) as prober:
        if not watch:
            _show(prober, settings, as_json=as_json, terminal=terminal, watch=False)
            return
        try:
            while True:
                _show(prober, settings, as_json=as_json, terminal=terminal, watch=True)
                time.sleep(settings.governor.poll_seconds)
        except KeyboardInterrupt:
            return  # Ctrl-C is how --watch ends: not an error


def _show(
    prober: Prober, settings: Settings, *, as_json: bool, terminal: bool, watch: bool
) -> None:
    from backprop_core.admission.governor import current_request, evaluate

    snapshot = prober.snapshot()
    request = current_request(settings)  # every poll: runs start and end while --watch runs
    decision = evaluate(settings, request, snapshot)
    if as_json:
        echo_status_json(status_as_dict(snapshot, decision, request, settings, prober.notes), watch)
        return
    echo_status_text(
        snapshot,
        decision,
        prober.notes,
        terminal=terminal,
        watch=watch,
        poll_seconds=settings.governor.poll_seconds,
    )


def echo_status_json(data: dict[str, Any], watch: bool) -> None:
    if watch:  # one object per line, so a reader can follow the stream
        click.echo(terminal_json(json.dumps(data, default=str, ensure_ascii=False)))
    else:
        echo_json(data)


def echo_status_text(
    snapshot: Snapshot,
    decision: Decision,
    notes: tuple[str, ...],
    *,
    terminal: bool,
    watch: bool,
    poll_seconds: float,
) -> None:
    """The text report (one refresh of it with ``watch``), from this machine or another."""
    if watch and terminal:
        click.clear()
        click.echo(f"every {poll_seconds:g} s, Ctrl-C to stop · {time.strftime('%H:%M:%S')}")
    elif watch:
        click.echo(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}")
    click.echo(terminal_lines(render(snapshot, decision, notes, table=terminal)))


# JSON ----------------------------------------------------------------------------------------
def status_as_dict(
    snapshot: Snapshot,
    decision: Decision,
    request: AdmissionRequest,
    settings: Settings,
    probe_notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The ``status --json`` object: the snapshot's fields, ``admission`` and ``limits``."""
    from backprop_core.admission.governor import decision_as_dict
    from backprop_core.admission.probing import snapshot_as_dict

    data: dict[str, Any] = {"version": 1}
    data.update(snapshot_as_dict(snapshot))
    data["gpu_probes_skipped"] = list(probe_notes)
    admission = decision_as_dict(decision)
    admission["request"] = {
        "gpu_count": request.gpu_count,
        "gpu_count_explicit": request.gpu_count_explicit,
    }
    data["admission"] = admission
    data["limits"] = {
        "minFreeRamGB": settings.min_free_ram_gb,
        "maxCpuLoad": settings.max_cpu_load,
        "gpu": {
            "probe": settings.gpu.probe,
            "minFreeVramMB": settings.gpu.min_free_vram_mb,
            "maxTempC": settings.gpu.max_temp_c,
            "count": settings.gpu.count,
        },
        "governor": {"pollSeconds": settings.governor.poll_seconds},
    }
    return data


# text ----------------------------------------------------------------------------------------
def render(
    snapshot: Snapshot, decision: Decision, probe_notes: tuple[str, ...] = (), *, table: bool
) -> str:
    """The whole report; ``table`` lays GPUs out as a table (terminal), else one line each."""
    lines = [_host_line(snapshot.host, snapshot.host_error)]
    lines.append(_probe_line(snapshot))
    if not snapshot.gpus:
        lines.extend(f"  auto passed over {note}" for note in probe_notes)
    if snapshot.gpus:
        lines.extend(_gpu_table(snapshot.gpus) if table else _gpu_lines(snapshot.gpus))
    lines.extend(f"warning: {w}" for w in snapshot.warnings)
    lines.extend(_verdict_lines(decision, colour=table))
    return "\n".join(lines)


def _mib(n: int | None, unknown: str) -> str:
    return unknown if n is None else f"{n / MIB:.0f}"


def _num(value: float | None, unknown: str, unit: str = "") -> str:
    return unknown if value is None else f"{value:g}{unit}"


def _host_line(host: HostInfo | None, error: str | None) -> str:
    if host is None:
        return f"host: {error or UNKNOWN_TEXT}"
    load = host.load_per_core
    load_text = UNKNOWN_TEXT if load is None else f"{load:.2f} per core"
    return (
        f"host: {host.hostname}, {host.cpu_count} CPUs, load {load_text}, "
        f"RAM {gib(host.ram_available_bytes)} available of {gib(host.ram_total_bytes)}"
    )


def _probe_line(snapshot: Snapshot) -> str:
    if snapshot.gpu_error:
        return f"gpus: {snapshot.gpu_error} (probe {snapshot.gpu_probe})"
    if not snapshot.gpus:
        return f"gpus: none visible (probe {snapshot.gpu_probe})"
    driver = f", driver {snapshot.driver_version}" if snapshot.driver_version else ""
    return f"gpus: {len(snapshot.gpus)} (probe {snapshot.gpu_probe}{driver})"


def _mig(gpu: GpuInfo, unknown: str) -> str:
    if gpu.mig_enabled is None:
        return unknown
    if not gpu.mig_enabled:
        return "off"
    return f"on ({len(gpu.mig_devices)} devices)" if gpu.mig_devices else "on"


def _gpu_lines(gpus: tuple[GpuInfo, ...]) -> list[str]:
    u = UNKNOWN_TEXT
    lines = []
    for g in gpus:
        mem = (
            f"memory used {_mib(g.memory_used_bytes, u)} MiB, free {_mib(g.memory_free_bytes, u)}"
            f" MiB, total {_mib(g.memory_total_bytes, u)} MiB"
        )
        lines.append(
            f"gpu {g.index}: {g.name or u}, {mem}, temperature {_num(g.temperature_c, u, ' °C')}"
            f", utilization {_num(g.utilization_pct, u, ' %')}, processes {len(g.processes)}"
            f", MIG {_mig(g, u)}"
        )
        lines.extend(f"gpu {g.index} mig: {m.profile or u} {m.uuid}" for m in g.mig_devices)
    return lines


def _gpu_table(gpus: tuple[GpuInfo, ...]) -> list[str]:
    u = UNKNOWN_CELL
    header = ["GPU", "NAME", "USED MiB", "FREE MiB", "TOTAL MiB", "TEMP", "UTIL", "PROCS", "MIG"]
    rows = [
        [
            str(g.index),
            g.name or u,
            _mib(g.memory_used_bytes, u),
            _mib(g.memory_free_bytes, u),
            _mib(g.memory_total_bytes, u),
            _num(g.temperature_c, u, "°C"),
            _num(g.utilization_pct, u, "%"),
            str(len(g.processes)),
            _mig(g, u),
        ]
        for g in gpus
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6, 7}

    def line(cells: list[str]) -> str:
        return (
            "  "
            + "  ".join(
                c.rjust(w) if i in numeric else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()
        )

    out = [line(header)]
    for g, row in zip(gpus, rows):
        out.append(line(row))
        out.extend(f"      MIG {m.profile or u}  {m.uuid}" for m in g.mig_devices)
    return out


def _verdict_lines(decision: Decision, *, colour: bool) -> list[str]:
    verdict = decision.verdict.value
    if verdict == "admit":
        where = "on GPU " + ", ".join(map(str, decision.gpus)) if decision.gpus else "without a GPU"
        summary = f"admit (a run would start now, {where})"
    elif verdict == "wait":
        summary = "wait (a run would wait for resources)"
    else:
        summary = "refuse (a run would be refused)"
    head = click.style(summary, fg=_COLOURS[verdict], bold=True) if colour else summary
    lines = [f"verdict: {head}"]
    votes = sorted(decision.votes, key=lambda v: _ORDER[v.verdict.value])
    lines.extend(f"  - [{v.verdict.value}] {v.policy}: {v.reason}" for v in votes)
    lines.extend(f"  - [{verdict}] {note}" for note in decision.notes)
    return lines
