"""How policies write amounts in their reasons (binary units, as nvidia-smi and psutil count)."""

from __future__ import annotations

from backprop_core import gib as gib
from backprop_core import mib as mib


def number(value: float) -> str:
    """``4.0`` → ``4``, ``0.25`` → ``0.25``: settings as the user wrote them."""
    return f"{value:g}"
