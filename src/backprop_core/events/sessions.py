"""Which session logged which metric points, for ``digest``.

It is noted only where the session changes (a batch almost always holds one session), so that
a point costs nothing more: a mark is the length of every key's columns at the change, with
the new session; ``segments`` turns the marks into run-length sessions per key.
"""

from __future__ import annotations

from typing import Any

#: One key's points in columns: steps, times, values.
Columns = tuple["list[int | None]", "list[float]", "list[float]"]
#: Which session logged one key's points, run-length encoded: (count, session), in order.
Segments = list[tuple[int, "int | None"]]
Mark = tuple[dict[str, int], "int | None"]
#: The session before the first point: none yet.
UNSET: Any = object()


def mark(columns: dict[str, Columns], session: int | None) -> Mark:
    return {k: len(c[0]) for k, c in columns.items()}, session


def close_run(
    session_steps: dict[int, list[int]], session: Any, first: int | None, last: int | None
) -> None:
    """Note the first and last step a run of one session's points carried (the first run of a
    session sets its first step; later ones move its last)."""
    if session is UNSET or session is None or first is None or last is None:
        return
    seen = session_steps.get(session)
    if seen is None:
        session_steps[session] = [first, last]
    else:
        seen[1] = last


def segments(columns: dict[str, Columns], marks: list[Mark]) -> dict[str, Segments]:
    out: dict[str, Segments] = {}
    for key, cols in columns.items():
        runs: Segments = []
        for i, (lengths, session) in enumerate(marks):
            start = lengths.get(key, 0)
            end = marks[i + 1][0].get(key, 0) if i + 1 < len(marks) else len(cols[0])
            if end <= start:
                continue
            if runs and runs[-1][1] == session:
                runs[-1] = (runs[-1][0] + end - start, session)
            else:
                runs.append((end - start, session))
        out[key] = runs
    return out
