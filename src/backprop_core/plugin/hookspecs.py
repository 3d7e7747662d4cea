"""Hook specifications: the whole plugin surface of backprop.

Every hook is prefixed ``backprop_``, typed, and documented in ``docs/plugins.md``. Core code
never calls ``pm.hook`` directly: it goes through the typed facade in
``backprop_core.plugin.manager``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from backprop_core.admission.resources import GpuProbe, HostProbe, Snapshot
    from backprop_core.admission.votes import AdmissionRequest, Vote
    from backprop_core.events.event import Event, ParseContext
    from backprop_core.interop.exporter import Exporter
    from backprop_core.launch.spec import FrameworkAdapter, Launcher, Monitor
    from backprop_core.settings import Settings
    from backprop_core.store.contract import Store
    from backprop_core.store.records import RunRecord, SessionRecord

PROJECT = "backprop"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def backprop_register_probes() -> list[type[HostProbe] | type[GpuProbe]]:
    """Return resource probe classes (host or GPU) this plugin provides.

    All implementations are called and their lists concatenated. Probe names must be unique.
    ``--gpu-probe auto`` picks the available GPU probe with the lowest ``priority``.

    :return: a list of ``HostProbe`` / ``GpuProbe`` subclasses (classes, not instances).
    """


@hookspec
def backprop_admission_vote(
    request: AdmissionRequest, snapshot: Snapshot, settings: Settings
) -> Vote | list[Vote] | None:
    """Vote on whether a run may start now.

    All implementations are called. Any ``refuse`` refuses, else any ``wait`` waits, else the run
    is admitted; every reason is shown. A vote with ``eligible_gpus`` narrows which GPUs may be
    handed to the run (the intersection of all such sets is used).

    :param request: what the run asks for (GPU count, GPUs reserved by other runs, active runs).
    :param snapshot: the machine now, as the probes read it.
    :param settings: the effective settings.
    :return: a ``Vote``, a list of votes, or ``None`` for no opinion.
    """


@hookspec
def backprop_register_frameworks() -> list[type[FrameworkAdapter]]:
    """Return framework adapter classes.

    All implementations are called. ``-f auto`` asks each adapter's ``detect(script)`` in
    ``priority`` order and uses the first that matches, else ``generic``.

    :return: a list of ``FrameworkAdapter`` subclasses.
    """


@hookspec(firstresult=True)
def backprop_parse_line(line: str, context: ParseContext) -> Event | None:
    """Turn one line of the script's output into an event.

    First result wins: the first implementation returning an ``Event`` claims the line. The
    built-in JSON parser is registered with ``trylast`` so specialised parsers can claim lines
    first. Lines no parser claims pass through as plain output.

    :param line: the line without its newline, decoded as UTF-8 with replacement.
    :param context: run id, session number, stream and working directory.
    :return: an ``Event`` or ``None``.
    """


@hookspec
def backprop_register_stores() -> list[type[Store]]:
    """Return store classes. All implementations are called; the ``store`` setting picks one
    by ``name``.

    :return: a list of ``Store`` subclasses.
    """


@hookspec
def backprop_register_launchers() -> list[type[Launcher]]:
    """Return launcher classes. All implementations are called; ``--launcher`` (the
    ``launcher`` setting) picks one by ``name``: ``local`` (the default) runs sessions here,
    ``slurm`` submits each as a batch job.

    A ``Launcher`` runs a session here (``launch``). A ``SchedulerLauncher`` hands it to a
    batch scheduler instead: ``batch_script``/``submit`` a job that execs the command in
    ``JobRequest.supervise`` (``backprop supervise RUN SESSION``, the session's supervisor),
    ``jobs`` says what the scheduler knows of jobs, ``cancel`` and ``signal`` stop them,
    ``current_job`` describes the job the supervisor runs in (docs/plugins.md, "Launchers").

    :return: a list of ``Launcher`` subclasses.
    """


@hookspec
def backprop_register_monitors() -> list[type[Monitor]]:
    """Return in-run monitor classes (NaN alerts, stall watchdog...).

    All implementations are called; each class's ``create(settings)`` decides whether it is on
    for a session.

    :return: a list of ``Monitor`` subclasses.
    """


@hookspec
def backprop_run_started(run: RunRecord, session: SessionRecord) -> None:
    """Notification: a session of ``run`` started. All implementations are called; return
    values are ignored. Exceptions are reported as warnings and never stop the run."""


@hookspec
def backprop_run_event(run: RunRecord, event: Event) -> None:
    """Notification: the running script emitted ``event``. All implementations are called;
    return values are ignored. Keep it cheap: it runs on the supervisor's output path."""


@hookspec
def backprop_run_finished(run: RunRecord, session: SessionRecord) -> None:
    """Notification: a session ended (``session.status`` says how). All implementations are
    called; return values are ignored."""


@hookspec
def backprop_register_exporters() -> list[type[Exporter]]:
    """Return exporter classes. All implementations are called; ``--format`` picks one by
    ``name``.

    :return: a list of ``Exporter`` subclasses.
    """


@hookspec
def backprop_register_commands(cli: click.Group) -> None:
    """Add commands to the ``backprop`` CLI. All implementations are called with the root
    click group; add commands with ``@cli.command()`` or ``cli.add_command``."""
