"""``backprop pull HOST``: copy the runs of another machine into this store, over SSH."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from backprop_core.cli.options import json_option, settings_options


@click.command("pull")
@click.argument("host", metavar="HOST", required=False)
@click.option(
    "--watch",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Pull again every SECONDS until Ctrl-C.",
)
@click.option(
    "--with-checkpoints",
    "with_files",
    is_flag=True,
    help="Also copy the checkpoint files (rsync when both machines have it, else over ssh).",
)
@settings_options
@json_option
@click.pass_context
def pull_command(
    ctx: click.Context,
    host: str | None,
    watch: float | None,
    with_files: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Copy the runs of another machine here, over SSH.

    The runs recorded on HOST (user@host or an alias from ~/.ssh/config) come into this store:
    records, sessions, events, metrics and logs, and with --with-checkpoints the checkpoint
    files. Only what changed since the last pull travels; HOST is only read.

    Pulled runs show HOST in `list`, `show` and the viewer (`list --host HOST`). A run still
    active there is copied as it is and brought up to date by the next pull. The backprop run
    there is remote.command (or --remote-command before the command name).
    """
    from backprop_core.cli.remote_cmds import local_ssh_setup, root_remote_command
    from backprop_core.errors import UsageError
    from backprop_core.remote.ssh import SshConnection

    host = host or ctx.find_root().params.get("remote")
    if not host:
        raise UsageError("pull needs a HOST", hint="e.g. `backprop pull gpu-box`")
    setup = local_ssh_setup(root_remote_command(ctx))
    # Connecting overlaps loading the rest, opening the store here and working out what it
    # holds.
    with SshConnection(host, setup, persist_seconds=(watch or 0) + 60) as conn:
        from backprop_core.cli.run_views import open_from_options
        from backprop_core.remote.pull import pull_once

        _, store = open_from_options(options, create=True)  # pulled runs are added here
        with store:
            try:
                while True:
                    report = pull_once(conn, store, with_files=with_files)
                    _print(report.as_dict(), as_json)
                    if watch is None:
                        return
                    time.sleep(watch)
            except KeyboardInterrupt:
                if watch is None:
                    raise


def _print(report: dict[str, Any], as_json: bool) -> None:
    for run_id in report["skipped"]:
        click.echo(
            f"backprop: warning: run {run_id} on {report['host']} has the id of a run here "
            "that came from elsewhere; it was not pulled",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(report))
        return
    files = f", {report['files']} checkpoint files or folders" if report["files"] else ""
    click.echo(
        f"pulled {report['host']}:{report['remote_home']} ({report['remote_runs']} runs): "
        f"{len(report['new'])} new, {len(report['updated'])} updated, "
        f"{report['unchanged']} unchanged; {report['events']:,} events, "
        f"{report['log_bytes']:,} bytes of logs{files} in {report['seconds']:.1f} s"
    )
