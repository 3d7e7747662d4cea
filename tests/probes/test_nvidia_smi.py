"""The nvidia-smi probe against every real capture, and against a driver that misbehaves."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from backprop_core.errors import ProbeError
from backprop_core.units import MIB
from backprop_nvidia_smi.csv_output import GPU_FIELDS, is_placeholder, parse_table
from backprop_nvidia_smi.probe import NvidiaSmiProbe
from tests.conftest import wait_for
from tests.probes.fake_nvidia_smi import compute_apps_csv, list_output, query_gpu_csv
from tests.probes.smi_captures import CAPTURES, FakeSmi, capture_params

NO_VALUE = {"[N/A]", "N/A", "", "[Not Supported]", "[Requested functionality has been deprecated]"}


# Expected values, read from the capture text with the csv module (independently of the probe).
def _cells(csv_text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(csv_text), skipinitialspace=True)
    rows = [r for r in reader if r]
    names = [h.split(" [")[0] for h in rows[0]]
    return [dict(zip(names, r)) for r in rows[1:]]


def _mib(cell: str) -> int | None:
    if cell in NO_VALUE:
        return None
    number, unit = cell.split()
    assert unit == "MiB"
    return int(number) * MIB


def _num(cell: str) -> float | None:
    if cell in NO_VALUE:
        return None
    return float(cell.replace("%", "").strip())


def _expected_migs(capture: Path) -> list[tuple[str, str]]:
    migs = []
    for line in list_output(capture).splitlines():
        if line.strip().startswith("MIG "):
            profile = line.split()[1]
            uuid = line.split("UUID: ")[1].rstrip(")")
            migs.append((profile, uuid))
    return migs


@pytest.mark.parametrize(("capture", "phase"), capture_params())
def test_every_capture_reads_as_the_driver_printed_it(
    fake_smi: FakeSmi, capture: Path, phase: str
) -> None:
    fake_smi.use(capture, phase)
    reading = NvidiaSmiProbe().snapshot()

    rows = _cells(query_gpu_csv(capture, phase))
    assert len(reading.gpus) == len(rows) == 1
    row, gpu = rows[0], reading.gpus[0]
    assert gpu.index == int(row["index"])
    assert gpu.uuid == row["uuid"]
    assert gpu.name == row["name"]
    assert gpu.pci_bus_id == row["pci.bus_id"]
    assert gpu.memory_total_bytes == _mib(row["memory.total"])
    assert gpu.memory_used_bytes == _mib(row["memory.used"])
    assert gpu.memory_free_bytes == _mib(row["memory.free"])
    assert gpu.temperature_c == _num(row["temperature.gpu"])
    assert gpu.utilization_pct == _num(row["utilization.gpu"])
    assert gpu.mig_enabled == (
        None if row["mig.mode.current"] in NO_VALUE else row["mig.mode.current"] == "Enabled"
    )
    assert reading.driver_version == row["driver_version"]

    apps = _cells(compute_apps_csv(capture, phase))
    assert [(p.pid, p.name, p.used_memory_bytes) for p in gpu.processes] == [
        (int(a["pid"]), a["process_name"], _mib(a["used_gpu_memory"])) for a in apps
    ]
    expected_migs = _expected_migs(capture) if gpu.mig_enabled else []
    assert [(m.profile, m.uuid) for m in gpu.mig_devices] == expected_migs
    assert reading.warnings == ()


def test_captures_cover_mig_windows_and_missing_values() -> None:
    if not CAPTURES:
        pytest.skip("no nvidia-smi captures")
    names = " ".join(c.name for c in CAPTURES)
    assert "mig" in names and "windows" in names
    # At least one capture has an unknown utilization (MIG) and one unknown per-process memory.
    assert any(_cells(query_gpu_csv(c, "load"))[0]["utilization.gpu"] == "[N/A]" for c in CAPTURES)
    assert any("[N/A]" in compute_apps_csv(c, "load") for c in CAPTURES)


@pytest.mark.parametrize(("capture", "phase"), capture_params())
def test_full_capture_table_parses_by_header_name(capture: Path, phase: str) -> None:
    """Every column the driver knows, in the driver's own order (it differs between drivers)."""
    text = query_gpu_csv(capture, phase)
    table = parse_table(text, GPU_FIELDS, wide="name", command="nvidia-smi")
    expected = _cells(text)
    assert len(table.rows) == len(expected)
    for field in GPU_FIELDS:
        assert table.rows[0][field] == expected[0][field]
    assert table.units["memory.total"] == "MiB"
    assert table.units["temperature.gpu"] is None


def test_columns_in_another_order_give_the_same_gpu(fake_smi: FakeSmi, any_capture: Path) -> None:
    fake_smi.use(any_capture, "load")
    straight = NvidiaSmiProbe().snapshot()
    fake_smi.monkeypatch.setenv("FAKE_NVIDIA_SMI_REVERSE", "1")
    reversed_ = NvidiaSmiProbe().snapshot()
    assert reversed_ == straight


@pytest.mark.parametrize("options", ["csv,nounits", "csv,noheader,nounits", "csv"])
def test_units_in_header_or_values_parse_alike(
    fake_smi: FakeSmi, any_capture: Path, options: str
) -> None:
    fake_smi.use(any_capture, "load")
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={','.join(GPU_FIELDS)}", f"--format={options}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "noheader" in options:
        with pytest.raises(ProbeError, match="unexpected output"):
            parse_table(out, GPU_FIELDS, wide="name", command="nvidia-smi")
        return
    table = parse_table(out, GPU_FIELDS, wide="name", command="nvidia-smi")
    reading = NvidiaSmiProbe().snapshot()
    total = table.rows[0]["memory.total"]
    assert int(total.split()[0]) * MIB == reading.gpus[0].memory_total_bytes


@pytest.mark.parametrize(
    "token",
    [
        "[N/A]",
        "N/A",
        "[Not Supported]",
        "[Requested functionality has been deprecated]",
        "[Function Not Found]",
        "[Unknown Error]",
        "",
    ],
)
def test_every_no_value_token_is_unknown_and_keeps_the_gpu(
    tmp_path: Path, fake_smi: FakeSmi, any_capture: Path, token: str
) -> None:
    text = any_capture.read_text(encoding="utf-8")
    section = query_gpu_csv(any_capture, "idle")
    header, row = section.split("\n")
    names = [h.split(" [")[0] for h in header.split(", ")]
    cells = row.split(", ")
    for field in ("memory.free", "temperature.gpu", "utilization.gpu", "name", "pci.bus_id"):
        cells[names.index(field)] = token
    edited = tmp_path / "edited.txt"
    edited.write_text(text.replace(row, ", ".join(cells)), encoding="utf-8")
    fake_smi.use(edited, "idle")
    reading = NvidiaSmiProbe().snapshot()
    (gpu,) = reading.gpus
    assert gpu.memory_free_bytes is None
    assert gpu.temperature_c is None
    assert gpu.utilization_pct is None
    assert gpu.name is None and gpu.pci_bus_id is None
    assert gpu.memory_total_bytes is not None  # the rest of the row is still read
    assert is_placeholder(token)


def test_process_names_with_commas_and_spaces(tmp_path: Path, fake_smi: FakeSmi) -> None:
    windows = [c for c in CAPTURES if c.name.startswith("windows")]
    if not windows:
        pytest.skip("no Windows capture")
    odd = r"C:\Program Files\Odd, Inc\trainer, v2 (x64).exe"
    edited = tmp_path / "odd.txt"
    edited.write_text(
        windows[0].read_text(encoding="utf-8").replace(r"C:\Windows\explorer.exe", odd),
        encoding="utf-8",
    )
    fake_smi.use(edited, "load")
    (gpu,) = NvidiaSmiProbe().snapshot().gpus
    names = [p.name for p in gpu.processes]
    assert odd in names
    assert all(p.used_memory_bytes is None for p in gpu.processes)  # WDDM: [N/A] per process
    assert len(gpu.processes) == len(_cells(compute_apps_csv(windows[0], "load")))


def test_one_query_per_snapshot_and_mig_list_only_when_mig_is_on(fake_smi: FakeSmi) -> None:
    migs = [c for c in CAPTURES if "mig" in c.name]
    plain = [c for c in CAPTURES if "mig" not in c.name]
    if not migs or not plain:
        pytest.skip("needs MIG and non-MIG captures")
    fake_smi.use(plain[0], "idle")
    NvidiaSmiProbe().snapshot()
    calls = fake_smi.calls()
    assert sum(c.startswith("--query-gpu=") for c in calls) == 1
    assert sum(c.startswith("--query-compute-apps=") for c in calls) == 1
    assert "-L" not in calls
    fake_smi.log.unlink()
    fake_smi.use(migs[0], "idle")
    NvidiaSmiProbe().snapshot()
    assert "-L" in fake_smi.calls()


@pytest.mark.slow
def test_hung_nvidia_smi_gives_up_within_three_seconds(
    fake_smi: FakeSmi, any_capture: Path
) -> None:
    fake_smi.use(any_capture, mode="hang")
    probe = NvidiaSmiProbe()
    assert probe.available().ok
    started = time.monotonic()
    with pytest.raises(ProbeError, match="did not answer within 3 s"):
        probe.snapshot()
    # The 3 s limit plus process start-up on a loaded machine; never the fake's 600 s.
    assert time.monotonic() - started < 30
    # The whole process group went: the fake's own child does not linger either.
    child = int(Path(str(fake_smi.log) + ".child").read_text(encoding="utf-8"))
    wait_for(lambda: not _alive(child), what="the fake's child to be killed")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_hung_process_query_makes_the_probe_unavailable(
    fake_smi: FakeSmi, any_capture: Path
) -> None:
    fake_smi.use(any_capture, mode="hang-apps")
    started = time.monotonic()
    with pytest.raises(ProbeError, match="did not answer"):
        NvidiaSmiProbe().snapshot()
    assert time.monotonic() - started < 30  # the 3 s limit, never the fake's 600 s
    assert not any(c == "-L" for c in fake_smi.calls())


def test_failed_process_query_keeps_the_gpus(fake_smi: FakeSmi, any_capture: Path) -> None:
    fake_smi.use(any_capture, "load", mode="fail-apps")
    reading = NvidiaSmiProbe().snapshot()
    assert len(reading.gpus) == 1 and reading.gpus[0].processes == ()
    assert any("GPU processes unknown" in w for w in reading.warnings)


def test_missing_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    probe = NvidiaSmiProbe()
    availability = probe.available()
    assert not availability.ok
    assert availability.reason == "nvidia-smi not found on PATH"
    with pytest.raises(ProbeError, match="not found"):
        probe.snapshot()


def test_garbage_output(fake_smi: FakeSmi, any_capture: Path) -> None:
    fake_smi.use(any_capture, mode="garbage")
    with pytest.raises(ProbeError, match="unexpected output") as info:
        NvidiaSmiProbe().snapshot()
    assert "\n" not in str(info.value)


def test_driver_not_loaded_exit_code(fake_smi: FakeSmi, any_capture: Path) -> None:
    fake_smi.use(any_capture, mode="fail")
    with pytest.raises(ProbeError, match=r"exited with code 9: NVIDIA-SMI has failed") as info:
        NvidiaSmiProbe().snapshot()
    assert "\n" not in str(info.value)


def test_binary_that_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "nvidia-smi"
    broken.write_text("not a program", encoding="utf-8")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProbeError, match=r"could not be started|exited with code"):
        NvidiaSmiProbe().snapshot()


def test_driver_warnings_before_the_header_are_kept(any_capture: Path) -> None:
    warning = "WARNING: infoROM is corrupted at gpu 0000:00:09.0\n"
    text = warning + query_gpu_csv(any_capture, "idle")
    table = parse_table(text, GPU_FIELDS, wide="name", command="nvidia-smi")
    assert len(table.rows) == 1
    assert table.warnings and "infoROM is corrupted" in table.warnings[0]


def test_fake_is_run_through_the_launcher(fake_smi: FakeSmi, any_capture: Path) -> None:
    """Sanity: the fake on PATH is what the probe runs (not a real nvidia-smi)."""
    fake_smi.use(any_capture)
    path = subprocess.run(
        [sys.executable, "-c", "import shutil; print(shutil.which('nvidia-smi'))"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    ).stdout.strip()
    assert Path(path).parent == fake_smi.bin_dir
    assert re.search(r"fake_nvidia_smi\.py", (fake_smi.bin_dir / "nvidia-smi").read_text())


def test_processes_listed_under_a_mig_uuid_belong_to_the_parent_gpu(
    tmp_path: Path, fake_smi: FakeSmi
) -> None:
    migs = [c for c in CAPTURES if "h100-mig" in c.name]
    if not migs:
        pytest.skip("no H100 MIG capture")
    text = migs[0].read_text(encoding="utf-8")
    apps = compute_apps_csv(migs[0], "load")
    first_row = apps.split("\n")[1]
    moved = first_row.replace(
        "GPU-00000000-0000-0000-0000-000000000000", "MIG-00000001-0000-0000-0000-000000000001"
    )
    edited = tmp_path / "mig-uuid.txt"
    edited.write_text(text.replace(first_row, moved), encoding="utf-8")
    fake_smi.use(edited, "load")
    (gpu,) = NvidiaSmiProbe().snapshot().gpus
    assert len(gpu.processes) == 3
    assert gpu.processes[0].gpu_uuid == "MIG-00000001-0000-0000-0000-000000000001"
