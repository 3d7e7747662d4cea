"""The viewer's artifact and lineage API against a real SQLite store and real stored content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from backprop_core.store.contract import Store
from backprop_core.viewer import create_app

from .artifact_seed import seed_chain
from .conftest import Seeder, fake_snapshot, make_settings


@pytest.fixture
def client(home: Path, store: Store) -> Iterator[TestClient]:
    app = create_app(make_settings(home), snapshot=fake_snapshot)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def test_artifacts_are_listed_and_filtered_by_type(
    client: TestClient, seed: Seeder, tmp_path: Path
) -> None:
    seed_chain(seed, tmp_path)
    body = client.get("/api/artifacts").json()
    assert body["types"] == ["dataset", "model", "report"]
    assert [v["label"] for v in body["versions"]] == ["classifier:v0", "mnist:v0", "report:v0"]
    models = client.get("/api/artifacts", params={"type": "model"}).json()["versions"]
    assert [(v["label"], v["aliases"], v["size"]) for v in models] == [
        ("classifier:v0", ["best", "latest"], 12_000)
    ]


def test_one_version_by_alias_with_its_files_and_readers(
    client: TestClient, seed: Seeder, tmp_path: Path
) -> None:
    chain = seed_chain(seed, tmp_path)
    body = client.get("/api/artifacts/classifier/best").json()
    assert (body["label"], body["run_id"], body["step"]) == ("classifier:v0", chain.train, 50)
    assert [u["run_id"] for u in body["used_by"]] == [chain.eval]
    folder = client.get("/api/artifacts/mnist/v0").json()
    assert sorted(f["path"] for f in folder["contents"]) == ["labels.csv", "train/images.bin"]
    missing = client.get("/api/artifacts/mnist/v7")
    assert missing.status_code == 404 and "no version v7" in missing.json()["error"]["message"]


def test_lineage_around_a_run_and_its_errors(
    client: TestClient, seed: Seeder, tmp_path: Path
) -> None:
    chain = seed_chain(seed, tmp_path)
    body = client.get("/api/lineage", params={"node": f"run:{chain.train}"}).json()
    assert {n["id"]: n["depth"] for n in body["nodes"]} == {
        f"run:{chain.prep}": -2,
        "artifact:mnist:v0": -1,
        f"run:{chain.train}": 0,
        "artifact:classifier:v0": 1,
        "artifact:report:v0": 1,
        f"run:{chain.eval}": 2,
    }
    assert len(body["edges"]) == 5
    near = client.get("/api/lineage", params={"node": "artifact:classifier:v0", "depth": 1})
    assert {n["id"] for n in near.json()["nodes"]} == {
        "artifact:classifier:v0",
        f"run:{chain.train}",
        f"run:{chain.eval}",
    }
    assert client.get("/api/lineage").status_code == 422
    assert client.get("/api/lineage", params={"node": "run:nope"}).status_code == 404
    assert client.get("/api/lineage", params={"node": "bogus"}).status_code == 400


def test_the_run_detail_lists_artifacts_read_and_made(
    client: TestClient, seed: Seeder, tmp_path: Path
) -> None:
    chain = seed_chain(seed, tmp_path)
    artifacts = client.get(f"/api/runs/{chain.train}").json()["artifacts"]
    assert [u["label"] for u in artifacts["inputs"]] == ["mnist:v0"]
    assert [v["label"] for v in artifacts["outputs"]] == ["classifier:v0", "report:v0"]


def test_openapi_documents_the_artifact_endpoints(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/artifacts", "/api/artifacts/{name}/{version}", "/api/lineage"} <= set(paths)
