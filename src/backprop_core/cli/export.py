"""``backprop export RUN... --format csv|json [-o PATH]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click

from backprop_core.cli.options import settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import UsageError
from backprop_core.store.files import os_error_to_store_error
from backprop_core.store.records import RunRecord


@click.command("export")
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--format", "fmt", default="csv", show_default=True, help="csv, json, or a plugin's.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)
@click.option(
    "--all-sessions",
    is_flag=True,
    help="Include metric points a later session superseded (it started over at an earlier "
    "step); every point carries its session either way.",
)
@settings_options
def export_command(
    run_refs: tuple[str, ...], fmt: str, output: Path | None, all_sessions: bool, **options: Any
) -> None:
    """Export runs to CSV or JSON.

    Records, sessions, checkpoints and the metric points of each RUN; points a later session
    superseded are included with --all-sessions.
    """
    from backprop_core.plugin.manager import get_plugins

    exporters = get_plugins().exporters()
    if fmt not in exporters:
        raise UsageError(
            f"unknown export format '{fmt}'", hint=f"choose one of: {', '.join(sorted(exporters))}"
        )
    exporter = exporters[fmt]()
    exporter.all_sessions = all_sessions
    _, store = open_from_options(options)
    with store:
        runs: list[RunRecord] = []
        for ref in run_refs:
            run = store.resolve(ref)
            if run.id not in {r.id for r in runs}:
                runs.append(run)
        if output is None:
            out: Any = sys.stdout.buffer if exporter.binary else sys.stdout
            exporter.export(store, runs, out)
            return
        tmp = output.with_name(f".{output.name}.partial")
        try:
            fh: IO[Any]
            if exporter.binary:
                fh = open(tmp, "wb")  # noqa: SIM115 - closed below
            else:
                fh = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
            with fh:
                exporter.export(store, runs, fh)
            tmp.replace(output)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise os_error_to_store_error(exc, "write the export") from exc
    click.echo(f"exported {len(runs)} run(s) to {output}", err=True)
