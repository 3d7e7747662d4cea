"""What the person at the terminal sees while a run is supervised.

On a terminal (stderr is a TTY) a single status line sits under the script's output: elapsed and
remaining time, step and progress, the last metrics and the GPU state. Before any output is
teed, the line is cleared, and it is redrawn on the next tick, but only while the script's
output ends with a complete line: a progress bar redrawing its line with ``\r`` owns the
cursor's line until its newline, and the status line waits rather than draw over it. Off a
terminal, backprop prints plain ``backprop: ...`` lines only when something happens (start,
pause, stop, end).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import TextIO

from backprop_core.admission.resources import Snapshot
from backprop_core.render.terminal import terminal_text
from backprop_core.units import MIB


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def format_value(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"


class Display:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        # Shared with the output tee, so a status line never lands inside a child's line.
        self.lock = threading.Lock()
        try:
            self.live = self.stream.isatty()
        except (AttributeError, ValueError):
            self.live = False
        self._shown = False
        self._last_draw = 0.0
        self._mid_line = False  # the script's output on the terminal ends inside a line

    def message(self, text: str) -> None:
        """A line that stays: clears the status line first on a terminal."""
        with self.lock:
            self._clear_locked()
            # Below a progress bar that is still drawing, not glued to it.
            start = "\n" if self._mid_line else ""
            self._mid_line = False
            try:
                self.stream.write(f"{start}backprop: {terminal_text(text)}\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def clear_for_output(self) -> None:
        """Called with the tee lock held before child output is written."""
        self._clear_locked()

    def output_written(self, ends_line: bool) -> None:
        """Called with the tee lock held after child output was written."""
        self._mid_line = not ends_line

    def _clear_locked(self) -> None:
        if self._shown:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._shown = False

    def status(self, text: str) -> None:
        """Redraw the live status line (terminal only, at most a few times a second)."""
        if not self.live:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.5:
            return
        self._last_draw = now
        with self.lock:
            if self._mid_line:
                return  # a progress bar is drawing on this line: keep out of its way
            try:
                import shutil

                width = shutil.get_terminal_size((120, 20)).columns
                self.stream.write("\r\x1b[K" + terminal_text(text)[: max(10, width - 1)])
                self.stream.flush()
                self._shown = True
            except (OSError, ValueError):
                pass

    def finish(self) -> None:
        with self.lock:
            self._clear_locked()


def status_text(
    *,
    elapsed: float,
    remaining: float | None,
    paused: str | None,
    step: int | None,
    total: int | None,
    metrics: dict[str, float],
    snapshot: Snapshot | None,
    gpus: tuple[int, ...],
) -> str:
    parts = [f"⏱ {format_duration(elapsed)}"]
    if remaining is not None:
        parts[0] += f" (left {format_duration(remaining)})"
    if paused:
        parts.append(f"PAUSED: {paused}")
    if step is not None:
        parts.append(f"step {step}" + (f"/{total} ({100 * step / total:.0f}%)" if total else ""))
    if metrics:
        shown = list(metrics.items())[:3]
        parts.append(" ".join(f"{k}={format_value(v)}" for k, v in shown))
    if snapshot is not None:
        for index in gpus:
            g = snapshot.gpu(index)
            if g is None:
                continue
            gpu = f"GPU{index}"
            if g.memory_used_bytes is not None and g.memory_total_bytes:
                gpu += f" {g.memory_used_bytes // MIB}/{g.memory_total_bytes // MIB} MiB"
            if g.temperature_c is not None:
                gpu += f" {g.temperature_c:.0f}°C"
            parts.append(gpu)
    return " │ ".join(parts)
