"""``backprop show RUN``: one run's record, sessions, checkpoints, metrics and environment."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import format_metrics, open_from_options
from backprop_core.render.runs import full_run_view, human_duration, human_time, job_text
from backprop_core.store.records import RunRecord


def _line(label: str, value: object) -> None:
    if value in (None, "", [], {}):
        return
    click.echo(f"{label:<13}{value}")


def _block(title: str, data: dict[str, Any]) -> None:
    if not data:
        return
    click.echo(f"\n{title}")
    for key, value in data.items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        click.echo(f"  {key}: {shown}")


def print_run(run: RunRecord, view: dict[str, Any]) -> None:
    _line("run", view["id"])
    _line("name", run.name)
    ending = []
    if run.exit_code is not None:
        ending.append(f"exit {run.exit_code}")
    if run.signal is not None:
        ending.append(f"signal {run.signal}")
    if run.reason:
        ending.append(run.reason)
    _line("status", run.status.value + (f" ({', '.join(ending)})" if ending else ""))
    _line("tags", " ".join(f"{k}={v}" for k, v in run.tags.items()))
    _line("project", run.project)
    _line("script", " ".join([run.script or "", *run.argv]).strip())
    _line("command", " ".join(run.command))
    _line("cwd", run.cwd)
    _line("framework", run.framework)
    _line("created", human_time(run.created_at))
    _line("started", human_time(run.started_at) if run.started_at else None)
    _line("ended", human_time(run.ended_at) if run.ended_at else None)
    _line("duration", human_duration(view.get("duration_seconds")))
    _line("last step", run.last_step)
    _line("done", "yes (the script reported done)" if run.done else None)
    if view["sessions"]:
        click.echo("\nsessions")
    for s in view["sessions"]:
        end = human_time(s["ended_at"]) if s.get("ended_at") else "…"
        bits = [f"  #{s['number']} {s['status']:<11} {human_time(s['started_at'])} → {end}"]
        bits.append(f"active {human_duration(s.get('active_seconds'))}")
        if s.get("exit_code") is not None:
            bits.append(f"exit {s['exit_code']}")
        if s.get("signal") is not None:
            bits.append(f"signal {s['signal']}")
        if s.get("pid"):
            bits.append(f"pid {s['pid']}")
        if s.get("host"):
            bits.append(f"host {s['host']}")
        if s.get("ended_at") is None and s.get("heartbeat_at"):
            age = max(0.0, time.time() - s["heartbeat_at"])
            bits.append(f"last heartbeat {human_duration(age)} ago")
        if s.get("gpus"):
            bits.append(f"gpus {','.join(s['gpus'])}")
        click.echo("  ".join(bits))
        job = job_text(s.get("launcher") or {})
        if job:
            click.echo(f"      {job}")
        if s.get("resumed_from"):
            click.echo(f"      resumed from {s['resumed_from']}")
        if s.get("reason"):
            click.echo(f"      {s['reason']}")
        for p in s.get("pauses", []):
            until = human_time(p["ended_at"]) if p.get("ended_at") else "still paused"
            click.echo(f"      paused {human_time(p['started_at'])} → {until}: {p['reason']}")
    if view["checkpoints"]:
        click.echo("\ncheckpoints")
    for c in view["checkpoints"]:
        flags = [] if c["exists"] else ["(missing)"]
        if c.get("best"):
            flags.append("(best)")
        step = "-" if c.get("step") is None else c["step"]
        click.echo(f"  step {step:<8} {c['path']} {' '.join(flags)}".rstrip())
    if run.last_metrics:
        click.echo(f"\nlast metrics  {format_metrics(run.last_metrics, limit=None)}")
    _block("summary", run.summary)
    _block("environment", run.environment)


@click.command("show")
@click.argument("run_ref", metavar="RUN")
@settings_options
@json_option
def show_command(run_ref: str, as_json: bool, **options: Any) -> None:
    """Show one run: record, sessions with pauses, checkpoints (missing files marked), last
    metrics, summary and environment. RUN is an id, a unique id prefix, a unique name or the
    random suffix of an id (`ztkc` for 20261123-202536-ztkc)."""
    _, store = open_from_options(options)
    with store:
        run = store.resolve(run_ref)
        view = full_run_view(store, run)
    if as_json:
        echo_json(view)
    else:
        print_run(run, view)
