"""Exporter plugin base: turns stored runs into a file format (``backprop export``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import IO, ClassVar

from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord


class Exporter(ABC):
    """Writes runs to ``out``. ``binary`` says whether ``out`` is opened in binary mode.

    ``all_sessions`` (set by ``export --all-sessions`` before ``export`` is called) asks for the
    metric points a later session superseded too: pass it to ``Store.metric_series``.
    """

    name: ClassVar[str]
    suffix: ClassVar[str] = ""
    binary: ClassVar[bool] = False
    all_sessions: bool = False

    @abstractmethod
    def export(self, store: Store, runs: Sequence[RunRecord], out: IO[str] | IO[bytes]) -> None:
        """Write every run (record, sessions, checkpoints, metrics) to ``out``."""
