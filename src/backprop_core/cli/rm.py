"""``backprop rm RUN...``: forget runs and delete their folders under the home."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.destructive import Target, confirm, resolve_exactly
from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import RunStateError
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
    if folder.is_symlink() or not folder.is_dir():
        return  # not a folder backprop made: what a link points to is not the run's
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
    """Remove runs and their folders.

    Removes the runs' records and their folders under the backprop home. RUN is a full run id,
    a run name or an id's random suffix; an id prefix is accepted only after showing the run it
    matches and asking (or with --yes). Active runs are refused: stop them first. Checkpoints
    announced outside the run folder are the script's own files and are never deleted.
    """
    _, store = open_from_options(options)
    with store:
        targets: list[Target] = []
        for ref in run_refs:
            target = resolve_exactly(store, ref)
            run = target.run
            if run.status in ACTIVE_STATUSES:
                raise RunStateError(
                    f"run {run.id} is {run.status.value}", hint="stop it first: backprop stop RUN"
                )
            if run.id not in {t.run.id for t in targets}:
                targets.append(target)
        confirm(targets, "remove", yes, always_ask=True)
        for target in targets:
            remove_run_folder(store, target.run, keep_checkpoints)
            store.delete_run(target.run.id)
    runs = [t.run for t in targets]
    if as_json:
        echo_json({"removed": [r.id for r in runs]})
    else:
        for run in runs:
            click.echo(f"removed {terminal_text(run.id)}")
