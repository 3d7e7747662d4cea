"""``backprop rm RUN...``: forget runs and delete their folders under the home."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import RunStateError, UsageError
from backprop_core.render.runs import resolve_path
from backprop_core.render.terminal import terminal_text
from backprop_core.store.contract import Store
from backprop_core.store.records import ACTIVE_STATUSES, RunRecord


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def remove_run_folder(store: Store, run: RunRecord, keep_checkpoints: bool) -> None:
    """Delete ``runs/<id>/``; with ``keep_checkpoints``, everything but the checkpoint files
    (the suggested checkpoint folder and any announced checkpoint inside the run folder)."""
    folder = store.home.run_dir(run.id)
    if not folder.exists():
        return
    if not keep_checkpoints:
        shutil.rmtree(folder, ignore_errors=True)
        return
    keep = {store.home.checkpoint_dir(run.id).resolve()}
    for c in store.checkpoints(run.id):
        p = resolve_path(c.path, run)
        if _inside(p, folder):
            keep.add(p.resolve())
    for entry in folder.iterdir():
        resolved = entry.resolve()
        if resolved in keep or any(_inside(k, entry) for k in keep):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@click.command("rm")
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--keep-checkpoints", is_flag=True, help="Keep checkpoint files in the run folders.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@settings_options
@json_option
def rm_command(
    run_refs: tuple[str, ...], keep_checkpoints: bool, yes: bool, as_json: bool, **options: Any
) -> None:
    """Remove runs: their records and their folders under the backprop home.

    Active runs are refused (stop them first). Checkpoints announced outside the run folder
    are the script's own files and are never deleted.
    """
    _, store = open_from_options(options)
    with store:
        runs: list[RunRecord] = []
        for ref in run_refs:
            run = store.resolve(ref)
            if run.status in ACTIVE_STATUSES:
                raise RunStateError(
                    f"run {run.id} is {run.status.value}", hint="stop it first: backprop stop RUN"
                )
            if run.id not in {r.id for r in runs}:
                runs.append(run)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    f"removing {len(runs)} run(s) needs confirmation", hint="add --yes"
                )
            names = terminal_text(", ".join(r.id for r in runs))
            click.confirm(f"Remove {len(runs)} run(s): {names}?", abort=True)
        for run in runs:
            remove_run_folder(store, run, keep_checkpoints)
            store.delete_run(run.id)
    if as_json:
        echo_json({"removed": [r.id for r in runs]})
    else:
        for run in runs:
            click.echo(f"removed {terminal_text(run.id)}")
