"""``backprop import PATH [--format F]``: bring runs another tool recorded into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.render.terminal import terminal_text


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    help="tensorboard, mlflow, wandb, node, csv, json, or a plugin's (default: detected).",
)
@settings_options
@json_option
def import_command(path: Path, fmt: str | None, as_json: bool, **options: Any) -> None:
    """Import runs from TensorBoard, MLflow, W&B or an export.

    PATH is a TensorBoard log folder (every folder holding event files is a run, Lightning's
    lightning_logs/version_N included), an MLflow store (an mlruns folder or a SQLite tracking
    database), a W&B offline folder (wandb/, or one offline-run-* folder), the Node tool's
    experiments.json, or a file written by backprop export --format csv|json. Without --format
    the format is detected. Runs already imported are skipped, so importing the same source
    twice adds nothing. A run that cannot be read is left out with a warning naming it; a
    damaged or unfinished file keeps what came before the damage. Imported runs own no files:
    gc and rm never delete what they name. See docs/interop.md for what each format carries.
    """
    from backprop_core.interop.importer import choose_importer
    from backprop_core.plugin.manager import get_plugins

    path = path.expanduser()
    importer = choose_importer(get_plugins().importers(), path, fmt)()
    _, store = open_from_options(options, create=True)
    with store:
        report = importer.import_into(store, path)
    if as_json:
        echo_json(
            {
                "format": importer.name,
                "imported": report.imported,
                "skipped": report.skipped,
                "problems": report.problems,
                "warnings": report.warnings,
            }
        )
        return
    for problem in [*report.problems, *report.warnings]:
        click.echo(f"backprop: warning: {terminal_text(problem)}", err=True)
    rejected = f", rejected {len(report.problems)}" if report.problems else ""
    click.echo(
        f"imported {len(report.imported)} run(s) from {importer.name}, "
        f"skipped {len(report.skipped)} already present" + rejected
    )
