"""Fixtures for the probe tests: a fake ``nvidia-smi`` on PATH that answers from real captures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.probes import fake_nvidia_smi
from tests.probes.smi_captures import CAPTURES, FakeSmi


@pytest.fixture
def fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSmi]:
    bin_dir = tmp_path / "fake-bin"
    fake_nvidia_smi.install(bin_dir)
    log = tmp_path / "nvidia-smi.calls"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_LOG", str(log))
    monkeypatch.delenv("FAKE_NVIDIA_SMI_REVERSE", raising=False)
    yield FakeSmi(bin_dir, log, monkeypatch)


@pytest.fixture
def any_capture() -> Path:
    return next((c for c in CAPTURES if "h100-80gb" in c.name), CAPTURES[0])
