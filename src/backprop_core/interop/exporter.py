"""Exporter plugin base: turns stored runs into a file format (``backprop export``)."""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence
from pathlib import Path
from typing import IO, ClassVar

from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord


class Exporter(ABC):
    """Writes runs to ``out`` (``export``), or into a folder when ``directory`` is set
    (``export_to``). ``binary`` says whether ``out`` is opened in binary mode.

    ``all_sessions`` (set by ``export --all-sessions`` before ``export`` or ``export_to`` is
    called) asks for the metric points a later session superseded too: pass it to
    ``Store.metric_series``.
    """

    name: ClassVar[str]
    suffix: ClassVar[str] = ""
    binary: ClassVar[bool] = False
    #: Whether the format is a folder (``-o`` names it) rather than one file or stdout.
    directory: ClassVar[bool] = False
    all_sessions: bool = False

    def export(self, store: Store, runs: Sequence[RunRecord], out: IO[str] | IO[bytes]) -> None:
        """Write every run (record, sessions, checkpoints, metrics) to ``out``."""
        raise NotImplementedError(f"the {self.name} exporter writes a folder")

    def export_to(self, store: Store, runs: Sequence[RunRecord], folder: Path) -> list[Path]:
        """Write every run into ``folder`` (which exists); return what was written there."""
        raise NotImplementedError(f"the {self.name} exporter writes a file")
