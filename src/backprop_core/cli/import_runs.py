"""``backprop import FILE``: bring runs from the Node tool's experiments.json into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.render.terminal import terminal_text


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@settings_options
@json_option
def import_command(file: Path, as_json: bool, **options: Any) -> None:
    """Import runs from a Node-tool experiments.json.

    FILE is the Node tool's store, usually ~/.backprop/experiments.json. Runs already imported
    are skipped, so importing the same file twice adds nothing. A record with a value backprop
    cannot keep is rejected whole, with a warning naming it; the others are imported.
    """
    from backprop_core.interop.node_import import import_file

    _, store = open_from_options(options, create=True)
    with store:
        report = import_file(store, file.expanduser())
    if as_json:
        echo_json(
            {"imported": report.imported, "skipped": report.skipped, "problems": report.problems}
        )
        return
    for problem in report.problems:
        click.echo(f"backprop: warning: {terminal_text(problem)}", err=True)
    rejected = f", rejected {len(report.problems)}" if report.problems else ""
    click.echo(
        f"imported {len(report.imported)} run(s), skipped {len(report.skipped)} already present"
        + rejected
    )
