"""Token enforcement, the loopback Host check, and path traversal: every attempt must fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from backprop_core.store.contract import Store
from backprop_core.viewer import create_app
from backprop_core.viewer.security import STATIC_DIR, cookie_name

from .conftest import LiveServer, Seeder, fake_snapshot, make_settings

TOKEN = "s3cret-token-value"
PROTECTED = [
    "/",
    "/machine",
    "/api/health",
    "/api/runs",
    "/api/openapi.json",
    "/static/app.css",
    "/static/vendor/uplot/uPlot.iife.min.js",
    "/api/runs/stream",
    "/no/such/page",
]


@pytest.fixture
def token_client(home: Path, store: Store) -> Iterator[TestClient]:
    app = create_app(make_settings(home), token=TOKEN, snapshot=fake_snapshot)
    with TestClient(app, base_url="http://203.0.113.7:8765") as c:
        yield c


@pytest.mark.parametrize("path", PROTECTED)
def test_token_required_on_every_request(token_client: TestClient, path: str) -> None:
    assert token_client.get(path).status_code == 401
    assert token_client.get(path, params={"token": "wrong"}).status_code == 401
    assert token_client.get(path, headers={"Authorization": "token nope"}).status_code == 401


def test_token_in_url_sets_a_cookie_that_then_suffices(token_client: TestClient) -> None:
    first = token_client.get("/", params={"token": TOKEN})
    assert first.status_code == 200
    cookie = first.headers["set-cookie"]
    assert (
        cookie.startswith(cookie_name(TOKEN) + "=")
        and "HttpOnly" in cookie
        and "SameSite=Strict" in cookie
    )
    # the client keeps the cookie: later requests need no token in the URL
    assert token_client.get("/api/health").status_code == 200
    assert token_client.get("/static/app.css").status_code == 200


def test_token_in_authorization_header(token_client: TestClient) -> None:
    response = token_client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_api_denial_is_json_with_a_message(token_client: TestClient) -> None:
    response = token_client.get("/api/runs")
    assert response.status_code == 401
    assert "token" in response.json()["error"]["message"]


def test_loopback_viewer_refuses_foreign_host_header(home: Path, store: Store) -> None:
    """Without a token, a DNS-rebinding page (Host: evil.example) gets nothing."""
    app = create_app(make_settings(home), snapshot=fake_snapshot)
    with TestClient(app, base_url="http://evil.example") as c:
        assert c.get("/api/runs").status_code == 403
    with TestClient(app, base_url="http://localhost:8765") as c:
        assert c.get("/api/runs").status_code == 200


TRAVERSALS = [
    "/static/%2e%2e/app.py",
    "/static/%2E%2E/%2E%2E/errors.py",
    "/static/..%2f..%2fpaths.py",
    "/static/vendor/..%2f..%2fapp.py",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/static/..%5c..%5capp.py",
    "/static/.%2e/app.py",
    "/static/app.css%00.js",
    "/static/",
    "/static/vendor",
    "/static/.hidden",
]


@pytest.fixture
def live(home: Path, store: Store) -> Iterator[LiveServer]:
    server = LiveServer(home)
    yield server
    server.stop()


@pytest.mark.parametrize("raw_path", TRAVERSALS)
def test_static_traversal_fails(live: LiveServer, raw_path: str) -> None:
    # Send the path byte for byte (no client-side normalisation of ``..``).
    with httpx.Client() as c:
        request = c.build_request("GET", live.url + "/")
        request.url = request.url.copy_with(raw_path=raw_path.encode())
        response = c.send(request)
    assert response.status_code == 404, raw_path
    assert "import" not in response.text and "root:" not in response.text


def test_static_symlink_is_not_followed(live: LiveServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    link = STATIC_DIR / f"test-link-{os.getpid()}.css"
    link.symlink_to(secret)
    try:
        response = httpx.get(f"{live.url}/static/{link.name}")
        assert response.status_code == 404
        assert "TOP SECRET" not in response.text
    finally:
        link.unlink()


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/runs/%2e%2e/logs",
        "/api/runs/..%2f..%2fetc/logs",
        "/api/runs/%2fetc%2fpasswd/logs",
        "/runs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ],
)
def test_run_id_traversal_fails(live: LiveServer, seed: Seeder, raw_path: str) -> None:
    seed.run("x")
    with httpx.Client() as c:
        request = c.build_request("GET", live.url + "/")
        request.url = request.url.copy_with(raw_path=raw_path.encode())
        response = c.send(request)
    assert response.status_code == 404, raw_path
    assert "root:" not in response.text


def test_log_symlinked_out_of_the_run_folder_is_not_read(
    live: LiveServer, seed: Seeder, home: Path, tmp_path: Path
) -> None:
    run_id = seed.run("linked")
    secret = tmp_path / "secret.log"
    secret.write_text("TOP SECRET\n")
    log = home / "runs" / run_id / "session-1.log"
    log.unlink()
    log.symlink_to(secret)
    body = httpx.get(f"{live.url}/api/runs/{run_id}/logs").json()
    assert body["exists"] is False and "SECRET" not in body["text"]


def test_run_folder_symlinked_elsewhere_is_not_read(
    live: LiveServer, seed: Seeder, home: Path, tmp_path: Path
) -> None:
    run_id = seed.run("moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "session-1.log").write_text("TOP SECRET\n")
    run_dir = home / "runs" / run_id
    for f in run_dir.iterdir():
        f.unlink()
    run_dir.rmdir()
    run_dir.symlink_to(elsewhere, target_is_directory=True)
    body = httpx.get(f"{live.url}/api/runs/{run_id}/logs").json()
    assert body["exists"] is False and "SECRET" not in body["text"]
