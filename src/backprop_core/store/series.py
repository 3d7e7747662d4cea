"""Min/max-preserving downsampling of metric series, shared by every store.

A series of ``n`` points in arrival order is cut into equal runs of consecutive points
(buckets, by index). Each bucket keeps at most two points, in their original order:

- its lowest and highest value, where ``-Inf`` < every finite value < ``+Inf``;
- if the bucket holds a NaN, its first NaN always survives, taking the place of the lowest
  point unless that one is ``-Inf`` (then it takes the place of the highest).

The first and last points of the series are always kept. So a series of any length comes back
with at most ``max_points`` points, and a single spike (large, NaN or infinite) anywhere is
never averaged or sampled away. The SQLite store computes each bucket's finite min and max in
SQL and calls ``pick`` here; the pure-Python ``downsample`` calls the same ``pick``, so both
stores return identical series.

Superseded points (``supersede_cutoffs``) are left out before downsampling, the same way in
both stores: a resumed session that starts over at step 500 after its predecessor reached 545
hides that predecessor's points 501 to 545 unless all sessions are asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from backprop_core.store.records import MetricSeries, SessionRecord

#: (index in the series, step, time, value)
Point = tuple[int, "int | None", float, float]


@dataclass(frozen=True)
class Plan:
    """How a series of ``total`` points is bucketed for ``max_points``."""

    total: int
    bucket_size: int

    @property
    def buckets(self) -> int:
        return -(-self.total // self.bucket_size)


#: Buckets larger than this are whole multiples of it, so that a store may precompute the
#: min and max of each run of ``TILE`` points (the SQLite store does) and combine those.
TILE = 64


def plan(total: int, max_points: int) -> Plan | None:
    """The bucketing for ``total`` points, or ``None`` when no downsampling is needed."""
    if max_points <= 0 or total <= max_points:
        return None
    buckets = max(1, (max_points - 2) // 2)
    size = max(1, -(-total // buckets))
    if size > TILE:
        size = -(-size // TILE) * TILE
    return Plan(total, size)


def pick(lowest: Point | None, highest: Point | None, nan: Point | None) -> list[Point]:
    """The points one bucket keeps (see the module docstring), in series order.

    ``lowest``/``highest`` are the bucket's extremes among non-NaN values (±Inf included);
    ``nan`` is its first NaN point, if any.
    """
    kept: dict[int, Point] = {}
    if nan is not None:
        kept[nan[0]] = nan
        other = highest if lowest is not None and lowest[3] == -math.inf else lowest
        if other is None:
            other = highest
        if other is not None:
            kept[other[0]] = other
    else:
        for p in (lowest, highest):
            if p is not None:
                kept[p[0]] = p
    return [kept[i] for i in sorted(kept)]


def downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    """Downsample ``points`` (in series order, index = position) to at most ``max_points``."""
    p = plan(len(points), max_points)
    if p is None:
        return list(points)
    if max_points <= 2:
        return [points[0], points[-1]][:max_points]
    out: dict[int, Point] = {0: points[0], len(points) - 1: points[-1]}
    size = p.bucket_size
    for start in range(0, len(points), size):
        chunk = points[start : start + size]
        lowest: Point | None = None
        highest: Point | None = None
        nan: Point | None = None
        for point in chunk:
            v = point[3]
            if v != v:
                if nan is None:
                    nan = point
                continue
            if lowest is None or v < lowest[3]:
                lowest = point
            if highest is None or v > highest[3]:
                highest = point
        for kept in pick(lowest, highest, nan):
            out[kept[0]] = kept
    result = [out[i] for i in sorted(out)]
    return _cap(result, max_points)


def _cap(points: list[Point], max_points: int) -> list[Point]:
    # plan() reserves two slots for the first and last points, so this only guards tiny caps.
    if len(points) <= max_points:
        return points
    middle = points[1:-1][: max_points - 2]
    return [points[0], *middle, points[-1]]


def session_boundary(session: SessionRecord) -> int | None:
    """The step from which ``session`` supersedes the points of earlier sessions: the first
    step it logged, or the step after its resume checkpoint's if that is lower. ``None`` until
    it has logged a step: a session that logs nothing hides nothing."""
    if session.first_step is None:
        return None
    if session.resumed_step is not None:
        return min(session.first_step, session.resumed_step + 1)
    return session.first_step


def supersede_cutoffs(sessions: Iterable[SessionRecord]) -> dict[int, int]:
    """Session number → the step from which its points are superseded by a later session.

    A point of session ``s`` at step ``k`` is superseded when a later session's boundary is at
    or before ``k``: when session 2 resumes at step 500 after session 1 reached 545, session
    1's points 501 to 545 are superseded (kept, but left out of charts and last values).
    """
    out: dict[int, int] = {}
    cut: int | None = None
    for session in sorted(sessions, key=lambda s: s.number, reverse=True):
        if cut is not None:
            out[session.number] = cut
        boundary = session_boundary(session)
        if boundary is not None:
            cut = boundary if cut is None else min(cut, boundary)
    return out


def is_visible(step: int | None, session: int | None, cutoffs: Mapping[int, int]) -> bool:
    """Whether a point is shown by default: no step or no session means never superseded."""
    if step is None or session is None:
        return True
    cut = cutoffs.get(session)
    return cut is None or step < cut


def expand_sessions(segments: Sequence[tuple[int, int | None]]) -> list[int | None]:
    """Run-length ``(count, session)`` segments as one session per point."""
    out: list[int | None] = []
    for count, session in segments:
        out.extend([session] * count)
    return out


def series_from_points(
    key: str,
    points: Sequence[Point],
    max_points: int | None,
    *,
    after_step: int | None = None,
    total: int | None = None,
    sessions: Sequence[int | None] | None = None,
    cutoffs: Mapping[int, int] | None = None,
) -> MetricSeries:
    """``key``'s series from its points in arrival order: only those past ``after_step`` and,
    with ``cutoffs``, not superseded (see ``supersede_cutoffs``), renumbered from 0 and
    downsampled to ``max_points``. ``sessions[i]`` is the session of ``points[i]``. ``total``
    defaults to how many points that leaves before downsampling."""
    owners: Sequence[int | None] = sessions if sessions is not None else [None] * len(points)
    if after_step is not None or cutoffs:
        wanted = [
            (p, owner)
            for p, owner in zip(points, owners)
            if (after_step is None or (p[1] is not None and p[1] > after_step))
            and (not cutoffs or is_visible(p[1], owner, cutoffs))
        ]
        points = [(n, p[1], p[2], p[3]) for n, (p, _) in enumerate(wanted)]
        owners = [owner for _, owner in wanted]
    kept = downsample(points, max_points) if max_points else points
    return MetricSeries(
        key=key,
        steps=[p[1] for p in kept],
        times=[p[2] for p in kept],
        values=[p[3] for p in kept],
        total=len(points) if total is None else total,
        sessions=[owners[p[0]] for p in kept],
    )


def last_visible(
    points: Iterable[tuple[int | None, float, int | None]], cutoffs: Mapping[int, int]
) -> float | None:
    """The value of the newest visible point among ``points`` ((step, value, session), newest
    first), or ``None`` when every one is superseded."""
    for step, value, session in points:
        if is_visible(step, session, cutoffs):
            return value
    return None
