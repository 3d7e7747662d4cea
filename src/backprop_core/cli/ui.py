"""``backprop ui``: serve the web viewer (docs/viewer.md).

Starlette, uvicorn and Jinja2 are imported only here, when the command runs.
"""

from __future__ import annotations

import errno
import secrets
import socket
import threading
from typing import Any

import click

from backprop_core.cli.options import settings_from_options, settings_options
from backprop_core.errors import UsageError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 8765


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is in use",
                hint="pick another with --port, or --port 0 for a free one",
            ) from exc
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="check --host"
        ) from exc
    # Accepted connections inherit this: small responses are not held back by Nagle's
    # algorithm waiting on the browser's delayed ACK (~40 ms per request otherwise).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int, token: str | None) -> str:
    shown = host
    if host in ("0.0.0.0", "::"):
        shown = socket.gethostname()
    elif ":" in host:
        shown = f"[{host}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


@click.command("ui")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but the loopback requires the printed token.",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0 picks a free one).",
)
@click.option(
    "--open/--no-open",
    "open_browser",
    default=None,
    help="Open a browser (default: when run from a terminal).",
)
@click.option(
    "--ssh",
    "ssh_host",
    metavar="HOST",
    help="Open the viewer of HOST's runs through an SSH tunnel (user@host or an alias from "
    "~/.ssh/config); --home, --store and --config then apply there. See docs/remote.md.",
)
@click.option("--keep", is_flag=True, help="With --ssh: leave the viewer running on HOST.")
@settings_options
@click.pass_context
def ui_command(
    ctx: click.Context,
    host: str,
    port: int,
    open_browser: bool | None,
    ssh_host: str | None,
    keep: bool,
    **options: Any,
) -> None:
    """Open the web viewer.

    Serves the runs table, live charts, comparison and the machine's state until Ctrl-C. With
    --ssh HOST (or backprop --remote HOST ui), the viewer of HOST's runs, through an SSH tunnel.
    """
    import sys

    ssh_host = ssh_host or ctx.find_root().params.get("remote")
    if ssh_host:
        from backprop_core.cli.ui_ssh import ui_over_ssh

        if ctx.get_parameter_source("host") != click.core.ParameterSource.DEFAULT:
            raise UsageError(
                "--host does not go with --ssh", hint="the tunnel only listens on the loopback"
            )
        explicit_port = ctx.get_parameter_source("port") != click.core.ParameterSource.DEFAULT
        ui_over_ssh(ctx, ssh_host, port if explicit_port else None, open_browser, keep, options)
        return
    if keep:
        raise UsageError("--keep goes with --ssh HOST", hint="a local viewer stops with Ctrl-C")

    from backprop_core.store.opening import require_home

    settings = settings_from_options(options)
    require_home(settings)  # a mistyped --home must not show an empty viewer (nor create one)
    token = None if host in LOOPBACK else secrets.token_urlsafe(24)
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    url = _url(host, actual_port, token)
    click.echo(f"backprop ui: serving {settings.home} at {url}", nl=True)
    if token:
        click.echo(
            "backprop ui: this address is reachable from other machines;"
            " the token in the URL is required."
        )
    click.echo("backprop ui: press Ctrl-C to stop.")
    sys.stdout.flush()

    import uvicorn

    from backprop_core.viewer import create_app

    app = create_app(settings, token=token)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    if open_browser is None:
        open_browser = sys.stdout.isatty()
    if open_browser:
        import webbrowser

        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    click.echo("backprop ui: stopped.")
