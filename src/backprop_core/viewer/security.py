"""Who may talk to the viewer, and which files it may send.

- With a token (any bind other than loopback), every request, static files included, must carry
  it: ``?token=…`` (then remembered in an HttpOnly cookie), the cookie, or an
  ``Authorization: token …`` header.
- Without a token (loopback), the Host header must name the loopback, so a web page on another
  site cannot reach the viewer by DNS rebinding. A viewer reached through an SSH tunnel
  (``ui --ssh``) checks both: the token, and the loopback Host of the tunnel's local end.
- No CORS headers are ever sent; a CSP keeps the pages to their own scripts.
- Static files come only from the package's ``static/`` folder, by a checked relative path.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import os
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backprop_core.viewer.responses import api_error

STATIC_DIR = Path(__file__).resolve().parent / "static"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
]

_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def cookie_name(token: str) -> str:
    """Per-token cookie name: two viewers on one host (different ports) keep their own."""
    return "backprop_token_" + hashlib.sha256(token.encode()).hexdigest()[:10]


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


class SecurityMiddleware:
    """Checks the token (or the loopback Host) on every request and adds security headers."""

    def __init__(self, app: ASGIApp, token: str | None, loopback_host: bool = False) -> None:
        self.app = app
        self.token = token
        self.loopback_host = loopback_host or token is None
        self.cookie = cookie_name(token) if token else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        set_cookie = False
        host = _host_name(headers.get("host", "")).lower()
        if self.loopback_host and host not in LOOPBACK_HOSTS:
            await self._deny(scope, receive, send, 403, "this viewer only answers on localhost")
            return
        if self.token is not None:
            given, from_query = self._given_token(scope, headers)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                await self._deny(
                    scope,
                    receive,
                    send,
                    401,
                    "missing or wrong token; open the URL printed by backprop ui",
                )
                return
            set_cookie = from_query

        cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if set_cookie:
                    extra.append((b"set-cookie", cookie))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _given_token(self, scope: Scope, headers: dict[str, str]) -> tuple[str | None, bool]:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][-1], True
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer") and value:
            return value.strip(), False
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is simply no token
            return None, False
        morsel = cookies.get(self.cookie)
        return (morsel.value if morsel else None), False

    async def _deny(
        self, scope: Scope, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        response: Response
        if scope["path"].startswith("/api/"):
            response = api_error(status, message)
        else:
            response = PlainTextResponse(f"{status}: {message}\n", status_code=status)
        response.headers.update({k.decode(): v.decode() for k, v in SECURITY_HEADERS})
        await response(scope, receive, send)


def static_path(relative: str) -> Path | None:
    """The file under ``STATIC_DIR`` named by ``relative``, or ``None`` if that is anything but
    a plain, non-symlinked file strictly inside it."""
    if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    parts = relative.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    candidate = STATIC_DIR.joinpath(*parts)
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real != candidate or STATIC_DIR not in real.parents:
        return None  # a symlink somewhere on the way
    if not real.is_file() or os.path.islink(candidate):
        return None
    return real


async def static_file(request: Request) -> Response:
    path = static_path(request.path_params["path"])
    if path is None:
        return PlainTextResponse("404: no such file\n", status_code=404)
    media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    return FileResponse(
        path, media_type=media_type, headers={"Cache-Control": "public, max-age=300"}
    )
