"""``backprop gc``: prune old checkpoints and orphaned run folders, deleting only what backprop
can prove it owns (``store.ownership``, ``store.orphans``; docs/store.md)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.destructive import Target, confirm, resolve_exactly
from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import RunNotFound
from backprop_core.render.terminal import terminal_text
from backprop_core.store.contract import Store
from backprop_core.store.ownership import KeptCheckpoints, Verdict, delete_file, judge_checkpoint
from backprop_core.store.records import ACTIVE_STATUSES, CheckpointRecord, RunRecord


def prunable(checkpoints: list[CheckpointRecord], keep_last: int) -> list[CheckpointRecord]:
    """Checkpoints beyond the newest ``keep_last``; ones marked best are always kept."""
    newest_first = sorted(enumerate(checkpoints), key=lambda ic: (ic[1].time, ic[0]), reverse=True)
    return [c for i, (_, c) in enumerate(newest_first) if i >= keep_last and not c.best]


def judge_checkpoints(
    store: Store, keep_last: int, only: list[RunRecord] | None
) -> list[tuple[RunRecord, CheckpointRecord, Verdict]]:
    """A verdict for every checkpoint beyond the newest ``keep_last`` of each finished run (of
    ``only`` when given); the checkpoints kept, of every run, protect their files."""
    kept = KeptCheckpoints()
    candidates: list[tuple[RunRecord, list[CheckpointRecord]]] = []
    wanted = None if only is None else {r.id for r in only}
    for run in store.list_runs():
        checkpoints = store.checkpoints(run.id)
        if run.status in ACTIVE_STATUSES or (wanted is not None and run.id not in wanted):
            kept.add(run, checkpoints)
            continue
        prune = prunable(checkpoints, keep_last)
        ids = {id(c) for c in prune}
        kept.add(run, [c for c in checkpoints if id(c) not in ids])
        candidates.append((run, prune))
    return [
        (run, c, judge_checkpoint(c, run, store.home, kept))
        for run, prune in candidates
        for c in prune
    ]


def collect(
    store: Store,
    keep_last: int,
    dry_run: bool,
    *,
    only: list[RunRecord] | None = None,
    release_hold: bool = False,
) -> dict[str, Any]:
    """Judge, then (unless ``dry_run``) act: the report ``gc`` prints."""
    from backprop_core.plugin.manager import get_plugins
    from backprop_core.store.orphans import delete_folder, folder_size, judge_folders

    items: list[Verdict] = []
    freed = 0
    forget: dict[str, list[str]] = {}
    for run, c, verdict in judge_checkpoints(store, keep_last, only):
        if verdict.action == "delete" and not dry_run:
            assert verdict.target is not None
            done = delete_file(verdict.target, verdict.identity)
            if not done and Path(verdict.target).exists():
                verdict = Verdict(
                    "forget", "checkpoint", verdict.path, "changed while gc ran", run.id
                )
            freed += done
        elif verdict.action == "delete":
            freed += verdict.bytes
        if verdict.action != "keep":
            forget.setdefault(run.id, []).append(c.path)
        items.append(verdict)
    if not dry_run:
        for run_id, paths in forget.items():
            store.delete_checkpoints(run_id, paths)
    if only is None:
        stores = get_plugins().stores().values()
        for verdict in judge_folders(store.home, stores, release_hold=release_hold):
            if verdict.action == "delete":
                folder = Path(verdict.path)
                try:
                    store.get_run(folder.name)
                    continue  # created since we looked
                except RunNotFound:
                    pass
                freed += folder_size(folder) if dry_run else delete_folder(folder)
            items.append(verdict)
        if release_hold and not dry_run:
            with contextlib.suppress(FileNotFoundError):
                store.home.hold_file.unlink()
    return {"dry_run": dry_run, "bytes": freed, "items": [v.to_dict() for v in items]}


_VERBS = {
    "delete": ("would delete", "deleted"),
    "forget": ("would forget", "forgot"),
    "keep": ("would keep", "kept"),
}


def describe(item: dict[str, Any], dry_run: bool) -> str:
    """One line of the report: what, where, whose, and why."""
    verb = _VERBS[item["action"]][0 if dry_run else 1]
    whose = f" (run {item['run']})" if item["what"] == "checkpoint" else ""
    kept = " (the file stays)" if item["action"] == "forget" else ""
    return terminal_text(f"{verb} {item['what']} {item['path']}{whose}{kept}: {item['reason']}")


@click.command("gc")
@click.option(
    "--keep-last",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Checkpoints to keep per run (newest first; ones marked best are always kept).",
)
@click.option(
    "--run",
    "run_refs",
    metavar="RUN",
    multiple=True,
    help="Only prune this run's checkpoints (repeatable); run folders are then left alone.",
)
@click.option(
    "--orphans",
    is_flag=True,
    help="Delete orphaned run folders even though a store was moved aside as corrupt, and "
    "lift that hold (gc-hold.txt in the home).",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted and forgotten.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask when RUN is only an id prefix.")
@settings_options
@json_option
def gc_command(
    keep_last: int,
    run_refs: tuple[str, ...],
    orphans: bool,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Prune old checkpoints and orphaned run folders.

    Prunes checkpoints beyond the newest N of each finished run, and deletes run folders no
    store knows (unchanged for an hour).

    A checkpoint file is deleted only if it is a regular file inside the run's folder, or one
    backprop saw the run create and that has not changed since; other checkpoints are only
    forgotten (the record goes, the file stays). A file another kept checkpoint names is never
    deleted, nor a directory or a symbolic link. A run folder is deleted only if backprop made
    it and no store in the home knows its run. --dry-run prints every decision and its reason.
    """
    _, store = open_from_options(options)
    with store:
        only = None
        if run_refs:
            targets: list[Target] = [resolve_exactly(store, ref) for ref in run_refs]
            confirm(targets, "prune", yes or dry_run, always_ask=False)
            only = [t.run for t in targets]
        report = collect(store, keep_last, dry_run, only=only, release_hold=orphans)
    if as_json:
        echo_json(report)
        return
    for item in report["items"]:
        click.echo(describe(item, dry_run))
    if not any(item["action"] == "delete" for item in report["items"]):
        click.echo("nothing to delete")
    else:
        size = report["bytes"]
        amount = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size} bytes"
        click.echo(f"{'would free' if dry_run else 'freed'} {amount}")
