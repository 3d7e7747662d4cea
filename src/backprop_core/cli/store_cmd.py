"""``backprop store copy``: moving runs between stores."""

from __future__ import annotations

from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options


@click.group("store")
def store_group() -> None:
    """Move runs between stores: homes and PostgreSQL."""


@store_group.command("copy")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="URL_OR_HOME",
    help="Where the runs are: a postgresql:// URL, or a backprop home (NAME:HOME picks the "
    "store when the home holds runs of several).",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL_OR_HOME",
    help="Where they go: a postgresql:// URL, or a backprop home.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Overwrite runs that are at the destination already but differ (otherwise they "
    "are left alone and reported).",
)
@json_option
@settings_options
def copy_command(source: str, target: str, replace: bool, as_json: bool, **options: Any) -> None:
    """Copy every run from one store to another.

    Run records, sessions, events, metric points and checkpoint records are copied; files in
    the home (logs, checkpoints) are not. Runs already copied are skipped, so running it
    again after an interruption finishes the job; a run whose copy was interrupted is done
    again. At the end, each run's sessions, events, checkpoints and points are counted on
    both sides. Exit 1 when they differ or when runs differ at the destination.
    """
    from backprop_core.cli.options import settings_from_options
    from backprop_core.errors import StoreError, UsageError
    from backprop_core.store.copying import copy_runs
    from backprop_core.store.opening import open_location

    if source == target:
        raise UsageError("--from and --to are the same store", hint="give two different ones")
    settings = settings_from_options(options)
    with (
        open_location(source, settings, source=True) as src,
        open_location(target, settings, source=False) as dst,
    ):
        if type(src) is type(dst) and src.home == dst.home and src.location == dst.location:
            raise UsageError("--from and --to are the same store", hint="give two different ones")
        say = (lambda text: None) if as_json else (lambda text: click.echo(text, err=True))
        report = copy_runs(src, dst, replace_differing=replace, say=say)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(
            f"{len(report.copied)} copied, {len(report.redone)} interrupted copies done again, "
            f"{len(report.already)} already there, {len(report.replaced)} replaced"
        )
        a, b = report.source, report.destination
        click.echo(
            f"checked: sessions {b.sessions}/{a.sessions}, events {b.events}/{a.events}, "
            f"checkpoints {b.checkpoints}/{a.checkpoints}, points {b.points}/{a.points}"
        )
    if report.mismatched:
        shown = ", ".join(report.mismatched[:10])
        raise StoreError(
            f"{len(report.mismatched)} run(s) differ after the copy: {shown}",
            hint="run the copy again; if they still differ, report it with both stores' versions",
        )
    if report.differing:
        shown = ", ".join(report.differing[:10])
        raise StoreError(
            f"{len(report.differing)} run(s) at the destination differ from the source and were "
            f"left alone: {shown}",
            hint="add --replace to overwrite them with the source's",
        )
