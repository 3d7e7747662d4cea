"""Run marks: what tells ``pull`` that a run is unchanged without decoding its record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from backprop_core.store.records import RunStatus


class RunMark(NamedTuple):
    """What ``Store.run_marks`` gives for each run (``pull`` answers a no-change pull of a
    thousand runs with these alone; a tuple, made several times faster than a frozen
    dataclass)."""

    id: str
    status: RunStatus
    #: The run's highest event seq, as ``Store.last_event_seq``.
    event_seq: int
    #: Its sessions' numbers, in order.
    sessions: tuple[int, ...]
    #: Changes whenever the run's record or one of its sessions changes; equal texts mean
    #: nothing changed. Only compared, never read: each store picks its own form (the stored
    #: text, where it keeps one).
    mark: str


def marks_from_rows(
    runs: Iterable[tuple[str, str, int, str]], sessions: Iterable[tuple[str, int, str]]
) -> list[RunMark]:
    """Marks from stored text: ``runs`` as ``(id, status, event seq, record text)`` in the
    order to return, ``sessions`` as ``(run id, number, record text)`` ordered by run and
    number. A mark is the run's text and its sessions' texts, joined."""
    texts: dict[str, list[str]] = {}
    numbers: dict[str, list[int]] = {}
    for run_id, number, text in sessions:
        texts.setdefault(run_id, []).append(text)
        numbers.setdefault(run_id, []).append(number)
    return [
        RunMark(
            run_id,
            RunStatus(status),
            int(seq),
            tuple(numbers.get(run_id, ())),
            "\x1e".join([text, *texts.get(run_id, ())]),
        )
        for run_id, status, seq, text in runs
    ]
