"""``backprop ui --ssh HOST``: the viewer of another machine's runs, through an SSH tunnel."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any

import click

from backprop_core.errors import RemoteError


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM tears the tunnel down like Ctrl-C


def ui_over_ssh(
    ctx: click.Context,
    host: str,
    port: int | None,
    open_browser: bool | None,
    keep: bool,
    options: Mapping[str, Any],
) -> None:
    from backprop_core.cli.remote_cmds import local_ssh_setup, root_remote_command, settings_args
    from backprop_core.remote.ssh import SshConnection
    from backprop_core.remote.tunnel import Tunnel

    setup = local_ssh_setup(root_remote_command(ctx))
    signal.signal(signal.SIGTERM, _interrupt)
    lost: str | None = None
    with SshConnection(host, setup) as conn:
        tunnel = Tunnel(conn, settings_args(dict(options)), keep=keep, port=port)
        try:
            url = tunnel.open()
            assert tunnel.viewer is not None
            click.echo(f"backprop ui: serving {host}:{tunnel.viewer.home} at {url}")
            if tunnel.viewer.reused:
                click.echo(f"backprop ui: (the viewer already running on {host})")
            elif keep:
                click.echo(f"backprop ui: the viewer keeps running on {host} after Ctrl-C.")
            click.echo("backprop ui: press Ctrl-C to stop.")
            sys.stdout.flush()
            if open_browser is None:
                open_browser = sys.stdout.isatty()
            if open_browser:
                import webbrowser

                threading.Timer(0.3, webbrowser.open, args=(url,)).start()
            lost = tunnel.wait()
        except KeyboardInterrupt:
            pass
        finally:
            tunnel.close()
    if lost:
        raise RemoteError(f"backprop ui: {lost} ({host})", hint="run it again to reconnect")
    click.echo("backprop ui: stopped.")
