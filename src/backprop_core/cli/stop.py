"""``backprop stop RUN [--now]``: ask a run's supervisor to stop it, from another terminal.

The supervisor recorded its pid, its start time and where that pid means something (host, boot,
PID namespace). ``stop`` sends it SIGUSR2 (graceful: the stop signal to the script, SIGKILL
after the grace period, status ``interrupted``) or, with ``--now``, SIGUSR1 (SIGKILL to the
whole process tree at once), then waits for the run to end. It gives up with a message when the
supervisor dies (the run is lost) or is frozen: no heartbeat for ``liveness.lostAfterSeconds``.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

import click

from backprop_core.cli.options import json_option, settings_from_options, settings_options
from backprop_core.errors import RunStateError
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

if TYPE_CHECKING:
    from backprop_core.settings import Settings
    from backprop_core.store.contract import Store

POLL_S = 0.2
CHECK_S = 1.0


def _supervisor_pid(run: RunRecord, session: SessionRecord | None) -> int:
    """The pid to signal, or a ``RunStateError`` saying why there is none here."""
    from backprop_core.store.liveness import judge, pid_checkable
    from backprop_core.store.process_identity import here

    if session is None or session.supervisor_pid is None:
        raise RunStateError(
            f"run {run.id} has no supervisor to ask yet",
            hint="it may still be waiting for admission",
        )
    where = f"{session.supervisor_pid} on {session.host or 'an unknown host'}"
    if session.host is not None and session.host != here().host:
        raise RunStateError(
            f"run {run.id} is supervised by pid {where}",
            hint=f"run `backprop stop {run.id}` there",
        )
    legacy = session.boot_id is None and session.heartbeat_at is None
    if not legacy and not pid_checkable(session):
        raise RunStateError(
            f"run {run.id} is supervised in another PID namespace or boot of this host",
            hint=f"run `backprop stop {run.id}` in the container or session that started it",
        )
    if judge(session, float("inf")).lost:  # only a supervisor seen to be gone
        raise RunStateError(f"run {run.id} has no live supervisor: pid {where} is gone")
    return session.supervisor_pid


def _frozen(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except psutil.Error:
        return False


def _grace(run: RunRecord, settings: Settings) -> float:
    """The run's own grace period, not the one in effect here."""
    stored = run.settings.get("stop") if isinstance(run.settings, dict) else None
    return float((stored or {}).get("graceSeconds", settings.stop.grace_seconds))


def _wait(
    store: Store, run: RunRecord, pid: int, grace: float, lost_after: float, now: bool, quiet: bool
) -> RunStatus:
    """Wait for the run to end while its supervisor shows signs of life."""
    from backprop_core.store.liveness import check_run

    say = (lambda text: None) if quiet else (lambda text: click.echo(f"backprop: {text}", err=True))
    say(f"waiting for its supervisor (pid {pid}) to end it")
    started = told = time.monotonic()
    kill_at = started + (0 if now else grace)
    limit = started + grace + lost_after + 30  # a live supervisor is done well before
    next_check, told_frozen = started, False
    while time.monotonic() < limit:
        current = store.get_run(run.id)
        left = kill_at - time.monotonic()
        if current.status.active and left > 1 and time.monotonic() - told >= 10:
            told = time.monotonic()
            say(f"run {run.id} is still running; SIGKILL in {left:.0f} s")
        if time.monotonic() >= next_check and current.status.active:
            current = check_run(store, current, lost_after)
            next_check = time.monotonic() + CHECK_S
            if not told_frozen and _frozen(pid):
                told_frozen = True
                say(
                    f"its supervisor (pid {pid}) is stopped (SIGSTOP or Ctrl-Z); it acts on "
                    f"the request once it runs again (kill -CONT {pid}); waiting at most "
                    f"{lost_after:g} s without a heartbeat"
                )
        if current.status is RunStatus.LOST and _frozen(pid):
            raise RunStateError(
                f"gave up on run {run.id}: its supervisor (pid {pid}) is frozen and has sent no "
                f"heartbeat for over {lost_after:g} s, so the run is marked lost",
                hint=f"`kill -CONT {pid}` lets it act on the stop request and record the end",
            )
        if not current.status.active:
            return current.status
        time.sleep(POLL_S)
    raise RunStateError(
        f"run {run.id} is still {current.status.value} {time.monotonic() - started:.0f} s "
        "after the stop request, although its supervisor is alive",
        hint=f"see `backprop show {run.id}`, or stop it with `backprop stop --now {run.id}`",
    )


@click.command("stop")
@click.option("--now", is_flag=True, help="Kill the whole process tree at once, no grace period.")
@click.option(
    "--no-wait", "no_wait", is_flag=True, help="Return without waiting for the run to end."
)
@json_option
@settings_options
@click.argument("run_ref", metavar="RUN")
def stop_command(run_ref: str, now: bool, no_wait: bool, as_json: bool, **options: Any) -> None:
    """Stop an active run gracefully (or at once with --now).

    Waits for the run to end, and gives up with a message if its supervisor stops sending
    heartbeats (frozen) for liveness.lostAfterSeconds.
    """
    import json

    from backprop_core.store.liveness import latest_session
    from backprop_core.store.opening import open_store

    settings = settings_from_options(options)
    store = open_store(settings)  # reading and signalling only: works on a full disk too
    try:
        run = store.resolve(run_ref)
        if not run.status.active:
            raise RunStateError(f"run {run.id} is not active (it is {run.status.value})")
        pid = _supervisor_pid(run, latest_session(store, run.id))
        os.kill(pid, signal.SIGUSR1 if now else signal.SIGUSR2)
        grace = _grace(run, settings)
        if not as_json:
            echo_stop_requested(run.id, now, grace)
        status = run.status
        if not no_wait:
            lost_after = settings.liveness.lost_after_seconds
            status = _wait(store, run, pid, grace, lost_after, now, quiet=as_json)
        if as_json:
            click.echo(json.dumps({"run_id": run.id, "status": status.value, "now": now}))
        else:
            lost = status is RunStatus.LOST
            echo_stop_result(run.id, status, store.get_run(run.id).reason if lost else None)
    finally:
        store.close()


def echo_stop_requested(run_id: str, now: bool, grace: float | None = None) -> None:
    """What was asked of the run's supervisor (``grace``: the run's grace period, if known)."""
    if now:
        what = "SIGKILL to its whole process tree"
    elif grace is not None:
        what = f"the script has {grace:g} s to stop, then gets SIGKILL"
    else:
        what = "the script has its grace period to stop, then gets SIGKILL"
    click.echo(f"backprop: stopping run {run_id}: {what}", err=True)


def echo_stop_result(run_id: str, status: RunStatus, reason: str | None = None) -> None:
    """How the run ended, once it has (a lost run's reason with it)."""
    if not status.active:
        detail = f" ({reason})" if status is RunStatus.LOST and reason else ""
        click.echo(f"backprop: run {run_id} is {status.value}{detail}", err=True)
