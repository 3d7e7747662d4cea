"""A run's ``runs/<id>/events.jsonl``: appending a batch of events after the committed bytes
(the index's ``bytes``; whatever a killed writer left past them is cut off first) and reading
the committed ones back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from backprop_core import Event
from backprop_core.plugin_kit import event_to_dict, os_error_to_store_error

EVENTS_NAME = "events.jsonl"


def append_events_file(path: Path, committed: int, first_seq: int, events: Sequence[Event]) -> int:
    """Write ``events`` (numbered from ``first_seq``) after the ``committed`` bytes of the file
    at ``path``, fsynced; how many bytes were written. The caller commits them in the index."""
    lines = [
        json.dumps({"seq": i, **event_to_dict(event)}, default=str)
        for i, event in enumerate(events, start=first_seq)
    ]
    data = ("\n".join(lines) + "\n").encode()
    try:
        with open(path, "ab") as fh:
            fh.truncate(committed)  # drop what a killed writer left uncommitted
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise os_error_to_store_error(exc, "write the run's events") from exc
    return len(data)


def read_events_file(path: Path, committed: int) -> Iterator[dict[str, Any]]:
    """The first ``committed`` bytes of the file at ``path``, one dict per event line."""
    if not committed:
        return
    try:
        with open(path, "rb") as fh:
            raw = fh.read(committed)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise os_error_to_store_error(exc, "read the run's events") from exc
    for line in raw.splitlines():
        if line.strip():
            yield json.loads(line)
