"""Which checkpoints of a run ``gc`` keeps (``checkpoints.keep``; docs/artifacts.md,
"Checkpoint retention"): the newest ``last``, every one announced as ``best``, the best one by
a metric, and every one another run started from. The rest are pruned, through the ownership
rules of ``store.ownership`` (deleted only when backprop can prove the run made them).
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from backprop_core.events.file_identity import announced_path
from backprop_core.settings.model import KeepPolicy
from backprop_core.store.contract import Store
from backprop_core.store.records import CheckpointRecord, RunRecord, SessionRecord


@dataclass(frozen=True)
class Retention:
    """A run's checkpoints beyond its newest ``last``: those pruned, and those kept anyway
    with the reason."""

    prune: list[CheckpointRecord]
    kept: list[tuple[CheckpointRecord, str]]


def policy_for(run: RunRecord, today: KeepPolicy, flags: Mapping[str, Any]) -> KeepPolicy:
    """The run's own ``checkpoints.keep`` where it differs from the defaults (given when it
    started), over ``today``'s; ``gc``'s flags (``last``, ``best``) over both."""
    from backprop_core.settings.resolve import stored_overrides

    recorded = run.settings.get("checkpoints")
    own = stored_overrides({"checkpoints": recorded}) if isinstance(recorded, Mapping) else {}
    keep = own.get("checkpoints", {}).get("keep", {})
    keep = dict(keep) if isinstance(keep, Mapping) else {}
    merged = {
        "last": today.last,
        "best": {"metric": today.best_metric, "mode": today.best_mode}
        if today.best_metric
        else None,
        **keep,
        **{k: v for k, v in flags.items() if v is not None},
    }
    return KeepPolicy.from_config(merged)


def started_from(runs: Iterable[tuple[RunRecord, list[SessionRecord]]]) -> dict[str, str]:
    """Real path of each checkpoint a session started from → the run that did."""
    out: dict[str, str] = {}
    for run, sessions in runs:
        for session in sessions:
            if session.resumed_from:
                try:
                    real = os.path.realpath(announced_path(session.resumed_from, run.cwd))
                except (OSError, ValueError):
                    continue
                out.setdefault(real, run.id)
    return out


def value_at(
    steps: list[int | None], times: list[float], values: list[float], c: CheckpointRecord
) -> float | None:
    """The metric as it stood when ``c`` was saved: the last value logged at or before its
    step (and not after it was announced); by time alone for a checkpoint without a step."""
    end = bisect.bisect_right(times, c.time)  # points arrive in time order
    for i in range(end - 1, -1, -1):
        step = steps[i]
        if c.step is None or (step is not None and step <= c.step):
            value = values[i]
            return value if math.isfinite(value) else None
    return None


def best_checkpoint(
    store: Store, run: RunRecord, checkpoints: list[CheckpointRecord], policy: KeepPolicy
) -> tuple[CheckpointRecord, float] | None:
    """The checkpoint with the best ``policy.best_metric`` (ties: the newest), and its value."""
    metric = policy.best_metric
    if metric is None or not checkpoints:
        return None
    series = None
    best: tuple[CheckpointRecord, float] | None = None
    for c in sorted(checkpoints, key=lambda c: c.time):
        value = c.metrics.get(metric)
        if value is None or not math.isfinite(value):
            if series is None:
                series = store.metric_series(run.id, metric)
            value = value_at(series.steps, series.times, series.values, c)
        if value is None:
            continue
        better = best is None or (
            value <= best[1] if policy.best_mode == "min" else value >= best[1]
        )
        if better:
            best = (c, value)
    return best


def plan(
    store: Store,
    run: RunRecord,
    checkpoints: list[CheckpointRecord],
    policy: KeepPolicy,
    inputs: Mapping[str, str],
) -> Retention:
    """What ``gc`` does with ``run``'s checkpoints under ``policy``; ``inputs`` from
    ``started_from`` (a checkpoint another run started from is kept)."""
    newest_first = sorted(enumerate(checkpoints), key=lambda ic: (ic[1].time, ic[0]), reverse=True)
    beyond = [c for i, (_, c) in enumerate(newest_first) if i >= policy.last]
    best = best_checkpoint(store, run, checkpoints, policy)
    prune: list[CheckpointRecord] = []
    kept: list[tuple[CheckpointRecord, str]] = []
    for c in beyond:
        reason = None
        if c.best:
            reason = "announced as best"
        elif best is not None and c is best[0]:
            reason = f"the best {policy.best_metric} of the run ({best[1]:.6g})"
        else:
            try:
                user = inputs.get(os.path.realpath(announced_path(c.path, run.cwd)))
            except (OSError, ValueError):
                user = None
            if user is not None and user != run.id:
                reason = f"run {user} started from it"
        if reason is None:
            prune.append(c)
        else:
            kept.append((c, reason))
    return Retention(prune, kept)
