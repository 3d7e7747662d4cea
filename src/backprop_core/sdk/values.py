"""Turning what a training script logs into plain numbers, fast.

``log`` runs in the training loop, so the common case (every value already a Python ``float``
or ``int``) costs one type check per value; anything else goes through ``coerce_metrics``.
numpy and torch scalars are recognised by duck typing (``.item()``), never by importing them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def coerce_value(key: str, value: Any) -> float | int:
    """``value`` as a Python number, or ``TypeError``/``ValueError`` naming ``key``."""
    kind = type(value)
    if kind is float or kind is int:
        return value
    if kind is bool:
        return int(value)
    if isinstance(value, (int, float)):  # int/float subclasses (numpy.float64 is one)
        return float(value)
    item = getattr(value, "item", None)
    if item is not None:  # numpy scalars, 0-d arrays, 0-d torch tensors
        size = getattr(value, "size", None)
        numel = getattr(value, "numel", None)
        count = numel() if callable(numel) else size
        if isinstance(count, int) and count != 1:
            raise ValueError(
                f"metric {key!r} must be a scalar, got an array/tensor with {count} elements"
                " (log a reduction such as .mean() or one element)"
            )
        try:
            inner = item()
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(
                f"metric {key!r}: cannot read a number from {kind.__name__}: {exc}"
            ) from exc
        if type(inner) is bool:
            return int(inner)
        if isinstance(inner, (int, float)):
            return inner
        raise TypeError(
            f"metric {key!r} must be a number, got {kind.__name__} holding {type(inner).__name__}"
        )
    raise TypeError(
        f"metric {key!r} must be a number (int, float, numpy or torch scalar),"
        f" got {kind.__name__}: {value!r:.60}"
    )


def coerce_metrics(data: Mapping[str, Any]) -> dict[str, float | int]:
    """A copy of ``data`` with every value a Python number; keys must be strings."""
    if not isinstance(data, Mapping):
        raise TypeError(f"metrics must be a dict of name -> number, got {type(data).__name__}")
    out: dict[str, float | int] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise TypeError(f"metric names must be strings, got {key!r}")
        out[key] = coerce_value(key, value)
    return out


def coerce_step(step: Any) -> int:
    """A step as a non-negative ``int`` (accepts numpy/torch integer scalars)."""
    if type(step) is int:
        return step
    item = getattr(step, "item", None)
    value = item() if item is not None else step
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"step must be an integer, got {type(step).__name__}: {step!r:.60}")
    return value


def is_loss_key(key: str) -> bool:
    return "loss" in key.lower()


def non_finite_losses(data: Mapping[str, float | int]) -> list[str]:
    """Names of loss-like metrics in ``data`` whose value is NaN or ±Inf."""
    return [
        k for k, v in data.items() if type(v) is float and not math.isfinite(v) and is_loss_key(k)
    ]
