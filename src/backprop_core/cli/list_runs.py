"""``backprop list``: recorded runs, newest first."""

from __future__ import annotations

from typing import Any

import click

from backprop_core.cli.options import echo_json, is_terminal, json_option, settings_options
from backprop_core.cli.run_options import parse_tags
from backprop_core.cli.run_views import format_metrics, open_from_options, print_table
from backprop_core.render.runs import (
    duration_seconds,
    human_duration,
    human_time,
    job_text,
    run_view,
)
from backprop_core.store.contract import Store
from backprop_core.store.records import RunFilter, RunRecord, RunStatus


def _jobs(store: Store, runs: list[RunRecord]) -> dict[str, str]:
    """Where each active run's latest session is, when a scheduler has it (``slurm job 812
    PENDING (Priority)``, ``slurm job 812 on gpu-07``)."""
    from backprop_core.store.liveness import latest_session

    out: dict[str, str] = {}
    for run in runs:
        session = latest_session(store, run.id) if run.status.active else None
        text = job_text(session.launcher) if session is not None else None
        if text:
            out[run.id] = text
    return out


HEADER = ("ID", "NAME", "STATUS", "SESSIONS", "DURATION", "STEP", "METRICS", "CKPTS", "STARTED")


@click.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in RunStatus]),
    help="Only runs with this status (repeatable).",
)
@click.option("--name", metavar="GLOB", help="Only runs whose name matches this shell pattern.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only runs with this tag.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@settings_options
@json_option
def list_command(
    statuses: tuple[str, ...],
    name: str | None,
    tags: tuple[str, ...],
    limit: int,
    as_json: bool,
    **options: Any,
) -> None:
    """List recorded runs, newest first.

    On a terminal this is a table; otherwise one tab-separated line per run with the columns
    id, name, status, sessions, duration, last step, metrics, checkpoints, started.
    """
    flt = RunFilter(
        statuses=frozenset(RunStatus(s) for s in statuses) if statuses else None,
        name=name,
        tags=tuple(parse_tags(tags).items()),
        limit=limit,
    )
    terminal = is_terminal()
    _, store = open_from_options(options)
    with store:
        runs = store.list_runs(flt)
        where = _jobs(store, runs) if terminal and not as_json else {}
    if as_json:
        echo_json([run_view(r) for r in runs])
        return
    rows = [
        (
            r.id,
            r.name or "-",
            r.status.value + (f" · {where[r.id]}" if r.id in where else ""),
            str(r.session_count),
            human_duration(duration_seconds(r)),
            "-" if r.last_step is None else str(r.last_step),
            format_metrics(r.last_metrics),
            str(r.checkpoint_count),
            human_time(r.started_at or r.created_at),
        )
        for r in runs
    ]
    if terminal and not rows:
        click.echo("no runs recorded yet (start one with `backprop run SCRIPT`)")
        return
    print_table(HEADER, rows, terminal)
