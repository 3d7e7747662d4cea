"""``backprop export RUN... --format csv|json [-o PATH]``."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from backprop_core.cli.options import settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import UsageError
from backprop_core.render.terminal import terminal_text
from backprop_core.store.files import NotARegularFile, replacing
from backprop_core.store.records import RunRecord

if TYPE_CHECKING:
    from backprop_core.interop.exporter import Exporter
    from backprop_core.store.contract import Store


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
        _export_to_file(exporter, store, runs, output)
    click.echo(f"exported {len(runs)} run(s) to {terminal_text(output)}", err=True)


def _export_to_file(exporter: Exporter, store: Store, runs: list[RunRecord], output: Path) -> None:
    """Write the export to ``output`` in one rename (see ``store.files.replacing``): a regular
    file is replaced keeping its mode; anything else there is refused and left alone."""
    try:
        with replacing(output) as raw:
            if exporter.binary:
                exporter.export(store, runs, raw)
            else:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                exporter.export(store, runs, text)
                text.flush()
                text.detach()  # ``replacing`` closes the file itself
    except NotARegularFile as exc:
        raise UsageError(
            f"cannot export to {output}: it exists and is not a regular file",
            hint="give -o the path of a new or regular file",
        ) from exc
    except OSError as exc:
        raise UsageError(
            f"cannot export to {output}: {exc.strerror or exc}",
            hint="give -o a path in a folder you can write",
        ) from exc
