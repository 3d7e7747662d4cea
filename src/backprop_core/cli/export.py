"""``backprop export RUN... --format csv|json|tensorboard [-o PATH]``."""

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
from backprop_core.store.files import NotARegularFile, os_error_to_store_error, replacing
from backprop_core.store.records import RunRecord

if TYPE_CHECKING:
    from backprop_core.interop.exporter import Exporter
    from backprop_core.store.contract import Store


@click.command("export")
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    default="csv",
    show_default=True,
    help="csv, json, tensorboard, or a plugin's.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="File (default: stdout); the folder, for formats that write one (tensorboard).",
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
    """Export runs to CSV, JSON or TensorBoard event files.

    csv: one row per metric point. json: records, sessions, checkpoints and the metric points
    of each RUN. tensorboard: a folder (-o DIR) with one subfolder per run, each metric a tag,
    values exact (64-bit) with their steps and wall times; see docs/interop.md. The result can
    be imported back with backprop import.
    Points a later session superseded are included with --all-sessions.
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
        if exporter.directory:
            _export_folder(exporter, store, runs, output)
            return
        if output is None:
            out: Any = sys.stdout.buffer if exporter.binary else sys.stdout
            exporter.export(store, runs, out)
            return
        if output.is_dir():
            raise UsageError(f"{output} is a folder", hint=f"give a file name for the {fmt} export")
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


def _export_folder(
    exporter: Exporter, store: Store, runs: list[RunRecord], out: Path | None
) -> None:
    if out is None:
        raise UsageError(f"the {exporter.name} format writes a folder", hint="give it with -o DIR")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file", hint=f"give a folder for the {exporter.name} export")
    try:
        out.mkdir(parents=True, exist_ok=True)
        exporter.export_to(store, runs, out)
    except OSError as exc:
        raise os_error_to_store_error(exc, "write the export") from exc
    click.echo(f"exported {len(runs)} run(s) to {terminal_text(out)}", err=True)
