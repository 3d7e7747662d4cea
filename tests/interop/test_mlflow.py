"""MLflow runs, written by the real ``mlflow`` package into a file store and a SQLite tracking
database, import with every value MLflow's own client reads back."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import bits, import_report, open_store

pytest.importorskip("mlflow")

pytestmark = pytest.mark.slow

WRITE = textwrap.dedent(
    """
    import json, math, sys
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri, out = sys.argv[1], sys.argv[2]
    client = MlflowClient(uri)
    exp_a = client.create_experiment("vision")
    exp_b = client.create_experiment("text")
    runs = {}

    big = client.create_run(exp_a, run_name="big", tags={"team": "cv", "mlflow.note.content": "n"})
    rid = big.info.run_id
    client.log_param(rid, "lr", 0.001)
    client.log_param(rid, "optimizer", "adam")
    t0 = 1_790_000_000_000
    special = [math.nan, math.inf, -math.inf, -0.0, 1e300, 5e-324]
    for start in range(0, 3000, 1000):
        points = [
            Metric("train/loss", special[i % 6] if i % 97 == 0 else 1 / (i + 1), t0 + i, i)
            for i in range(start, start + 1000)
        ]
        points += [Metric("lr", 0.1 * 0.999**i, t0 + i, i) for i in range(start, start + 1000, 10)]
        client.log_batch(rid, metrics=points)
    client.log_metric(rid, "far", 1.5, timestamp=t0, step=2**40)
    client.set_terminated(rid, "FINISHED", end_time=t0 + 5000)

    failed = client.create_run(exp_b, run_name="crashed")
    client.log_metric(failed.info.run_id, "loss", 2.0, timestamp=t0, step=0)
    client.set_terminated(failed.info.run_id, "FAILED", end_time=t0 + 10)
    killed = client.create_run(exp_b, run_name="stopped")
    client.set_terminated(killed.info.run_id, "KILLED", end_time=t0 + 20)
    client.create_run(exp_b, run_name="still-running")
    gone = client.create_run(exp_b, run_name="deleted")
    client.delete_run(gone.info.run_id)

    expected = {}
    for exp in (exp_a, exp_b):
        for run in client.search_runs([exp]):
            info = run.info
            expected[info.run_id] = {
                "name": info.run_name,
                "status": info.status,
                "start": info.start_time,
                "end": info.end_time,
                "experiment": client.get_experiment(info.experiment_id).name,
                "params": run.data.params,
                "tags": run.data.tags,
                "metrics": {
                    key: [
                        (m.step, m.timestamp, m.value)
                        for m in client.get_metric_history(info.run_id, key)
                    ]
                    for key in run.data.metrics
                },
            }
    with open(out, "w") as fh:
        json.dump(expected, fh)
    """
)


def write_store(uri: str, out: Path) -> dict[str, Any]:
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_TRACKING_URI": uri}
    result = subprocess.run(
        [sys.executable, "-c", WRITE, uri, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@pytest.fixture(scope="module", params=["file", "sqlite"])
def mlflow_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    base = tmp_path_factory.mktemp(f"mlflow-{request.param}")
    if request.param == "file":
        path = base / "mlruns"
        uri = path.as_uri()
    else:
        path = base / "mlflow.db"
        uri = f"sqlite:///{path}"
    return path, write_store(uri, base / "expected.json")


def test_every_run_value_param_and_tag_comes_over(
    mlflow_store: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, expected = mlflow_store
    home = tmp_path / "home"

    report = import_report(home, str(path))  # detected

    assert report["format"] == "mlflow"
    assert len(report["imported"]) == len(expected) == 4  # the deleted run is left out
    assert report["warnings"] == ["1 run(s) MLflow deleted were left out"]
    statuses = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "killed", "RUNNING": "lost"}
    with open_store(home) as store:
        for mlflow_id, want in expected.items():
            run = store.get_run(f"mlflow-{mlflow_id}")
            assert run.name == want["name"]
            assert run.status.value == statuses[want["status"]]
            assert run.project == want["experiment"]
            assert run.started_at == want["start"] / 1000
            assert run.ended_at == (None if want["end"] is None else want["end"] / 1000)
            assert {k: v for k, v in run.tags.items() if k != "imported-from"} == want["tags"]
            assert run.tags["imported-from"] == "mlflow"
            params = [e.event for e in store.events(run.id, kinds=["params"])]
            assert [p.payload["data"] for p in params] == (
                [want["params"]] if want["params"] else []
            )
            assert store.metric_keys(run.id) == sorted(want["metrics"])
            for key, points in want["metrics"].items():
                series = store.metric_series(run.id, key)
                assert series.steps == [s for s, _, _ in points]
                assert series.times == [t / 1000 for _, t, _ in points]
                assert [bits(v) for v in series.values] == [bits(v) for _, _, v in points]


def test_nan_and_thousands_of_points_survive(
    mlflow_store: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, expected = mlflow_store
    home = tmp_path / "home"
    import_report(home, str(path), "--format", "mlflow")
    (big,) = [k for k, v in expected.items() if v["name"] == "big"]
    with open_store(home) as store:
        loss = store.metric_series(f"mlflow-{big}", "train/loss")
        assert len(loss) == 3000
        assert (
            sum(math.isnan(v) for v in loss.values)
            == len([1 for s, _, v in expected[big]["metrics"]["train/loss"] if v != v])
            > 0
        )
        assert store.metric_series(f"mlflow-{big}", "far").steps == [2**40]
    again = import_report(home, str(path))
    assert again["imported"] == [] and len(again["skipped"]) == 4
