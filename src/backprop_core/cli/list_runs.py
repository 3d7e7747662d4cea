"""``backprop list``: recorded runs, newest first."""

from __future__ import annotations

from typing import Any

import click

from backprop_core.cli.options import echo_json, is_terminal, json_option, settings_options
from backprop_core.cli.run_options import parse_tags
from backprop_core.cli.run_views import format_metrics, open_from_options, print_table
from backprop_core.errors import UsageError
from backprop_core.render.runs import (
    LOCAL_HOST,
    duration_seconds,
    human_duration,
    human_time,
    origin_filter,
    run_view,
)
from backprop_core.store.params import ParamCondition
from backprop_core.store.records import RunFilter, RunRecord, RunStatus

HEADER = (
    "ID", "NAME", "SCRIPT", "STATUS", "SESSIONS", "DURATION", "STEP", "METRICS", "CKPTS", "STARTED",
)  # fmt: skip
#: Longest command shown for a run started with ``backprop run -- COMMAND``.
COMMAND_WIDTH = 40


def what_ran(run: RunRecord) -> str:
    """The script as it was given, or the command of a ``run --`` run (shortened)."""
    if run.script:
        return run.script
    text = " ".join(run.argv or run.command)
    return text if len(text) <= COMMAND_WIDTH else text[: COMMAND_WIDTH - 1] + "…"


def parse_params(values: tuple[str, ...]) -> tuple[ParamCondition, ...]:
    out = []
    for value in values:
        try:
            out.append(ParamCondition.parse(value))
        except ValueError:
            raise UsageError(
                f"invalid --param '{value}'",
                hint="use --param NAME=VALUE (or !=, <, <=, >, >=), e.g. --param lr=3e-4",
            ) from None
    return tuple(out)


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
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Only runs whose parameter matches (repeatable; also !=, <, <=, >, >=). Numbers "
    "compare as numbers: lr=3e-4 matches 0.0003.",
)
@click.option(
    "--host",
    metavar="HOST",
    help="Only runs pulled from HOST (as given to `backprop pull`); `local` for runs made here.",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@settings_options
@json_option
def list_command(
    statuses: tuple[str, ...],
    name: str | None,
    tags: tuple[str, ...],
    params: tuple[str, ...],
    host: str | None,
    limit: int,
    as_json: bool,
    **options: Any,
) -> None:
    """List recorded runs, newest first.

    On a terminal this is a table; otherwise one tab-separated line per run with the columns
    id, name, script, status, sessions, duration, last step, metrics, checkpoints, started, and
    host when some listed run was pulled from another machine (`local` for the others).
    """
    flt = RunFilter(
        statuses=frozenset(RunStatus(s) for s in statuses) if statuses else None,
        name=name,
        tags=tuple(parse_tags(tags).items()),
        params=parse_params(params),
        origin=origin_filter(host),
        limit=limit,
    )
    _, store = open_from_options(options)
    with store:
        runs = store.list_runs(flt)
    print_runs(runs, as_json)


def print_runs(runs: list[RunRecord], as_json: bool) -> None:
    """``list``'s output for ``runs``, from this machine's store or another's."""
    if as_json:
        echo_json([run_view(r) for r in runs])
        return
    with_host = any(r.origin for r in runs)
    rows = [
        (
            r.id,
            r.name or "-",
            what_ran(r) or "-",
            r.status.value,
            str(r.session_count),
            human_duration(duration_seconds(r)),
            "-" if r.last_step is None else str(r.last_step),
            format_metrics(r.last_metrics),
            str(r.checkpoint_count),
            human_time(r.started_at or r.created_at),
            *((r.origin or LOCAL_HOST,) if with_host else ()),
        )
        for r in runs
    ]
    terminal = is_terminal()
    if terminal and not rows:
        click.echo("no runs recorded yet (start one with `backprop run SCRIPT`)")
        return
    print_table((*HEADER, "HOST") if with_host else HEADER, rows, terminal)
