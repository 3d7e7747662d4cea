"""The supervisor (lifecycle steps 4-6 in docs/architecture.md): one session of a run, from
launch to its last process."""

from __future__ import annotations

from backprop_core.supervisor.context import SessionContext
from backprop_core.supervisor.display import Display
from backprop_core.supervisor.ending import SessionOutcome
from backprop_core.supervisor.session import Supervisor

__all__ = ["Display", "SessionContext", "SessionOutcome", "Supervisor"]
