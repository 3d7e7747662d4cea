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
    from backprop_core.events.parsing import ParsedLines
    from backprop_core.interop.exporter import Exporter
    from backprop_core.launch.spec import FrameworkAdapter, Launcher, Monitor, Watcher
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

    A line parser: the supervisor calls it for each line that no parser before it claimed, in
    the parser chain's order (see ``backprop_parse_lines`` for how parsers combine). Returning
    an ``Event`` claims the line: it is an event line, offered to no later parser and kept off
    the terminal. First result wins. A plugin that also implements ``backprop_parse_lines`` is
    called through that hook only.

    :param line: the line without its newline, decoded as UTF-8 with replacement.
    :param context: run id, session number, stream, working directory, settings and the
        session's shared ``ParseState``.
    :return: an ``Event`` or ``None``.
    """


@hookspec
def backprop_parse_lines(lines: list[bytes], context: ParseContext) -> ParsedLines | None:
    """Turn a chunk of the script's output lines into events at once (a batch parser).

    The supervisor reads output in chunks of up to thousands of lines; a batch parser sees a
    whole chunk in one call, which lets it decode, match and build columns (``MetricLines``)
    at C speed. All implementations are called, one after the other, together with the line
    parsers (``backprop_parse_line``) in one chain: ``tryfirst`` parsers, unmarked ones, then
    ``trylast`` ones, the most recently registered first within each group. Each parser gets
    only the lines no parser before it claimed, so a line is parsed once. The built-in JSON
    event parser is ``tryfirst`` (event lines and the SDK keep priority); the output scalars
    parser is ``trylast`` and claims nothing (its lines stay plain output).

    :param lines: complete lines as bytes, without their newlines, in output order (lines
        over 1 MiB are never offered).
    :param context: run id, session number, stream (``stdout``, ``stderr``, or ``events`` for
        the SDK's pipe), working directory, settings and the session's shared ``ParseState``.
    :return: a ``ParsedLines`` (the events, and the indexes of the lines that were events),
        or ``None`` when none of the lines is an event.
    """


@hookspec
def backprop_register_stores() -> list[type[Store]]:
    """Return store classes. All implementations are called; the ``store`` setting picks one
    by ``name``.

    :return: a list of ``Store`` subclasses.
    """


@hookspec
def backprop_register_launchers() -> list[type[Launcher]]:
    """Return launcher classes. All implementations are called; ``--launcher`` picks one by
    ``name`` (``local`` by default).

    :return: a list of ``Launcher`` subclasses.
    """


@hookspec
def backprop_register_monitors() -> list[type[Monitor]]:
    """Return in-run monitor classes (NaN alerts, stall watchdog...).

    All implementations are called; each class's ``create(settings)`` decides whether it is on
    for a session.

    :return: a list of ``Monitor`` subclasses.
    """


# ==== Supervision hooks: what runs beside the script during a session


@hookspec
def backprop_register_watchers() -> list[type[Watcher]]:
    """Watcher classes: things the supervisor polls on a thread of its own during a session,
    turning what they see on disk into events that are recorded like the script's own.

    All implementations are called and their lists concatenated; watcher names must be
    unique. For each session the supervisor calls each class's ``create(context)`` before the
    script starts (``None``: off for this session; ``context`` is a ``WatchContext``: run id,
    session, working directory, home, settings, the last step seen, and which checkpoints the
    script announced itself), then ``poll(now)`` every ``poll_seconds`` while the script runs,
    and ``finish(now)`` once after it and every process it started ended. The events they
    return (``checkpoint_saved``, ``metrics``, ``alert``…) go into the same store, status line,
    monitors and ``backprop_run_event`` listeners as parsed output. A watcher that raises is
    reported once and dropped for the rest of the session. ``resumable(context)``, a class
    method, tells ``resume`` which checkpoints of the run are on disk. Built in:
    ``checkpoints`` (checkpoint files found without being announced; see
    docs/unmodified-scripts.md).

    :return: ``Watcher`` subclasses (classes, not instances).
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
