"""``backprop remote-helper``: what backprop on another machine runs for ``--remote``,
``ui --ssh`` and ``pull`` (not listed in the help; the protocol is in docs/remote.md).

Nothing here is meant to be typed by a user. Every subcommand reads what it needs from stdin
or its options and answers on stdout in JSON lines.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import click

from backprop_core.cli.options import settings_from_options, settings_options


@click.group("remote-helper", hidden=True)
def helper_group() -> None:
    """The other side of --remote, ui --ssh and pull (internal)."""


def wait_for_eof() -> None:
    """Block until stdin reaches its end. Raw reads: a daemon thread blocked in a buffered
    read would hold its lock while the interpreter shuts down."""
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass


def _exit_when_stdin_closes() -> None:
    """End this process once stdin reaches its end: the ssh session that started it is gone."""

    def watch() -> None:
        wait_for_eof()
        os._exit(0)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


@helper_group.command(
    "guard", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def guard(args: tuple[str, ...]) -> None:
    """Run `backprop ARGS` until it ends or stdin closes (the other side went away)."""
    from backprop_core.cli.main import main

    _exit_when_stdin_closes()
    main(list(args))


@helper_group.command("viewer")
@click.option("--keep", is_flag=True, help="Detach: keep serving after this session ends.")
@click.option("--tcp", is_flag=True, help="Serve on a loopback port instead of a Unix socket.")
@settings_options
def viewer(keep: bool, tcp: bool, **options: Any) -> None:
    """Find this home's viewer or start one for a tunnel; print where it listens (JSON)."""
    from backprop_core.remote.viewer_host import serve_for_tunnel

    settings = settings_from_options(options)
    serve_for_tunnel(settings, keep=keep, tcp=tcp)


@helper_group.command("viewer-stop")
@click.option("--pid", type=int, required=True)
@settings_options
def viewer_stop(pid: int, **options: Any) -> None:
    """Stop the viewer this home's registry records with PID (and nothing else)."""
    from backprop_core.remote.viewer_host import stop_registered

    click.echo("stopped" if stop_registered(settings_from_options(options), pid) else "not found")


@helper_group.command("pull-source")
@settings_options
def pull_source(**options: Any) -> None:
    """Read what the other side has (JSON on stdin); write what changed (JSON lines)."""
    from backprop_core.remote.pull_source import serve_pull

    serve_pull(settings_from_options(options), sys.stdin.buffer, sys.stdout.buffer)


@helper_group.command("send-files")
def send_files() -> None:
    """Read absolute paths (JSON on stdin); write each file: a JSON header line, then its bytes."""
    from backprop_core.remote.pull_files import send_files as send

    send(sys.stdin.buffer, sys.stdout.buffer)
