"""Everything a session supervisor needs from the runner, in one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from backprop_core.events.parsing import ParserChain
from backprop_core.launch.spec import LaunchSpec
from backprop_core.plugin.manager import PluginManager
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord
from backprop_core.supervisor.display import Display


@dataclass
class SessionContext:
    """``store`` is used from the supervisor's main thread only; ``open_store`` opens another
    one for the event writer thread. ``terminal_out``/``terminal_err`` receive the teed output
    (``None`` to keep it off the terminal); event lines stay off it unless ``show_events``.
    ``parsers`` is the parser chain every chunk of output goes through."""

    spec: LaunchSpec
    run: RunRecord
    store: Store
    open_store: Callable[[], Store]
    log_path: Path
    plugins: PluginManager
    display: Display
    terminal_out: BinaryIO | None
    terminal_err: BinaryIO | None
    parsers: ParserChain
    gpu_labels: tuple[str, ...] = ()
    show_events: bool = False
    notify_events: bool = True
