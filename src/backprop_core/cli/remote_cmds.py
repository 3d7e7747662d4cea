"""``backprop --remote HOST <command>``: list, show, logs, status, stop and config show, run on
another machine over SSH and drawn here exactly as for local data (docs/remote.md).

Each command keeps its own options and help; the other side answers in ``--json`` and this side
renders the answer with the same code as the local command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from backprop_core.errors import UsageError
from backprop_core.remote.commands import RemoteBackprop
from backprop_core.remote.ssh import SshConnection, SshSetup

#: Commands that run on the host named by ``--remote``. ``ui`` and ``pull`` take it as their
#: host; everything else runs on this machine only.
FORWARDED = ("list", "show", "logs", "status", "stop", "config")
HOST_DEFAULTED = ("ui", "pull")
_ARGS = "backprop.remote.args"

Handler = Callable[[RemoteBackprop, list[str], dict[str, Any]], None]


def local_ssh_setup(remote_command: str | None = None) -> SshSetup:
    """How to reach other machines, from this machine's settings (``--remote-command`` is the
    flag of ``remote.command``, checked like any other source)."""
    from backprop_core.cli.options import settings_from_options

    return SshSetup.from_settings(settings_from_options({"remote_command": remote_command}))


def root_remote_command(ctx: click.Context) -> str | None:
    value = ctx.find_root().params.get("remote_command")
    return str(value) if value else None


@contextmanager
def connected(ctx: click.Context) -> Iterator[RemoteBackprop]:
    root = ctx.find_root()
    setup = local_ssh_setup(root_remote_command(ctx))
    with SshConnection(str(root.params["remote"]), setup) as conn:
        yield RemoteBackprop(conn)


class Forwarded(click.Command):
    """``real``'s options and help; running it runs ``real`` on the ``--remote`` host."""

    def __init__(self, real: click.Command, handler: Handler) -> None:
        super().__init__(
            real.name,
            params=list(real.params),
            help=real.help,
            epilog=real.epilog,
            short_help=real.short_help,
            context_settings=dict(real.context_settings),
        )
        self.handler = handler

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGS] = list(args)  # forwarded as given, after click has checked them
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> None:
        with connected(ctx) as remote:
            self.handler(remote, list(ctx.meta[_ARGS]), dict(ctx.params))


class ForwardedConfig(click.Group):
    """``config`` on the ``--remote`` host: only ``show``."""

    def __init__(self, real: click.Group) -> None:
        super().__init__(real.name, help=real.help, commands={})
        self.real = real

    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["show"]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        real = self.real.get_command(ctx, cmd_name)
        if real is None:
            return None
        if cmd_name != "show":
            return _here_only(f"config {cmd_name}")
        return Forwarded(real, _config_show)


def _here_only(name: str) -> click.Command:
    def fail(**_: Any) -> None:
        raise UsageError(
            f"`backprop {name}` runs on this machine only, not with --remote",
            hint="--remote runs list, show, logs, status, stop and config show; "
            "`backprop ui --ssh HOST` opens the viewer, `backprop pull HOST` copies runs here",
        )

    return click.Command(
        name,
        callback=fail,
        params=[click.Argument(["rest"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True},
        add_help_option=False,
    )


def remote_variant(name: str, real: click.Command) -> click.Command:
    """What ``backprop --remote HOST name`` runs."""
    if name == "config" and isinstance(real, click.Group):
        return ForwardedConfig(real)
    handler = _HANDLERS.get(name)
    return _here_only(name) if handler is None else Forwarded(real, handler)


def settings_args(params: dict[str, Any]) -> list[str]:
    """The settings options the user gave, to pass on with another command."""
    out: list[str] = []
    for name, flag in (("home", "--home"), ("store", "--store"), ("config_file", "--config")):
        value = params.get(name)
        if value is not None:
            out += [flag, str(value) if isinstance(value, Path) else value]
    return out


# handlers ------------------------------------------------------------------------------------
def _list(remote: RemoteBackprop, args: list[str], params: dict[str, Any]) -> None:
    from backprop_core.cli.list_runs import print_runs
    from backprop_core.render.runs import run_from_view

    views = remote.json(["list", "--json", *args])
    print_runs([run_from_view(v) for v in views], params["as_json"])


def _show(remote: RemoteBackprop, args: list[str], params: dict[str, Any]) -> None:
    from backprop_core.cli.options import echo_json
    from backprop_core.cli.show import print_run
    from backprop_core.render.runs import run_from_view

    view = remote.json(["show", "--json", *args])
    if params["as_json"]:
        echo_json(view)
    else:
        print_run(run_from_view(view), view)


def _logs(remote: RemoteBackprop, args: list[str], params: dict[str, Any]) -> None:
    from backprop_core.cli.logs import (
        chunk_from_json,
        header_sessions,
        session_numbers,
        write_chunks,
    )
    from backprop_core.render.runs import run_from_view

    follow = bool(params["follow"])
    headers: list[int] = []
    if sys.stdout.isatty() and not params["as_json"]:  # session headers: only on a terminal
        view = remote.json(["show", "--json", *settings_args(params), params["run_ref"]])
        numbers = [int(s["number"]) for s in view["sessions"]]
        headers = header_sessions(
            session_numbers(run_from_view(view), numbers, params["session"]), follow
        )
    lines = remote.json_lines(["logs", "--json", *args], guard=follow)
    try:
        if params["as_json"]:
            for line in lines:
                click.echo(json.dumps(line, ensure_ascii=False))
        else:
            write_chunks((chunk_from_json(line) for line in lines), headers)
    except KeyboardInterrupt:
        if not follow:
            raise


def _status(remote: RemoteBackprop, args: list[str], params: dict[str, Any]) -> None:
    from backprop_core.admission.from_json import decision_from_dict, snapshot_from_dict
    from backprop_core.cli.options import is_terminal
    from backprop_core.cli.status import echo_status_json, echo_status_text

    watch = bool(params["watch"])

    def show(data: dict[str, Any]) -> None:
        if params["as_json"]:
            echo_status_json(data, watch)
            return
        echo_status_text(
            snapshot_from_dict(data),
            decision_from_dict(data["admission"]),
            tuple(data.get("gpu_probes_skipped", ())),
            terminal=is_terminal(),
            watch=watch,
            poll_seconds=float(data.get("limits", {}).get("governor", {}).get("pollSeconds", 5)),
        )

    if not watch:
        show(remote.json(["status", "--json", *args]))
        return
    try:
        for data in remote.json_lines(["status", "--json", *args]):
            show(data)
    except KeyboardInterrupt:
        return  # Ctrl-C is how --watch ends: not an error


def _stop(remote: RemoteBackprop, args: list[str], params: dict[str, Any]) -> None:
    from backprop_core.cli.stop import echo_stop_requested, echo_stop_result
    from backprop_core.store.records import RunStatus

    data = remote.json(["stop", "--json", *args])
    if params["as_json"]:
        click.echo(json.dumps(data))
        return
    echo_stop_requested(str(data["run_id"]), bool(data["now"]))
    echo_stop_result(str(data["run_id"]), RunStatus(data["status"]))


def _config_show(remote: RemoteBackprop, args: list[str], params: dict[str, Any]) -> None:
    from backprop_core.cli.config_cmd import print_settings

    data = remote.json(["config", "show", "--json", *args])
    print_settings(data["settings"], data["sources"], params["as_json"])


_HANDLERS: dict[str, Handler] = {
    "list": _list,
    "show": _show,
    "logs": _logs,
    "status": _status,
    "stop": _stop,
}
