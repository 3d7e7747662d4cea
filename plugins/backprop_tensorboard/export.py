"""``backprop export RUN... --format tensorboard -o DIR``: TensorBoard event files.

Each run gets a folder, ``DIR/<name>-<id>`` (``DIR/<id>`` without a name), with one event file
per session. TensorBoard must never see a step go backwards within a folder — its loaders drop
or purge such points — so a session that goes back to steps already written (a resumed run that
repeats steps) starts a subfolder, ``session-N``, which TensorBoard shows as a run of its own;
a session that goes back again within itself starts ``session-N-part-M``. Every tag = a metric
key; steps and wall times are kept; a point without a step gets its position in its series. A
``backprop-run.json`` beside the event files names the run and each file's session, so
``backprop import DIR`` puts them back together.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import ClassVar

from backprop_core import Exporter, RunRecord, Store, UsageError
from backprop_core.plugin_kit import SessionClock, json_safe, run_to_dict, session_to_dict
from backprop_tensorboard.event_file import RecordWriter, protos
from backprop_tensorboard.scalars import ScalarEncoder

SIDECAR = "backprop-run.json"
SIDECAR_FORMAT = "backprop-tensorboard-export"


@dataclass
class Part:
    """Points of one session that can share a folder: per tag, steps never go backwards."""

    session: int
    number: int  # 0 for the session's first part
    columns: dict[str, tuple[list[int], list[float], list[float]]] = field(default_factory=dict)

    def min_step(self) -> int:
        return min(steps[0] for steps, _, _ in self.columns.values())

    def max_step(self) -> int:
        return max(steps[-1] for steps, _, _ in self.columns.values())

    def first_time(self) -> float:
        return min(times[0] for _, times, _ in self.columns.values())


def run_folder_name(run: RunRecord) -> str:
    if not run.name:
        return run.id
    clean = re.sub(r"[^\w.-]+", "_", run.name).strip("._")[:60]
    return f"{clean}-{run.id}" if clean else run.id


def split_parts(store: Store, run: RunRecord, all_sessions: bool = False) -> list[Part]:
    """The run's points by session (from their times) and, within a session, by the points
    where a tag's step goes backwards; points a later session superseded only with
    ``all_sessions`` (``export --all-sessions``)."""
    sessions = store.sessions(run.id)
    clock = SessionClock(sessions)
    starts = sorted(s.started_at for s in sessions)
    parts: dict[tuple[int, int], Part] = {}

    def add(
        session: int, number: int, key: str, s: list[int], t: list[float], v: list[float]
    ) -> None:
        part = parts.get((session, number))
        if part is None:
            part = parts[(session, number)] = Part(session, number)
        columns = part.columns.setdefault(key, ([], [], []))
        columns[0].extend(s)
        columns[1].extend(t)
        columns[2].extend(v)

    for key in store.metric_keys(run.id):
        series = store.metric_series(run.id, key, all_sessions=all_sessions)
        steps = [i if step is None else step for i, step in enumerate(series.steps)]
        times, values = series.times, series.values
        for a, b in _session_ranges(times, starts):
            session = clock.session_at(times[a])
            if b - a > 1 and steps[a:b] == sorted(steps[a:b]):  # the usual case, at C speed
                add(session, 0, key, steps[a:b], times[a:b], values[a:b])
                continue
            number, previous = 0, None
            for i in range(a, b):
                if previous is not None and steps[i] < previous:
                    number += 1
                previous = steps[i]
                add(session, number, key, [steps[i]], [times[i]], [values[i]])
    return [parts[k] for k in sorted(parts)]


def _session_ranges(times: list[float], starts: list[float]) -> list[tuple[int, int]]:
    """Index ranges of ``times`` that fall in one session each: cut where a session starts
    when the times are in order, else one point per range."""
    n = len(times)
    if times != sorted(times):
        return [(i, i + 1) for i in range(n)]
    cuts = sorted({0, n, *(bisect.bisect_left(times, start) for start in starts[1:])})
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if a < b]


def folders_for(parts: list[Part]) -> list[str]:
    """The subfolder of each part ("" for the run's folder): a new one only when the part's
    steps would go below what its folder already holds."""
    out: list[str] = []
    current, highest = "", None
    for part in parts:
        if highest is not None and part.min_step() < highest:
            current = f"session-{part.session}"
            if part.number:
                current += f"-part-{part.number + 1}"
            highest = None
        out.append(current)
        highest = part.max_step() if highest is None else max(highest, part.max_step())
    return out


def _records_in_step_order(encoder: ScalarEncoder, part: Part) -> list[bytes]:
    """The part's records, all tags merged so that steps never go backwards (a stable sort:
    each tag keeps its own order)."""
    if len(part.columns) == 1:
        ((key, (steps, times, values)),) = part.columns.items()
        return encoder.points(key, steps, times, values, first=True)
    tagged: list[tuple[int, bytes]] = []
    for key, (steps, times, values) in part.columns.items():
        tagged += zip(steps, encoder.points(key, steps, times, values, first=True))
    tagged.sort(key=itemgetter(0))  # stable, and fast on runs that are already in order
    return [record for _, record in tagged]


class TensorBoardExporter(Exporter):
    """Runs as TensorBoard event files, values exact (64-bit tensors of the scalars plugin)."""

    name: ClassVar[str] = "tensorboard"
    directory: ClassVar[bool] = True

    def export_to(self, store: Store, runs: Sequence[RunRecord], folder: Path) -> list[Path]:
        encoder = ScalarEncoder(protos())
        written = []
        for run in runs:
            target = folder / run_folder_name(run)
            if target.exists():
                raise UsageError(
                    f"{target} already exists",
                    hint="export into an empty folder, or remove that run's folder first",
                )
            partial = folder / f".{target.name}.partial"
            partial.mkdir()
            self._write_run(store, run, partial, encoder)
            os.replace(partial, target)
            written.append(target)
        return written

    def _write_run(
        self, store: Store, run: RunRecord, folder: Path, encoder: ScalarEncoder
    ) -> None:
        parts = split_parts(store, run, self.all_sessions)
        files: dict[str, int] = {}
        for part, sub in zip(parts, folders_for(parts)):
            where = folder / sub if sub else folder
            where.mkdir(exist_ok=True)
            first = part.first_time()
            # TensorBoard reads a folder's files in name order: time, then session.
            name = f"events.out.tfevents.{int(first):010d}.backprop.{part.session:06d}"
            if part.number:
                name += f".{part.number + 1}"
            with open(where / name, "wb") as fh:
                writer = RecordWriter(fh)
                writer.write([encoder.file_version(first)])
                writer.write(_records_in_step_order(encoder, part))
            files[f"{sub}/{name}" if sub else name] = part.session
        sidecar = {
            "format": SIDECAR_FORMAT,
            "run": json_safe(run_to_dict(run)),
            "sessions": json_safe([session_to_dict(s) for s in store.sessions(run.id)]),
            "files": files,
        }
        (folder / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
