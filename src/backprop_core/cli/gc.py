"""``backprop gc``: prune old checkpoint files and orphaned run folders."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import RunNotFound
from backprop_core.render.runs import resolve_path
from backprop_core.render.terminal import terminal_text
from backprop_core.store.contract import Store
from backprop_core.store.home import is_valid_run_id
from backprop_core.store.records import ACTIVE_STATUSES, CheckpointRecord, RunRecord

#: A run folder without a record is left alone this long: a run being created right now may
#: have made its folder a moment before its record.
ORPHAN_GRACE_S = 3600.0


def _safe_to_delete(path: Path, run: RunRecord, home: Path) -> bool:
    """Never delete a filesystem root, the home, the run's working directory or any of their
    ancestors, whatever a script announced."""
    resolved = path.resolve()
    protected = [Path(resolved.anchor), home.resolve(), Path.home().resolve()]
    if run.cwd:
        protected.append(Path(run.cwd).resolve())
    return not any(p.is_relative_to(resolved) for p in protected)


def prunable(checkpoints: list[CheckpointRecord], keep_last: int) -> list[CheckpointRecord]:
    """Checkpoints beyond the newest ``keep_last``; ones marked best are always kept."""
    newest_first = sorted(enumerate(checkpoints), key=lambda ic: (ic[1].time, ic[0]), reverse=True)
    return [c for i, (_, c) in enumerate(newest_first) if i >= keep_last and not c.best]


def _delete(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        shutil.rmtree(path)
        return size
    size = path.lstat().st_size
    path.unlink()
    return size


def collect(store: Store, keep_last: int, dry_run: bool) -> dict[str, Any]:
    report: dict[str, Any] = {"checkpoints": [], "orphans": [], "bytes": 0, "dry_run": dry_run}
    known = set()
    for run in store.list_runs():
        known.add(run.id)
        if run.status in ACTIVE_STATUSES:
            continue
        forget = []
        for c in prunable(store.checkpoints(run.id), keep_last):
            path = resolve_path(c.path, run)
            if not path.exists() and not path.is_symlink():
                forget.append(c.path)
                continue
            if not _safe_to_delete(path, run, store.home.root):
                continue
            report["checkpoints"].append({"run": run.id, "path": str(path)})
            if not dry_run:
                report["bytes"] += _delete(path)
            forget.append(c.path)
        if forget and not dry_run:
            store.delete_checkpoints(run.id, forget)
    runs_dir = store.home.runs_dir
    now = time.time()
    for folder in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if not folder.is_dir() or folder.is_symlink() or not is_valid_run_id(folder.name):
            continue
        if folder.name in known or now - folder.stat().st_mtime < ORPHAN_GRACE_S:
            continue
        try:
            store.get_run(folder.name)
            continue  # created since we listed
        except RunNotFound:
            pass
        report["orphans"].append(str(folder))
        if not dry_run:
            report["bytes"] += _delete(folder)
    return report


@click.command("gc")
@click.option(
    "--keep-last",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Checkpoints to keep per run (newest first; ones marked best are always kept).",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@settings_options
@json_option
def gc_command(keep_last: int, dry_run: bool, as_json: bool, **options: Any) -> None:
    """Delete checkpoint files beyond the newest N of each finished run, and run folders that
    have no record (older than an hour). Only announced checkpoints and folders under the
    backprop home are ever touched."""
    _, store = open_from_options(options)
    with store:
        report = collect(store, keep_last, dry_run)
    if as_json:
        echo_json(report)
        return
    verb = "would delete" if dry_run else "deleted"
    for item in report["checkpoints"]:
        click.echo(f"{verb} checkpoint {terminal_text(item['path'])} ({item['run']})")
    for folder in report["orphans"]:
        click.echo(f"{verb} orphaned run folder {terminal_text(folder)}")
    if not report["checkpoints"] and not report["orphans"]:
        click.echo("nothing to delete")
    elif not dry_run:
        click.echo(f"freed {report['bytes'] / 1e6:.1f} MB")
