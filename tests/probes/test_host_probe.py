"""The host probe: the same numbers psutil reports, read cheaply where the kernel offers them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from backprop_host import probe as host_probe
from backprop_host.probe import LocalHostProbe, _meminfo

MEMINFO_SAMPLE = """MemTotal:       24684092 kB
MemFree:        21173228 kB
MemAvailable:   22866016 kB
Buffers:          120332 kB
Cached:          1812340 kB
"""


def test_agrees_with_psutil() -> None:
    info = LocalHostProbe().snapshot()
    memory = psutil.virtual_memory()
    assert info.ram_total_bytes == memory.total
    # available RAM moves between the two reads; other processes run meanwhile
    assert abs(info.ram_available_bytes - memory.available) < max(0.1 * memory.total, 512 << 20)
    assert 0 < info.ram_available_bytes <= info.ram_total_bytes
    assert info.cpu_count == (psutil.cpu_count(logical=True) or 1)
    assert info.hostname
    if sys.platform != "win32":
        assert info.load_1m is not None and info.load_per_core is not None
        assert info.load_per_core == pytest.approx(info.load_1m / info.cpu_count)


def test_meminfo_is_read_in_kib(tmp_path: Path) -> None:
    sample = tmp_path / "meminfo"
    sample.write_text(MEMINFO_SAMPLE, encoding="ascii")
    assert _meminfo(str(sample)) == (24684092 * 1024, 22866016 * 1024)


def test_old_kernel_without_memavailable_falls_back_to_psutil(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = tmp_path / "meminfo"
    sample.write_text("MemTotal: 1024 kB\nMemFree: 512 kB\n", encoding="ascii")
    assert _meminfo(str(sample)) is None
    monkeypatch.setattr(host_probe, "MEMINFO", str(sample))
    info = LocalHostProbe().snapshot()
    assert info.ram_total_bytes == psutil.virtual_memory().total  # psutil's, not the 1 MiB file


def test_no_meminfo_at_all_uses_psutil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_probe, "MEMINFO", str(tmp_path / "missing"))
    info = LocalHostProbe().snapshot()
    assert info.ram_total_bytes == psutil.virtual_memory().total
    assert info.cpu_count == (os.cpu_count() or 1)
