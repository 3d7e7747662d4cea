"""What the JSON store derives from its events beyond ``digest``'s batch: metric series, the
sessions' steps and superseded points, and ``params`` for runs recorded before there were any."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from backprop_core import Event, MetricSeries, RunRecord
from backprop_core.plugin_kit import (
    Digest,
    digest,
    expand_sessions,
    initial_params,
    last_visible,
    series_from_points,
    session_from_dict,
    session_to_dict,
    supersede_cutoffs,
)


def upgrade(index: dict[str, Any]) -> dict[str, Any]:
    """Runs recorded before runs had ``params`` get them from their arguments (and the
    ``config`` older SDKs kept in the summary); the next write keeps them."""
    for run in index.get("runs", {}).values():
        if isinstance(run, dict) and "params" not in run:
            argv = run.get("argv")
            summary = run.get("summary")
            run["params"] = initial_params(
                [str(a) for a in argv] if isinstance(argv, list) else [],
                summary if isinstance(summary, dict) else {},
            )
    return index


def series_of(
    found: Digest,
    key: str,
    max_points: int | None,
    after_step: int | None,
    cutoffs: Mapping[int, int] | None,
) -> MetricSeries:
    """``key``'s series from every metrics event of a run, digested."""
    steps, times, values = found.columns.get(key, ([], [], []))
    return series_from_points(
        key,
        list(zip(range(len(values)), steps, times, values)),
        max_points,
        after_step=after_step,
        sessions=expand_sessions(found.segments.get(key, [])),
        cutoffs=cutoffs,
    )


def fold_sessions(
    raw: list[dict[str, Any]],
    run: RunRecord,
    found: Digest,
    events: Callable[[], Iterable[Event]],
) -> list[dict[str, Any]] | None:
    """Fold a batch's steps into the run's stored sessions (``raw``); after a session's first
    step, read the run's last values anew from ``events`` (every metrics event, this batch's
    included). The sessions to store, or ``None`` when none changed."""
    sessions = {s["number"]: session_from_dict(s) for s in raw}
    changed, started = found.apply_sessions(sessions)
    if started:
        cutoffs = supersede_cutoffs(sessions.values())
        every = digest(run.id, events())

        def newest_visible(key: str) -> float | None:
            steps, _, values = every.columns.get(key, ([], [], []))
            owners = expand_sessions(every.segments.get(key, []))
            return last_visible(zip(reversed(steps), reversed(values), reversed(owners)), cutoffs)

        found.refresh_last(run, newest_visible)
    if not changed:
        return None
    return [session_to_dict(sessions[s["number"]]) for s in raw]
