"""When a session starts stopping on its own, whichever comes first: the time box (active
time, pauses excluded), the wall-clock time a scheduler's job must be stopping by (its time
limit less the margin, ``LaunchSpec.stop_by``), or the scheduler's warning signal (SIGXCPU,
``signals.DEADLINE_SIGNAL``)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """A session's own deadline: its time box (``box_seconds``, ``None`` for none) and the
    wall-clock time a scheduler's job must be stopping by (``stop_by``), if any."""

    box_seconds: float | None
    box_minutes: float
    stop_by: float | None = None

    def due(self, active: float, warned: bool) -> str | None:
        """Why the session must start stopping now, or ``None``."""
        if warned:
            return "the scheduler's time limit is near (its warning signal arrived)"
        if self.stop_by is not None and time.time() >= self.stop_by:
            return "the job's time limit is near"
        if self.box_seconds is not None and active >= self.box_seconds:
            return f"time box of {self.box_minutes:g} min reached"
        return None

    def seconds_left(self, active: float, paused: bool) -> float:
        """Until ``due`` turns true with no signal: paused time does not count on the box."""
        left = math.inf
        if self.box_seconds is not None and not paused:
            left = self.box_seconds - active
        if self.stop_by is not None:
            left = min(left, self.stop_by - time.time())
        return left
