"""Byte units and how messages write amounts of them (binary units, as nvidia-smi and psutil
count), in a module of their own so that light modules need not import ``resources``."""

from __future__ import annotations

MIB = 1024 * 1024
GIB = 1024 * MIB


def gib(n_bytes: int) -> str:
    return f"{n_bytes / GIB:.1f} GiB"


def mib(n_bytes: int) -> str:
    return f"{n_bytes / MIB:.0f} MiB"
