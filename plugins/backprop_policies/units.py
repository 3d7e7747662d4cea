"""How policies write amounts in their reasons (binary units, as nvidia-smi and psutil count)."""

from __future__ import annotations

from backprop_core.units import GIB, MIB


def gib(n_bytes: int) -> str:
    return f"{n_bytes / GIB:.1f} GiB"


def mib(n_bytes: int) -> str:
    return f"{n_bytes / MIB:.0f} MiB"


def number(value: float) -> str:
    """``4.0`` → ``4``, ``0.25`` → ``0.25``: settings as the user wrote them."""
    return f"{value:g}"
