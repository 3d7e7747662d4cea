"""The real nvidia-smi captures and the controls of the fake ``nvidia-smi`` (shared by tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Real captures, with their provenance and licence in tests/fixtures/nvidia-smi/README.md.
FIXTURES = HERE.parent / "fixtures" / "nvidia-smi"
CAPTURES = sorted((FIXTURES / "csv").glob("*.txt"))
assert CAPTURES, f"the nvidia-smi captures are missing from {FIXTURES}"


def capture_params() -> list[object]:
    """One parameter per (capture, phase)."""
    return [
        pytest.param(c, phase, id=f"{c.stem}-{phase}")
        for c in CAPTURES
        for phase in ("idle", "load")
    ]


@dataclass
class FakeSmi:
    """Controls the fake ``nvidia-smi`` installed on PATH for one test."""

    bin_dir: Path
    log: Path
    monkeypatch: pytest.MonkeyPatch

    def use(self, capture: Path | None, phase: str = "idle", mode: str = "ok") -> None:
        if capture is not None:
            self.monkeypatch.setenv("FAKE_NVIDIA_SMI_CAPTURE", str(capture))
        self.monkeypatch.setenv("FAKE_NVIDIA_SMI_PHASE", phase)
        self.monkeypatch.setenv("FAKE_NVIDIA_SMI_MODE", mode)

    def calls(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []

    def env(self) -> dict[str, str]:
        """The environment a subprocess needs to see this fake (for CLI tests)."""
        return dict(os.environ)
