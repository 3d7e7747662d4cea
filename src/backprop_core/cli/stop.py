"""``backprop stop RUN [--now]``: ask a run's supervisor to stop it, from another terminal.

The supervisor recorded its pid and start time in the run's session. ``stop`` sends it SIGUSR2
(graceful: the stop signal to the script, SIGKILL after the grace period, status
``interrupted``) or, with ``--now``, SIGUSR1 (SIGKILL to the whole process tree at once).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import click

from backprop_core.cli.options import json_option, settings_from_options, settings_options
from backprop_core.errors import RunStateError


@click.command("stop")
@click.option("--now", is_flag=True, help="Kill the whole process tree at once, no grace period.")
@click.option(
    "--no-wait", "no_wait", is_flag=True, help="Return without waiting for the run to end."
)
@json_option
@settings_options
@click.argument("run_ref", metavar="RUN")
def stop_command(run_ref: str, now: bool, no_wait: bool, as_json: bool, **options: Any) -> None:
    """Stop an active run gracefully (or at once with --now)."""
    import json

    from backprop_core.run.runner import open_run_store
    from backprop_core.store.process_identity import process_alive

    settings = settings_from_options(options)
    store = open_run_store(settings)
    try:
        run = store.resolve(run_ref)
        if not run.status.active:
            raise RunStateError(f"run {run.id} is not active (it is {run.status.value})")
        sessions = store.sessions(run.id)
        latest = sessions[-1] if sessions else None
        if latest is None or not process_alive(latest.supervisor_pid, latest.supervisor_started):
            raise RunStateError(
                f"run {run.id} has no live supervisor on this machine",
                hint="it may still be waiting for admission, or was started elsewhere",
            )
        assert latest.supervisor_pid is not None
        os.kill(latest.supervisor_pid, signal.SIGUSR1 if now else signal.SIGUSR2)
        # The run's own grace period applies, not the one in effect here.
        stored = run.settings.get("stop") if isinstance(run.settings, dict) else None
        grace = float((stored or {}).get("graceSeconds", settings.stop.grace_seconds))
        kill_at = time.monotonic() + grace
        if not as_json:
            click.echo(
                f"backprop: stopping run {run.id}: "
                + (
                    "SIGKILL to its whole process tree"
                    if now
                    else f"the script has {grace:g} s to stop, then gets SIGKILL"
                ),
                err=True,
            )
        status = run.status
        if not no_wait:
            limit = time.monotonic() + (5 if now else grace + 10)
            told = time.monotonic()
            while time.monotonic() < limit:
                status = store.get_run(run.id).status
                if not status.active:
                    break
                left = kill_at - time.monotonic()
                if not as_json and not now and left > 1 and time.monotonic() - told >= 10:
                    told = time.monotonic()
                    click.echo(
                        f"backprop: run {run.id} is still running; SIGKILL in {left:.0f} s",
                        err=True,
                    )
                time.sleep(0.2)
        if as_json:
            click.echo(json.dumps({"run_id": run.id, "status": status.value, "now": now}))
        elif not status.active:
            click.echo(f"backprop: run {run.id} is {status.value}", err=True)
    finally:
        store.close()
