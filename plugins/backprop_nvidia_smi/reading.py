"""Reading the GPUs through ``nvidia-smi``: one ``--query-gpu`` call, the compute processes, and
the MIG devices (``-L``, only when a GPU has MIG enabled).

Every call has a hard time limit (a hung driver must never hang backprop): on time-out the whole
process group of the call is killed and the reading fails with a one-line ``ProbeError``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence

from backprop_core import GpuInfo, GpuProcess, GpuReading, MigDevice, ProbeError
from backprop_nvidia_smi.csv_output import (
    APP_FIELDS,
    GPU_FIELDS,
    Table,
    bytes_value,
    is_placeholder,
    number_value,
    parse_mig_list,
    parse_table,
    printable,
    text_value,
)

TIMEOUT_SECONDS = 3.0


class NvidiaSmiTimeout(ProbeError):
    """nvidia-smi did not answer in time: the driver is probably hung."""


def run_nvidia_smi(binary: str, args: Sequence[str], timeout: float = TIMEOUT_SECONDS) -> str:
    """Run ``nvidia-smi`` with ``args`` and return its stdout; ``ProbeError`` on any failure."""
    argv = [binary, *args]
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # its own process group, so a time-out kills whatever it started too
            start_new_session=True,
        )
    except OSError as exc:
        raise ProbeError(f"nvidia-smi could not be started: {exc.strerror or exc}") from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        call = args[0].split("=", 1)[0]
        raise NvidiaSmiTimeout(
            f"nvidia-smi {call} did not answer within {timeout:g} s (driver hung?)"
        ) from None
    stdout = out.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        message = _first_line(err.decode("utf-8", errors="replace")) or _first_line(stdout)
        raise ProbeError(
            f"nvidia-smi exited with code {proc.returncode}" + (f": {message}" if message else "")
        )
    return stdout


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except OSError:
        pass
    try:
        # A process stuck inside the driver may be unkillable: reap briefly, never wait long.
        proc.communicate(timeout=0.5)
    except subprocess.TimeoutExpired:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return printable(line.strip())
    return ""


def read_gpus(binary: str) -> GpuReading:
    """Every GPU as ``nvidia-smi`` at ``binary`` reports it (``ProbeError`` when it cannot)."""
    gpu_text = run_nvidia_smi(binary, [f"--query-gpu={','.join(GPU_FIELDS)}", "--format=csv"])
    table = parse_table(gpu_text, GPU_FIELDS, wide="name", command="nvidia-smi --query-gpu")
    warnings = list(table.warnings)
    processes = _processes(binary, warnings)
    mig_enabled = [_mig_mode(row.get("mig.mode.current")) for row in table.rows]
    mig: dict[int, list[tuple[str, str, int]]] = {}
    if any(mig_enabled):
        try:
            mig = parse_mig_list(run_nvidia_smi(binary, ["-L"]))
        except NvidiaSmiTimeout:
            raise
        except ProbeError as exc:
            warnings.append(f"MIG devices unknown: {exc}")
    gpus = [
        _gpu(position, row, table, processes, mig, warnings)
        for position, row in enumerate(table.rows)
    ]
    drivers = sorted(filter(None, (text_value(row.get("driver_version")) for row in table.rows)))
    return GpuReading(
        gpus=tuple(gpus), driver_version=drivers[0] if drivers else None, warnings=tuple(warnings)
    )


def _processes(binary: str, warnings: list[str]) -> list[GpuProcess]:
    try:
        text = run_nvidia_smi(
            binary, [f"--query-compute-apps={','.join(APP_FIELDS)}", "--format=csv"]
        )
        table = parse_table(
            text, APP_FIELDS, wide="process_name", command="nvidia-smi --query-compute-apps"
        )
    except NvidiaSmiTimeout:
        raise  # a hung driver: do not spend another time-out on the next call
    except ProbeError as exc:
        warnings.append(f"GPU processes unknown: {exc}")
        return []
    warnings.extend(table.warnings)
    found = []
    for row in table.rows:
        pid = _int(row.get("pid"), "pid", table, warnings)
        if pid is None:
            continue
        found.append(
            GpuProcess(
                pid=pid,
                name=text_value(row.get("process_name")),
                used_memory_bytes=_bytes(row, "used_gpu_memory", table, warnings),
                gpu_uuid=text_value(row.get("gpu_uuid")),
            )
        )
    return found


def _gpu(
    position: int,
    row: dict[str, str],
    table: Table,
    processes: list[GpuProcess],
    mig: dict[int, list[tuple[str, str, int]]],
    warnings: list[str],
) -> GpuInfo:
    index = _int(row.get("index"), "index", table, warnings)
    index = position if index is None else index
    uuid = text_value(row.get("uuid"))
    migs = mig.get(index, [])
    # A process lists the parent GPU's UUID (or, on some drivers, its MIG instance's).
    own = {uuid, *(mig_uuid for _profile, mig_uuid, _device in migs)} - {None}
    return GpuInfo(
        index=index,
        uuid=uuid,
        name=text_value(row.get("name")),
        pci_bus_id=text_value(row.get("pci.bus_id")),
        memory_total_bytes=_bytes(row, "memory.total", table, warnings),
        memory_used_bytes=_bytes(row, "memory.used", table, warnings),
        memory_free_bytes=_bytes(row, "memory.free", table, warnings),
        temperature_c=_float(row, "temperature.gpu", table, warnings),
        utilization_pct=_float(row, "utilization.gpu", table, warnings),
        processes=tuple(p for p in processes if p.gpu_uuid in own),
        mig_enabled=_mig_mode(row.get("mig.mode.current")),
        mig_devices=tuple(MigDevice(uuid=m_uuid, profile=profile) for profile, m_uuid, _ in migs),
    )


def _mig_mode(cell: str | None) -> bool | None:
    value = text_value(cell)
    if value is None:
        return None
    return value.lower() == "enabled"


def _float(row: dict[str, str], column: str, table: Table, warnings: list[str]) -> float | None:
    cell = row.get(column)
    if cell is None or is_placeholder(cell):
        return None
    try:
        return number_value(cell, table.units.get(column))[0]
    except ValueError:
        warnings.append(f"nvidia-smi: unreadable {column} value {cell!r}")
        return None


def _int(cell: str | None, column: str, table: Table, warnings: list[str]) -> int | None:
    if cell is None or is_placeholder(cell):
        return None
    try:
        return int(number_value(cell, table.units.get(column))[0])
    except ValueError:
        warnings.append(f"nvidia-smi: unreadable {column} value {cell!r}")
        return None


def _bytes(row: dict[str, str], column: str, table: Table, warnings: list[str]) -> int | None:
    cell = row.get(column)
    if cell is None or is_placeholder(cell):
        return None
    try:
        number, unit = number_value(cell, table.units.get(column))
        return bytes_value(number, unit)
    except ValueError:
        warnings.append(f"nvidia-smi: unreadable {column} value {cell!r}")
        return None
