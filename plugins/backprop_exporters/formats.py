"""CSV and JSON exporters."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from typing import IO, Any, ClassVar

from backprop_core import Exporter, RunRecord, Store
from backprop_core.plugin_kit import full_run_view, json_safe


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


class CsvExporter(Exporter):
    """One row per metric point: ``run_id, run_name, key, step, time, value, session``
    (non-finite values written as ``NaN``, ``Infinity``, ``-Infinity``; the session empty when
    unknown)."""

    name: ClassVar[str] = "csv"
    suffix: ClassVar[str] = ".csv"

    def export(self, store: Store, runs: Sequence[RunRecord], out: IO[Any]) -> None:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["run_id", "run_name", "key", "step", "time", "value", "session"])
        for run in runs:
            for key in store.metric_keys(run.id):
                series = store.metric_series(run.id, key, all_sessions=self.all_sessions)
                sessions = series.sessions or [None] * len(series)
                for step, t, value, session in zip(
                    series.steps, series.times, series.values, sessions
                ):
                    writer.writerow(
                        [
                            run.id,
                            run.name or "",
                            key,
                            "" if step is None else step,
                            repr(t),
                            _number(value),
                            "" if session is None else session,
                        ]
                    )


class JsonExporter(Exporter):
    """A JSON array of runs as ``show --json`` prints them, each with a ``metrics`` object:
    ``{key: {"steps": [...], "times": [...], "values": [...], "sessions": [...]}}``."""

    name: ClassVar[str] = "json"
    suffix: ClassVar[str] = ".json"

    def export(self, store: Store, runs: Sequence[RunRecord], out: IO[Any]) -> None:
        data = []
        for run in runs:
            view = full_run_view(store, run, all_sessions=self.all_sessions)
            metrics: dict[str, Any] = {}
            for key in store.metric_keys(run.id):
                s = store.metric_series(run.id, key, all_sessions=self.all_sessions)
                metrics[key] = {
                    "steps": s.steps,
                    "times": s.times,
                    "values": json_safe(s.values),
                    "sessions": s.sessions,
                }
            view["metrics"] = metrics
            data.append(view)
        json.dump(data, out, indent=2, ensure_ascii=False)
        out.write("\n")
