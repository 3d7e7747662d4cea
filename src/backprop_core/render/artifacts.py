"""Artifact versions as plain JSON and as table cells, for ``artifacts list/show``, ``show``
and the viewer (strict JSON: metadata's non-finite numbers become strings)."""

from __future__ import annotations

from typing import Any

from backprop_core.artifacts.records import ArtifactUse, ArtifactVersion, use_to_dict
from backprop_core.artifacts.records import version_to_dict as _to_dict
from backprop_core.store.records import json_safe


def human_size(size: int) -> str:
    """``512 B``, ``12.3 kB``, ``1.2 GB`` (powers of 1000, as ``du -h --si`` prints them)."""
    amount = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{size} B"  # pragma: no cover - the loop always returns


def short_digest(digest: str) -> str:
    """``sha256:1a2b3c4d5e6f`` — enough to tell contents apart in a table."""
    return digest[:19]


def version_view(version: ArtifactVersion) -> dict[str, Any]:
    data = _to_dict(version)
    data["label"] = version.label
    return json_safe(data)


def use_view(use: ArtifactUse) -> dict[str, Any]:
    data = use_to_dict(use)
    data["label"] = use.label
    return data
