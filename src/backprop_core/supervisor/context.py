"""Everything a session supervisor needs from the runner, in one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from backprop_core.events.event import Event, ParseContext
from backprop_core.launch.spec import LaunchSpec
from backprop_core.plugin.manager import PluginManager
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord
from backprop_core.supervisor.display import Display


@dataclass
class SessionContext:
    """``store`` is used from the supervisor's main thread only; ``open_store`` opens another
    one for the event writer thread. ``terminal_out``/``terminal_err`` receive the teed output
    (``None`` to keep it off the terminal). ``parse_all_lines`` offers every line to the parsers
    (needed when a plugin other than the JSON parser might claim non-JSON lines); ``parser``
    replaces the full ``backprop_parse_line`` hook when set. ``job`` is set for a session that
    runs inside a scheduler's job: what its session record's ``launcher`` holds; that record
    exists already (queued, made at submission) and is completed instead of added."""

    spec: LaunchSpec
    run: RunRecord
    store: Store
    open_store: Callable[[], Store]
    log_path: Path
    plugins: PluginManager
    display: Display
    terminal_out: BinaryIO | None
    terminal_err: BinaryIO | None
    #: The line parser (the hook, or the JSON parser directly when it is the only one).
    parser: Callable[[str, ParseContext], Event | None]
    gpu_labels: tuple[str, ...] = ()
    parse_all_lines: bool = False
    notify_events: bool = True
    job: dict[str, Any] | None = None
