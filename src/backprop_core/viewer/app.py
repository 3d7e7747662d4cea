"""``create_app``: the viewer's Starlette application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backprop_core.admission.resources import Snapshot
from backprop_core.errors import BackpropError
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.home import Home
from backprop_core.viewer.api import api_routes
from backprop_core.viewer.gateway import StoreGateway
from backprop_core.viewer.logtail import NoSuchSession
from backprop_core.viewer.pages import error_page, page_routes
from backprop_core.viewer.params import ParamError
from backprop_core.viewer.responses import api_error
from backprop_core.viewer.security import SecurityMiddleware, static_file
from backprop_core.viewer.state import ViewerState


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _respond(
    request: Request, status: int, title: str, message: str, hint: str | None = None
) -> Response:
    if _is_api(request):
        return api_error(status, message, hint)
    return error_page(request, status, title, message, hint)


async def _param_error(request: Request, exc: Exception) -> Response:
    return _respond(request, 422, "Bad request", str(exc))


async def _backprop_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BackpropError)
    return _respond(request, exc.http_status, exc.title, exc.message, exc.hint)


async def _no_such_session(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NoSuchSession)
    return _respond(request, 404, "Session not found", exc.message, exc.hint)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _respond(request, 404, "Not found", f"nothing at {request.url.path}")
    return _respond(request, exc.status_code, "Error", str(exc.detail))


def _default_snapshot(settings: Settings) -> Callable[[], Snapshot]:
    def take() -> Snapshot:
        from backprop_core.admission.probing import take_snapshot

        return take_snapshot(settings)

    return take


def create_app(
    settings: Settings,
    *,
    token: str | None = None,
    store_factory: Callable[[], Store] | None = None,
    snapshot: Callable[[], Snapshot] | None = None,
    poll_seconds: float | None = None,
    loopback_host: bool = False,
) -> Starlette:
    """The viewer app over the store ``settings`` name.

    ``token``: required on every request when set (non-loopback binds); ``loopback_host``:
    requests must also name the loopback in their Host header (always so without a token,
    and for a viewer behind an SSH tunnel, whose local end is the loopback). ``store_factory`` and
    ``snapshot`` replace ``open_store(settings)`` and the probes (tests, embedding).
    """

    def open_default() -> Store:
        from backprop_core.store.opening import open_store

        return open_store(settings, reconcile=False, create=False)

    def reconcile(store: Store) -> None:
        from backprop_core.store.liveness import reconcile

        reconcile(store, settings.liveness.lost_after_seconds)

    gateway = StoreGateway(store_factory or open_default, reconcile)
    state = ViewerState(
        gateway=gateway,
        home=Home(settings.home),
        take_snapshot=snapshot or _default_snapshot(settings),
    )
    if poll_seconds is not None:
        state.poll_seconds = poll_seconds

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        gateway.close()

    app = Starlette(
        routes=[
            *api_routes,
            *page_routes,
            Route("/static/{path:path}", static_file, methods=["GET", "HEAD"]),
        ],
        middleware=[Middleware(SecurityMiddleware, token=token, loopback_host=loopback_host)],
        exception_handlers={
            ParamError: _param_error,
            NoSuchSession: _no_such_session,
            BackpropError: _backprop_error,
            HTTPException: _http_error,
        },
        lifespan=lifespan,
    )
    app.state.viewer = state
    return app
