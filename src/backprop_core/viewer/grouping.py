"""Which metrics share a chart on the run page (docs/viewer.md, "Charts").

The script's metrics that differ only by a split name share one chart: a split is ``train``,
``training``, ``val``, ``valid``, ``validation``, ``eval`` or ``test``, as a leading or trailing
part joined by ``/``, ``_``, ``.`` or ``-``. So ``loss`` and ``val_loss`` share the chart
``loss``; ``train/acc`` and ``eval/acc`` share ``acc``; ``train_loss``, ``val_loss`` and
``loss_test`` share ``loss``. A metric with no sibling keeps a chart of its own.

Sampled system metrics (``sys/…``) come after the script's, as their own section; the same
measure of several GPUs shares a chart (``sys/gpu0/util_pct`` and ``sys/gpu1/util_pct`` share
``sys/gpu*/util_pct``). Grouping is on by default; the page can show one chart per metric.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from backprop_core.store.records import SYSTEM_PREFIX, is_system_metric

_SPLIT = "train|training|val|valid|validation|eval|test"
_LEADING = re.compile(rf"^(?:{_SPLIT})[/_.\-](?P<rest>.+)$")
_TRAILING = re.compile(rf"^(?P<rest>.+)[/_.\-](?:{_SPLIT})$")
_GPU = re.compile(rf"^{re.escape(SYSTEM_PREFIX)}gpu\d+/")


def family(key: str) -> str:
    """The name ``key`` shares with its train/validation/test siblings."""
    if is_system_metric(key):
        return _GPU.sub(f"{SYSTEM_PREFIX}gpu*/", key)
    for pattern in (_LEADING, _TRAILING):
        found = pattern.match(key)
        if found:
            return found.group("rest")
    return key


def chart_groups(keys: Iterable[str]) -> list[dict[str, Any]]:
    """The charts for ``keys``: ``{"title", "keys", "system"}``, the script's metrics first
    (in the order given), then the system ones."""
    families: dict[str, list[str]] = {}
    for key in keys:
        families.setdefault(family(key), []).append(key)
    charts = []
    for name, members in families.items():
        if len(members) == 1:
            name = members[0]
        charts.append({"title": name, "keys": members, "system": is_system_metric(members[0])})
    return sorted(charts, key=lambda c: c["system"])
