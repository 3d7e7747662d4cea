"""Hook specifications: the whole plugin surface of backprop.

Every hook is prefixed ``backprop_``, typed, and documented here, in its docstring: the hook
reference in ``docs/plugins.md`` is generated from these docstrings by
``python scripts/gen_hook_docs.py`` (a test fails when it is stale). Hooks are grouped by the
stage of a run they serve, under ``# ==== Title: what they serve`` comments that become the
reference's sections. Each docstring is a description, then ``:param name:`` for every parameter
and ``:return:`` unless the hook returns ``None``; whether all implementations are called or the
first result wins comes from the spec itself.

Core code never calls ``pm.hook`` directly: it goes through the typed facade in
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
    from backprop_core.interop.importer import Importer
    from backprop_core.launch.spec import FrameworkAdapter, Launcher, Monitor, Watcher
    from backprop_core.settings import Settings
    from backprop_core.store.contract import Store
    from backprop_core.store.records import RunRecord, SessionRecord

PROJECT = "backprop"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ==== Admission hooks: reading the machine, and deciding whether a run may start


@hookspec
def backprop_register_probes() -> list[type[HostProbe] | type[GpuProbe]]:
    """Resource probe classes, host or GPU; the lists of all plugins are concatenated.

    A probe class has ``name``, ``kind`` (``"host"`` or ``"gpu"``),
    ``available() -> Availability`` and ``snapshot()`` (``HostInfo`` for host probes,
    ``GpuReading`` for GPU probes; raise ``ProbeError`` with a one-line reason on failure). GPU
    probes also have ``priority`` and ``close()``. Probe names must be unique.
    ``--gpu-probe auto`` takes the available GPU probe with the lowest priority: ``nvml`` (10),
    then ``nvidia-smi`` (20), then ``none`` (1000). Built in: ``host``, ``nvml``,
    ``nvidia-smi``, ``none``.

    :return: ``HostProbe`` / ``GpuProbe`` subclasses (classes, not instances).
    """


@hookspec
def backprop_admission_vote(
    request: AdmissionRequest, snapshot: Snapshot, settings: Settings
) -> Vote | list[Vote] | None:
    """An admission policy: vote on whether a run may start now.

    Any ``refuse`` refuses, else any ``wait`` waits, else the run is admitted; every reason is
    shown. A vote's ``eligible_gpus`` narrows the GPUs the run may get (the intersection of all
    such sets is used). Built in: ``ram``, ``cpu-load``, ``gpu-vram``, ``gpu-temperature``,
    ``gpu-count``, ``parallel-slots``.

    :param request: what the run asks for: GPU count, GPUs reserved by other runs, active runs.
    :param snapshot: the machine now, as the probes read it.
    :param settings: the effective settings.
    :return: a ``Vote(policy, verdict, reason, eligible_gpus)``, a list of votes, or ``None``
        for no opinion.
    """


# ==== Launch hooks: how the script is started


@hookspec
def backprop_register_frameworks() -> list[type[FrameworkAdapter]]:
    """Framework adapter classes, which cap the GPU memory the way each framework allows.

    An adapter has ``name``, ``priority``, ``detect(script) -> bool`` (must not import the
    framework) and ``prepare(spec) -> Preparation`` (environment and ``PYTHONPATH`` additions
    that enforce the GPU memory cap, and a note for ``--dry-run``). ``-f auto`` uses the first
    adapter, by priority, whose ``detect`` matches, else ``generic``. Built in: ``pytorch``,
    ``tensorflow``, ``jax``, ``generic``.

    :return: ``FrameworkAdapter`` subclasses.
    """


@hookspec
def backprop_register_launchers() -> list[type[Launcher]]:
    """Launcher classes, which start and supervise one session each.

    All implementations are called; ``--launcher`` (the ``launcher`` setting) picks one by
    ``name``: ``local`` (the default) runs sessions here, ``slurm`` submits each as a batch job.

    A launcher has ``name`` and ``launch(spec, context)``, which runs the session described by
    the ``LaunchSpec`` to its end and returns its outcome. A ``SchedulerLauncher`` hands the
    session to a batch scheduler instead: ``batch_script``/``submit`` a job that execs the
    command in ``JobRequest.supervise`` (``backprop supervise RUN SESSION``, the session's
    supervisor), ``jobs`` says what the scheduler knows of jobs, ``cancel`` and ``signal`` stop
    them, ``current_job`` describes the job the supervisor runs in (docs/plugins.md,
    "Launchers").

    :return: ``Launcher`` subclasses.
    """


# ==== Supervision hooks: what the running script says, and what watches it


@hookspec(firstresult=True)
def backprop_parse_line(line: str, context: ParseContext) -> Event | None:
    """An event parser: turn one line of the script's output into an event.

    The supervisor calls it for each line that no parser before it claimed, in the parser
    chain's order ("How parsers combine" in ``docs/plugins.md``). The first implementation that
    returns an ``Event`` claims the line: it is an event line, offered to no later parser and
    kept off the terminal. A plugin that also implements ``backprop_parse_lines`` is called
    through that hook only. Lines no parser claims are plain output.

    :param line: one line of the script's output, without its newline, decoded as UTF-8 with
        replacement.
    :param context: where the line came from: run id, session number, stream, working
        directory, settings and the session's shared ``ParseState``.
    :return: an ``Event``, or ``None`` to leave the line to the other parsers.
    """


@hookspec
def backprop_parse_lines(lines: list[bytes], context: ParseContext) -> ParsedLines | None:
    """A batch parser: turn a chunk of the script's output lines into events at once.

    The supervisor reads output in chunks of up to thousands of lines; a batch parser sees a
    whole chunk in one call, which lets it decode, match and build columns (``MetricLines``,
    ``MetricColumns``) at C speed. All implementations are called, one after the other,
    together with the line parsers (``backprop_parse_line``) in one chain: ``tryfirst``
    parsers, unmarked ones, then ``trylast`` ones, the most recently registered first within
    each group. Each parser gets only the lines no parser before it claimed, so a line is
    parsed once ("How parsers combine" in ``docs/plugins.md``). The built-in JSON event
    parser (``json_events``, see ``docs/events.md``) is ``tryfirst`` (event lines and the SDK
    keep priority); the output scalars parser (``output_scalars``, see
    ``docs/unmodified-scripts.md``) is ``trylast`` and claims nothing (its lines stay plain
    output).

    :param lines: complete lines as bytes, without their newlines, in output order (lines
        over 1 MiB are never offered).
    :param context: where the lines came from: run id, session number, stream (``stdout``,
        ``stderr``, or ``events`` for the SDK's pipe), working directory, settings and the
        session's shared ``ParseState``.
    :return: a ``ParsedLines`` (the events, and the indexes of the lines that were events),
        or ``None`` when none of the lines is an event.
    """


@hookspec
def backprop_register_monitors() -> list[type[Monitor]]:
    """In-run monitor classes (NaN alerts, stall watchdog...).

    Each class's ``create(settings)`` decides whether it is on for a session. The supervisor
    calls ``on_event(event, now)``, ``on_output(now)`` and ``on_tick(now)``, and acts on the
    ``MonitorAction`` returned: an alert, recorded with the run, and optionally a stop with a
    status and reason. A monitor that only looks at non-finite metric values and at activity
    may set ``sees_every_event = False``: of a run of hot-path metrics lines it is then shown
    only those holding a NaN/±Inf value plus the last one. Built in: ``nan``, ``stall``.

    :return: ``Monitor`` subclasses.
    """


@hookspec
def backprop_register_watchers() -> list[type[Watcher]]:
    """Watcher classes: things the supervisor polls on a thread of its own during a session,
    turning what they see on disk into events that are recorded like the script's own.

    All implementations are called and their lists concatenated; watcher names must be
    unique. For each session the supervisor calls each class's ``create(context)`` before the
    script starts (``None``: off for this session; ``context`` is a ``WatchContext``: run id,
    session, working directory, home, settings, the last step seen, and which checkpoints the
    script announced itself), then ``poll(now)`` every ``poll_seconds`` while the script runs
    (the thread sleeps at most 5 s), and ``finish(now)`` once after it and every process it
    started ended. The events they return (``checkpoint_saved``, ``metrics``, ``alert``…) go
    into the same store, status line, monitors and ``backprop_run_event`` listeners as parsed
    output. A watcher that raises is reported once (``watcher 'NAME' stopped: …``) and dropped
    for the rest of the session; the run goes on. ``resumable(context)``, a class
    method, tells ``resume`` which checkpoints of the run are on disk. Built in:
    ``checkpoints`` (checkpoint files found without being announced; see
    docs/unmodified-scripts.md) and ``tensorboard`` (the scalars of the event files the script
    writes; see docs/interop.md).

    :return: ``Watcher`` subclasses (classes, not instances).
    """


# ==== Record hooks: where runs are kept, and how they leave


@hookspec
def backprop_register_stores() -> list[type[Store]]:
    """Store classes; the ``store`` setting picks one by ``name``.

    A store implements the ``Store`` contract of ``backprop_core.store.contract`` (including
    ``beat``, the session heartbeat, and ``StoreFull`` for writes that fail for lack of space)
    and must pass the shared contract suite (see ``docs/store.md``), artifact records included.
    It should override ``Store.run_ids_in`` and ``Store.artifact_digests_in`` so that ``gc``
    can ask which runs and artifact contents it holds under a home without creating anything
    (by default ``gc`` opens it and lists them). A store on a server names the URL schemes it
    takes in ``Store.schemes``; a ``store`` setting with such a URL selects it, bound to the URL
    (``Store.at``). Built in: ``sqlite``, ``json``, ``postgres`` (``postgresql://`` URLs).

    :return: ``Store`` subclasses.
    """


@hookspec
def backprop_register_exporters() -> list[type[Exporter]]:
    """Exporter classes for ``backprop export``; ``--format`` picks one by ``name``.

    An exporter has ``name``, ``suffix``, ``binary`` and ``export(store, runs, out)``; one that
    writes a folder (``directory = True``) has ``export_to(store, runs, folder)`` instead, and
    ``-o`` names the folder. Built in: ``csv``, ``json``, ``tensorboard``. ``export
    --all-sessions`` sets the instance's ``all_sessions`` before calling ``export`` or
    ``export_to``: pass it on to ``Store.metric_series`` to include the points a later session
    superseded (see "Sessions that rewind" in ``docs/store.md``).

    :return: ``Exporter`` subclasses.
    """


@hookspec
def backprop_register_importers() -> list[type[Importer]]:
    """Importer classes for ``backprop import PATH``; ``--format`` picks one by ``name``.

    An importer has ``name``, ``description``, ``priority``, ``detect(path) -> bool`` (cheap,
    never raises) and ``import_into(store, path) -> ImportReport``. Without ``--format``, the
    importers whose ``detect`` matches are asked, lowest ``priority`` first. Importers plan
    each run as an ``ImportedRun`` and write it with ``write_run`` (``backprop_core.plugin_kit``),
    which skips runs already imported, writes each run all or nothing and tags it
    ``imported-from=<name>``, so ``gc`` and ``rm`` never delete a file it names. Built in:
    ``node``, ``csv``, ``json``, ``tensorboard``, ``mlflow``, ``wandb``.

    :return: ``Importer`` subclasses.
    """


# ==== Lifecycle notifications: a run's sessions and events, as they happen


@hookspec
def backprop_run_started(run: RunRecord, session: SessionRecord) -> None:
    """A session of a run started.

    Return values are ignored; an exception becomes a warning and never stops the run.

    :param run: the run as recorded when its session started.
    :param session: the new session.
    """


@hookspec
def backprop_run_event(run: RunRecord, event: Event) -> None:
    """The running script emitted an event (not the environment and ``sys/…`` metrics the
    supervisor itself records).

    Return values are ignored; an exception becomes a warning and never stops the run. It runs
    on the supervisor's output path: keep it cheap.

    :param run: the run the script belongs to.
    :param event: the parsed event.
    """


@hookspec
def backprop_run_finished(run: RunRecord, session: SessionRecord) -> None:
    """A session of a run ended.

    Return values are ignored; an exception becomes a warning.

    :param run: the run with the session's outcome recorded.
    :param session: the session that ended; its ``status`` says how.
    """


# ==== Command-line hooks


@hookspec
def backprop_register_commands(cli: click.Group) -> None:
    """Add commands to the ``backprop`` CLI; they show in ``backprop --help``.

    :param cli: the root command group; add commands with ``@cli.command()`` or
        ``cli.add_command(...)``.
    """
