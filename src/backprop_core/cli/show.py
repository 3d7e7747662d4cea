"""``backprop show RUN``: one run's record, sessions, checkpoints, metrics, alerts, params and
environment, in words; ``--json`` prints the run-record v1 object for machines."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import format_metrics, open_from_options
from backprop_core.render.runs import flat_items, full_run_view, human_duration, human_time
from backprop_core.render.terminal import terminal_text
from backprop_core.store.records import RunRecord


def _line(label: str, value: object) -> None:
    if value in (None, "", [], {}):
        return
    click.echo(f"{label:<13}{terminal_text(value)}")


def _block(title: str, data: Mapping[str, Any]) -> None:
    """Nested values as dotted keys (an SDK ``config`` becomes ``config.lr`` …)."""
    if not data:
        return
    click.echo(f"\n{title}")
    for key, value in flat_items(data):
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        click.echo(terminal_text(f"  {key}: {shown}"))


#: Packages named in the environment's one-line summary when the run had them.
NOTABLE_PACKAGES = (
    "backprop", "torch", "lightning", "transformers", "tensorflow", "keras", "jax", "numpy",
)  # fmt: skip
#: Capture details that only matter to ``resume`` or repeat another row.
_QUIET = {"argv", "launch"}


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(_compact(v) for v in value) or "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_compact(v)}" for k, v in value.items()) or "none"
    return "-" if value is None else str(value)


def environment_rows(env: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The captured environment in words, one row per part; every package only in --json."""
    rows: list[tuple[str, str]] = []
    rest = dict(env)
    python = rest.pop("python", None)
    if isinstance(python, Mapping):
        name = " ".join(str(python[k]) for k in ("implementation", "version") if python.get(k))
        where = python.get("executable")
        rows.append(("python", f"{name}, {where}" if where else name))
    host = [str(rest.pop(k)) for k in ("hostname",) if rest.get(k)]
    for key, label in (("user", "user"), ("platform", ""), ("pid", "pid")):
        if rest.get(key) is not None:
            host.append(f"{label} {rest[key]}".strip())
        rest.pop(key, None)
    if host:
        rows.append(("host", ", ".join(host)))
    if "git" in rest:
        git = rest.pop("git")
        if isinstance(git, Mapping):
            text = f"{git.get('branch') or 'detached'} at {str(git.get('commit') or '?')[:12]}"
            rows.append(("git", text + (", with uncommitted changes" if git.get("dirty") else "")))
        else:
            rows.append(("git", "not a git repository"))
    packages = rest.pop("packages", None)
    if isinstance(packages, Mapping):
        named = [f"{p} {packages[p]}" for p in NOTABLE_PACKAGES if p in packages]
        text = f"{len(packages)} installed" + (f": {', '.join(named)}" if named else "")
        rows.append(("packages", text + "; all of them with --json"))
    command = rest.pop("command", None)
    if isinstance(command, list):
        rows.append(("command", " ".join(map(str, command))))
    for key, value in rest.items():
        if key not in _QUIET:
            rows.append((key, _compact(value)))
    return rows


def print_alerts(alerts: list[dict[str, Any]]) -> None:
    if not alerts:
        return
    click.echo("\nalerts")
    for a in alerts:
        where = [f"session {a['session']}"] if a.get("session") is not None else []
        if a.get("step") is not None:
            where.append(f"step {a['step']}")
        prefix = f"{', '.join(where)}: " if where else ""
        line = f"  {human_time(a['time'])}  {a['level']:<7}  {prefix}{a['text']}"
        click.echo(terminal_text(line))


def _steps(session: dict[str, Any]) -> str | None:
    first, last = session.get("first_step"), session.get("last_step")
    if first is None:
        return None
    text = f"steps {first} → {last}" if last is not None and last != first else f"step {first}"
    cut = session.get("superseded_from")
    if cut is not None:
        text += f" (from {cut} on superseded by a later session)"
    return text


def _absent(run: RunRecord) -> str:
    if run.origin:  # a pulled run: its files stay on that host unless pulled with them
        return f"(on {run.origin}; `backprop pull {run.origin} --with-checkpoints` copies it)"
    return "(missing)"


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
    _line("pulled from", run.origin)
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
    _line("last step", view["last_step"])
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
        click.echo(terminal_text("  ".join(bits)))
        if s.get("resumed_from"):
            at = "" if s.get("resumed_step") is None else f" (step {s['resumed_step']})"
            click.echo(f"      resumed from {terminal_text(s['resumed_from'])}{at}")
        steps = _steps(s)
        if steps:
            click.echo(f"      {steps}")
        if s.get("reason"):
            click.echo(f"      {terminal_text(s['reason'])}")
        for p in s.get("pauses", []):
            until = human_time(p["ended_at"]) if p.get("ended_at") else "still paused"
            reason = terminal_text(p["reason"])
            click.echo(f"      paused {human_time(p['started_at'])} → {until}: {reason}")
    if view["checkpoints"]:
        click.echo("\ncheckpoints")
    for c in view["checkpoints"]:
        flags = [] if c["exists"] else [_absent(run)]
        if c.get("best"):
            flags.append("(best)")
        step = "-" if c.get("step") is None else c["step"]
        click.echo(terminal_text(f"  step {step:<8} {c['path']} {' '.join(flags)}".rstrip()))
    last = view["last_metrics"]
    if last:
        click.echo(f"\nlast metrics  {terminal_text(format_metrics(last, limit=None))}")
    print_alerts(view.get("alerts", []))
    _block("params", run.params)
    _block("summary", run.summary)
    rows = environment_rows(run.environment)
    if rows:
        click.echo("\nenvironment")
        width = max(len(label) for label, _ in rows)
        for label, text in rows:
            click.echo(terminal_text(f"  {label:<{width}}  {text}"))


@click.command("show")
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--all-sessions",
    is_flag=True,
    help="Count metric points a later session superseded (it started over at an earlier "
    "step) in the last step and metrics.",
)
@settings_options
@json_option
def show_command(run_ref: str, all_sessions: bool, as_json: bool, **options: Any) -> None:
    """Show one run: record, sessions, checkpoints, metrics.

    Sessions with their pauses and the steps they logged, checkpoints (missing files marked),
    last metrics, alerts, params, summary and environment. RUN is an id, a unique id prefix, a
    unique name or the random suffix of an id (ztkc for 20261123-202536-ztkc).
    """
    _, store = open_from_options(options)
    with store:
        run = store.resolve(run_ref)
        view = full_run_view(store, run, all_sessions=all_sessions)
    if as_json:
        echo_json(view)
    else:
        print_run(run, view)
