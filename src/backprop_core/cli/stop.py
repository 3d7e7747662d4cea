"""``backprop stop RUN [--now]``: ask a run's supervisor to stop it, from another terminal.

The supervisor recorded its pid and start time in the run's session. ``stop`` sends it SIGTERM
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
from backprop_core.store.records import RunStatus


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
        os.kill(latest.supervisor_pid, signal.SIGUSR1 if now else signal.SIGTERM)
        if not as_json:
            echo_stop_requested(run.id, now)
        status = run.status
        if not no_wait:
            limit = time.monotonic() + (5 if now else settings.stop.grace_seconds + 10)
            while time.monotonic() < limit:
                status = store.get_run(run.id).status
                if not status.active:
                    break
                time.sleep(0.2)
        if as_json:
            click.echo(json.dumps({"run_id": run.id, "status": status.value, "now": now}))
        else:
            echo_stop_result(run.id, status)
    finally:
        store.close()


def echo_stop_requested(run_id: str, now: bool) -> None:
    click.echo(f"backprop: stop {'(now) ' if now else ''}requested for run {run_id}", err=True)


def echo_stop_result(run_id: str, status: RunStatus) -> None:
    if not status.active:
        click.echo(f"backprop: run {run_id} is {status.value}", err=True)
