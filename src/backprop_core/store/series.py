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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from backprop_core.store.records import MetricSeries

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


def series_from_points(
    key: str,
    points: Sequence[Point],
    max_points: int | None,
    *,
    after_step: int | None = None,
    total: int | None = None,
) -> MetricSeries:
    """``key``'s series from its points in arrival order: only those past ``after_step``
    (renumbered from 0), downsampled to ``max_points``. ``total`` defaults to how many points
    that leaves before downsampling."""
    if after_step is not None:
        wanted = [p for p in points if p[1] is not None and p[1] > after_step]
        points = [(n, p[1], p[2], p[3]) for n, p in enumerate(wanted)]
    kept = downsample(points, max_points) if max_points else points
    return MetricSeries(
        key=key,
        steps=[p[1] for p in kept],
        times=[p[2] for p in kept],
        values=[p[3] for p in kept],
        total=len(points) if total is None else total,
    )
