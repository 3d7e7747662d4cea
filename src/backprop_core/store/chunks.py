"""Metric points in packed chunks and 64-point tiles, for stores that keep them in a database
(the SQLite and PostgreSQL stores).

A chunk is a run of consecutive points of one series and one session, stored as three packed
arrays: steps as int64 (``NO_STEP`` for a point without one), times and values as IEEE doubles,
so NaN and ±Inf are kept bit for bit. A tile is the first finite min and max of ``TILE``
consecutive points (by index in the series) and where they are; a long series is downsampled
from its tiles plus the few chunks holding non-finite values, and ``combine_tiles`` finishes the
min/max rule of ``backprop_core.store.series`` in Python (where SQL orders NaN and infinities
its own way), so every store returns the same series.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Optional

from backprop_core.store.series import TILE, Point, pick

NO_STEP = -(2**63)  # how a point without a step is stored in a packed steps array
CHUNK_POINTS = 16_384  # at most this many points per stored chunk
_INF = math.inf

#: One tile as stored: (lo, lo_idx, lo_step, lo_time, hi, hi_idx, hi_step, hi_time); the
#: first four are ``None`` when the tile holds no finite value.
TileRow = tuple[
    Optional[float],
    Optional[int],
    Optional[int],
    Optional[float],
    Optional[float],
    Optional[int],
    Optional[int],
    Optional[float],
]


def pack(steps: Sequence[int], times: Sequence[float], vals: Sequence[float]) -> tuple[bytes, ...]:
    """The three packed arrays of a chunk (``steps`` already use ``NO_STEP``): the bytes of
    ``array("q", steps)`` and ``array("d", …)``, which ``struct`` makes in half the time."""
    n = len(vals)
    return (
        struct.pack(f"={n}q", *steps),
        struct.pack(f"={n}d", *times),
        struct.pack(f"={n}d", *vals),
    )


def unpack(
    start: int, n: int, steps_b: bytes, times_b: bytes, vals_b: bytes
) -> tuple[range, list[int | None], list[float], list[float]]:
    """A chunk's indexes, steps (``None`` for none), times and values."""
    steps = array("q")
    steps.frombytes(steps_b)
    times = array("d")
    times.frombytes(times_b)
    vals = array("d")
    vals.frombytes(vals_b)
    step_list: list[int | None] = (
        [None if s == NO_STEP else s for s in steps] if NO_STEP in steps else list(steps)
    )
    return range(start, start + n), step_list, times.tolist(), vals.tolist()


def chunk_points(
    rows: Iterable[tuple[int, int, bytes, bytes, bytes, int | None]],
) -> tuple[list[Point], list[int | None]]:
    """The points of chunks given as (start, n, steps, times, vals, session) and, for each
    point, its session."""
    out: list[Point] = []
    owners: list[int | None] = []
    for start, n, steps_b, times_b, vals_b, session in rows:
        idx, steps, times, vals = unpack(start, n, bytes(steps_b), bytes(times_b), bytes(vals_b))
        out.extend(zip(idx, steps, times, vals))
        owners.extend([session] * len(idx))
    return out, owners


def chunk_facts(steps: Sequence[int], vals: Sequence[float]) -> tuple[int | None, int | None, bool]:
    """A chunk's largest and smallest step (``None`` when a point has none for the smallest,
    or no point has one for the largest) and whether it holds a non-finite value."""
    total = sum(vals)  # finite unless some value is NaN/±Inf (or the sum overflows)
    non_finite = not math.isfinite(total) and any(not math.isfinite(v) for v in vals)
    max_step = max(steps)
    min_step = min(steps)  # NO_STEP when a point has no step: such a chunk is never all hidden
    return (
        None if max_step == NO_STEP else max_step,
        None if min_step == NO_STEP else min_step,
        non_finite,
    )


def _step(raw: int) -> int | None:
    return None if raw == NO_STEP else raw


def _extremes_of(
    a: int, steps: Sequence[int], times: Sequence[float], vals: Sequence[float], b: int, base: int
) -> tuple[Point, Point] | None:
    """First finite min and max of ``vals[a:b]`` as points (index ``base + i``)."""
    seg = vals[a:b]
    if math.isfinite(sum(seg)):  # the common case, at C speed
        lo = min(seg)
        hi = max(seg)
        li = a + seg.index(lo)
        hx = a + seg.index(hi)
    else:
        li = hx = -1
        for i in range(a, b):
            v = vals[i]
            if not math.isfinite(v):
                continue
            if li < 0 or v < vals[li]:
                li = i
            if hx < 0 or v > vals[hx]:
                hx = i
        if li < 0:
            return None
    return (
        (base + li, _step(steps[li]), times[li], vals[li]),
        (base + hx, _step(steps[hx]), times[hx], vals[hx]),
    )


def tile_rows(
    start: int,
    steps: Sequence[int],
    times: Sequence[float],
    vals: Sequence[float],
    first_tile: TileRow | None,
) -> list[tuple[int, TileRow]]:
    """The tiles that new points (indexes ``start``…) fill, as (tile number, row).
    ``first_tile`` is the stored row of the tile the first new point falls in, when earlier
    points already partly filled it (its earlier points win ties)."""
    end = start + len(vals)
    out: list[tuple[int, TileRow]] = []
    for tile in range(start // TILE, (end - 1) // TILE + 1):
        a = max(tile * TILE, start) - start
        b = min((tile + 1) * TILE, end) - start
        lo, hi = _extremes_of(a, steps, times, vals, b, start) or (None, None)
        if a == 0 and start % TILE and first_tile is not None and first_tile[0] is not None:
            row = first_tile
            old_lo: Point = (row[1], row[2], row[3], row[0])  # type: ignore[assignment]
            old_hi: Point = (row[5], row[6], row[7], row[4])  # type: ignore[assignment]
            lo = old_lo if lo is None or not lo[3] < old_lo[3] else lo
            hi = old_hi if hi is None or not hi[3] > old_hi[3] else hi
        out.append((tile, (*_half(lo), *_half(hi))))  # type: ignore[arg-type]
    return out


def _half(point: Point | None) -> tuple[object, ...]:
    if point is None:
        return (None, None, None, None)
    return (point[3], point[0], point[1], point[2])


def combine_tiles(
    lows: Mapping[int, Point],
    highs: Mapping[int, Point],
    non_finite: Iterable[Point],
    edges: Iterable[Point],
    size: int,
) -> list[Point]:
    """The points a downsampled series keeps, in order: ``lows``/``highs`` are each bucket's
    first finite min and max (bucket = index // ``size``), ``non_finite`` the points of the
    chunks holding NaN or ±Inf, ``edges`` the first and last points."""
    lows = dict(lows)
    highs = dict(highs)
    nans: dict[int, Point] = {}
    for point in non_finite:
        v = point[3]
        if math.isfinite(v):
            continue
        b = point[0] // size
        if v != v:
            nans.setdefault(b, point)
            continue
        if v == _INF:
            if b not in highs or highs[b][3] != _INF:
                highs[b] = point
            lows.setdefault(b, point)
        else:
            if b not in lows or lows[b][3] != -_INF:
                lows[b] = point
            highs.setdefault(b, point)
    out: dict[int, Point] = {p[0]: p for p in edges}
    for b in set(lows) | set(highs) | set(nans):
        for point in pick(lows.get(b), highs.get(b), nans.get(b)):
            out[point[0]] = point
    return [out[i] for i in sorted(out)]
