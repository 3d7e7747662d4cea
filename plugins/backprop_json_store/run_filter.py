"""Whether a run's record (as the index holds it) passes a ``RunFilter``: what ``list_runs``
and ``count_runs`` select."""

from __future__ import annotations

import fnmatch
from typing import Any

from backprop_core import RunFilter


def matches(run: dict[str, Any], flt: RunFilter) -> bool:
    """``True`` when ``run`` passes every condition of ``flt`` (limit and offset aside)."""
    if flt.statuses is not None and run["status"] not in {s.value for s in flt.statuses}:
        return False
    if flt.name is not None and not (
        run.get("name") is not None and fnmatch.fnmatchcase(run["name"], flt.name)
    ):
        return False
    if flt.origin is not None and (run.get("origin") or "") != flt.origin:
        return False
    tags = run.get("tags") or {}
    if not all(tags.get(k) == v for k, v in flt.tags):
        return False
    params = run.get("params") or {}
    return all(cond.matches_params(params) for cond in flt.params)
