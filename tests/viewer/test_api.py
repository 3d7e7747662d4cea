"""The JSON API against a real SQLite store filled through the Store API."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from backprop_core.events.event import Event
from backprop_core.store.contract import Store
from backprop_core.store.records import RunStatus
from backprop_core.viewer import create_app

from .conftest import Seeder, fake_snapshot, make_settings


@pytest.fixture
def client(home: Path, store: Store) -> Iterator[TestClient]:
    app = create_app(make_settings(home), snapshot=fake_snapshot)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def error_message(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert body["error"]["status"] == response.status_code  # type: ignore[attr-defined]
    message: str = body["error"]["message"]
    assert message
    return message


def test_health_counts_runs(client: TestClient, seed: Seeder) -> None:
    seed.run("a")
    seed.run("b")
    body = client.get("/api/health").json()
    assert body["ok"] is True and body["runs"] == 2


def test_runs_paginate_newest_first_without_overlap(client: TestClient, seed: Seeder) -> None:
    ids = [seed.run(f"r{i}", steps=2) for i in range(7)]
    pages = [client.get(f"/api/runs?limit=3&offset={o}").json() for o in (0, 3, 6)]
    assert all(p["total"] == 7 for p in pages)
    got = [r["id"] for p in pages for r in p["runs"]]
    assert got == list(reversed(ids))
    oldest_first = client.get("/api/runs?order=asc&limit=3&offset=1").json()["runs"]
    assert [r["id"] for r in oldest_first] == ids[1:4]
    assert client.get("/api/runs?offset=100").json()["runs"] == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=abc",
        "offset=-1",
        "status=bogus",
        "sort=size",
        "order=up",
        "tag=novalue",
    ],
)
def test_bad_runs_parameters_are_422_with_a_message(client: TestClient, query: str) -> None:
    response = client.get(f"/api/runs?{query}")
    assert response.status_code == 422
    assert query.split("=")[0] in error_message(response)


def test_runs_filter_and_sort(client: TestClient, seed: Seeder) -> None:
    seed.run("zeta", tags={"team": "a"})
    seed.run("alpha", tags={"team": "b"})
    seed.run("beta", status=RunStatus.FAILED, tags={"team": "a"})
    seed.run("live", status=RunStatus.RUNNING)
    names = lambda q: [r["name"] for r in client.get(f"/api/runs?{q}").json()["runs"]]  # noqa: E731
    assert names("sort=name&order=asc") == ["alpha", "beta", "live", "zeta"]
    assert names("status=failed") == ["beta"]
    assert names("status=active") == ["live"]
    assert names("name=*eta") == ["beta", "zeta"]
    assert names("tag=team=a") == ["beta", "zeta"]
    assert client.get("/api/runs?status=active").json()["runs"][0]["active"] is True


def test_run_detail_has_sessions_checkpoints_environment(
    client: TestClient, seed: Seeder, store: Store
) -> None:
    run_id = seed.run("detail")
    store.append_events(
        run_id, [Event("checkpoint_saved", time.time(), 49, {"path": "ckpt/49.pt"})]
    )
    store.append_events(run_id, [Event("summary", time.time(), None, {"data": {"best_acc": 0.9}})])
    body = client.get(f"/api/runs/{run_id}").json()
    assert body["name"] == "detail"
    assert [s["number"] for s in body["sessions"]] == [1]
    assert body["checkpoints"][0]["path"] == "ckpt/49.pt"
    assert body["summary"]["best_acc"] == 0.9
    assert body["environment"]["python"] == "3.11.4"
    assert body["metric_keys"] == ["acc", "loss"]
    assert client.get(f"/api/runs/{run_id[:12]}").json()["id"] == run_id  # unique prefix


def test_unknown_run_is_404_with_message_everywhere(client: TestClient, seed: Seeder) -> None:
    seed.run("x")
    for path in ("", "/metrics", "/logs", "/stream"):
        response = client.get(f"/api/runs/no-such-run{path}")
        assert response.status_code == 404, path
        assert "no-such-run" in error_message(response)


def test_error_classes_choose_their_status_and_the_page_shows_the_hint_apart(
    client: TestClient, seed: Seeder
) -> None:
    seed.run("twin")
    seed.run("twin")
    api = client.get("/api/runs/twin")
    assert api.status_code == 409 and "matches 2 runs" in error_message(api)
    assert api.json()["error"]["hint"] == "give more of the id"
    page = client.get("/runs/twin")
    assert page.status_code == 409 and "<h1>Ambiguous run</h1>" in page.text
    assert '<p class="hint">Give more of the id</p>' in page.text
    missing = client.get("/runs/nosuch")
    assert missing.status_code == 404 and "<h1>Run not found</h1>" in missing.text
    assert "`" not in missing.text.split("<main>", 1)[1]
    assert '<p class="hint">Give a run id, a unique id prefix or suffix, or a run name' in (
        missing.text
    )


def test_unknown_api_path_is_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing/here")
    assert response.status_code == 404
    assert "nothing" in error_message(response)


def test_metrics_several_keys_downsampled_keeping_spikes(
    client: TestClient, seed: Seeder, store: Store
) -> None:
    run_id = seed.run("big", steps=0)
    t = time.time()
    values = [math.sin(i / 50) for i in range(20_000)]
    values[12_345] = 1e6  # a spike
    values[777] = float("nan")
    store.append_events(
        run_id,
        [
            Event("metrics", t + i, i, {"data": {"loss": v, "lr": 0.1}})
            for i, v in enumerate(values)
        ],
    )
    body = client.get(f"/api/runs/{run_id}/metrics?keys=loss,lr&max_points=200").json()
    assert set(body["series"]) == {"loss", "lr"}
    loss = body["series"]["loss"]
    assert loss["total"] == 20_000
    assert len(loss["values"]) <= 200 and len(loss["steps"]) == len(loss["values"])
    assert 1e6 in loss["values"]  # the spike survives downsampling
    assert "NaN" in loss["values"]  # non-finite values are sent as strings
    assert loss["steps"][0] == 0 and loss["steps"][-1] == 19_999
    assert body["seq"] >= 20_000
    everything = client.get(f"/api/runs/{run_id}/metrics").json()
    assert set(everything["series"]) == {"loss", "lr"}


@pytest.mark.parametrize(
    "query",
    [
        "max_points=5",
        "max_points=1000001",
        "max_points=x",
        "keys=" + ",".join(f"k{i}" for i in range(65)),
    ],
)
def test_bad_metrics_parameters(client: TestClient, seed: Seeder, query: str) -> None:
    run_id = seed.run("m")
    response = client.get(f"/api/runs/{run_id}/metrics?{query}")
    assert response.status_code == 422
    error_message(response)


def test_logs_tail_and_offsets_cover_the_file(client: TestClient, seed: Seeder, home: Path) -> None:
    run_id = seed.run("logs", log_lines=500)
    log = (home / "runs" / run_id / "session-1.log").read_text()
    tail = client.get(f"/api/runs/{run_id}/logs?limit=100").json()
    assert tail["exists"] and tail["session"] == 1
    assert log.endswith(tail["text"]) and tail["text"].startswith("epoch")  # starts on a line
    assert tail["next_offset"] == tail["size"] == len(log.encode())
    text, offset = "", 0
    while offset < tail["size"]:
        chunk = client.get(f"/api/runs/{run_id}/logs?session=1&offset={offset}&limit=1000").json()
        assert chunk["offset"] == offset and chunk["next_offset"] > offset
        text += chunk["text"]
        offset = chunk["next_offset"]
    assert text == log
    for bad in ("session=0", "offset=-5", "limit=0", "limit=99999999", "session=abc"):
        assert client.get(f"/api/runs/{run_id}/logs?{bad}").status_code == 422, bad


def test_machine_reports_gpus_and_their_runs(client: TestClient, seed: Seeder) -> None:
    holder = seed.run("on-gpu0", status=RunStatus.RUNNING, gpus=["0"])
    seed.run("finished", gpus=["1"])  # not active: holds nothing
    body = client.get("/api/machine").json()
    assert body["host"]["hostname"] == "trainbox"
    gpus = {g["index"]: g for g in body["gpus"]}
    assert [r["id"] for r in gpus[0]["runs"]] == [holder]
    assert gpus[1]["runs"] == []
    assert gpus[0]["memory_total_bytes"] == 16 * 1024**3


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/health",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/metrics",
        "/api/runs/{run_id}/logs",
        "/api/runs/{run_id}/stream",
        "/api/runs/stream",
        "/api/machine",
    ):
        assert path in doc["paths"], path


def test_stream_of_finished_run_sends_new_points_then_ends(
    client: TestClient, seed: Seeder
) -> None:
    run_id = seed.run("done", steps=10)
    with client.stream("GET", f"/api/runs/{run_id}/stream?after_seq=7") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    assert "event: points" in body and "event: end" in body
    # seqs 8..10 are steps 7..9: only those come again
    assert '"loss":[[7,' in body and "[6," not in body


def test_no_cors_headers_and_security_headers(client: TestClient) -> None:
    response = client.get("/api/health", headers={"Origin": "http://evil.example"})
    assert not any(h.lower().startswith("access-control-") for h in response.headers)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    preflight = client.options(
        "/api/runs",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code in (404, 405)
    assert "access-control-allow-origin" not in preflight.headers


def test_unreadable_store_is_503_with_a_message(home: Path) -> None:
    from backprop_core.errors import StoreError

    def broken() -> Store:
        raise StoreError("cannot open the store: disk I/O error", hint="check the disk")

    app = create_app(make_settings(home), store_factory=broken, snapshot=fake_snapshot)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        response = c.get("/api/runs")
        assert response.status_code == 503
        assert "disk I/O error" in error_message(response)
        page = c.get("/")
        assert page.status_code == 503 and "disk I/O error" in page.text


def test_compare_page_shows_an_ambiguous_name_and_draws_a_run_given_twice_once(
    client: TestClient, seed: Seeder
) -> None:
    twins = [seed.run("twin"), seed.run("twin")]
    solo = seed.run("solo")
    page = client.get(f"/compare?ids=twin,solo,{solo},nosuch")
    assert page.status_code == 200
    assert "“twin” matches 2 runs:" in page.text
    for run_id in twins:
        assert f'<a href="/runs/{run_id}">{run_id}</a>' in page.text
    assert "No run matches “twin”" not in page.text
    assert "No run matches “nosuch”" in page.text
    legend = page.text.split('id="legend"', 1)[1].split("</ul>", 1)[0]
    assert legend.count("<li ") == 1 and f'data-id="{solo}"' in legend


def test_run_page_and_api_list_the_run_s_alerts(client: TestClient, seed: Seeder) -> None:
    run_id = seed.run("alerting")
    seed.store.append_events(
        run_id,
        [
            Event("alert", time.time(), 12, {"level": "warning", "text": "loss is NaN"}, 1),
            Event("alert", time.time(), None, {"level": "error", "text": "disk <almost> full"}, 1),
        ],
    )
    body = client.get(f"/api/runs/{run_id}").json()
    assert [(a["level"], a["step"], a["text"]) for a in body["alerts"]] == [
        ("warning", 12, "loss is NaN"),
        ("error", None, "disk <almost> full"),
    ]
    page = client.get(f"/runs/{run_id}").text
    card = page.split('id="alerts-card"', 1)[1].split("</section>", 1)[0]
    assert not card.lstrip().startswith("hidden")
    assert "loss is NaN" in card and "disk &lt;almost&gt; full" in card
    quiet = client.get(f"/runs/{seed.run('quiet')}").text
    assert 'id="alerts-card" hidden' in quiet


def test_run_page_names_an_unnamed_run_once_and_shows_a_config_as_keys(
    client: TestClient, seed: Seeder
) -> None:
    run_id = seed.run(None)
    seed.store.append_events(
        run_id, [Event("summary", time.time(), None, {"data": {"config": {"lr": 0.1}}})]
    )
    page = client.get(f"/runs/{run_id}").text
    head = page.split('<section class="run-head">', 1)[1].split("</section>", 1)[0]
    assert head.count(run_id) == 1 and "train.py" in head
    assert "<dt>config.lr</dt><dd>0.1</dd>" in page
    assert "{&#39;lr&#39;" not in page and "{'lr'" not in page
