"""Events protocol v1 (docs/events.md): the typed ``Event`` every parser produces and every
store keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from backprop_core.events.file_identity import FileIdentity

if TYPE_CHECKING:
    from backprop_core.settings.model import Settings

from backprop_core.artifacts.records import ArtifactVersion

Stream = Literal["stdout", "stderr", "events"]


@dataclass(frozen=True)
class Event:
    """One event from a training script.

    ``kind`` is the ``event`` field (unknown names are kept, not rejected); ``payload`` is the
    whole JSON object the script sent, minus ``event``. ``step`` is lifted out of the payload
    when it is an integer. ``time`` is when backprop received it (unix seconds) unless the
    payload carried its own ``time``.

    ``file`` is what backprop itself saw of a ``checkpoint_saved`` event's file when the event
    arrived (``events.file_identity.witness``); parsers never set it, so a script cannot.
    ``artifact`` likewise is what backprop stored for an ``artifact`` event, or the version it
    resolved for a ``use_artifact`` event (``artifacts.witness``).
    """

    kind: str
    time: float
    step: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    session: int | None = None
    file: FileIdentity | None = None
    artifact: ArtifactVersion | None = None

    @property
    def data(self) -> Mapping[str, Any]:
        """``payload["data"]`` when it is an object (metrics, summary), else empty."""
        d = self.payload.get("data")
        return d if isinstance(d, Mapping) else {}


@dataclass
class ParseState:
    """What the parsers of one session share across its streams (one object per session).

    ``step``: the run's last known step (from any event so far, or from the run's record when
    the session started); a parser may advance it from what it reads. ``reported_metrics``:
    whether the script has reported metrics itself, as event lines or through the SDK.
    ``memo``: parsers' own state between chunks, one key per plugin (its entry-point name).
    """

    step: int | None = None
    reported_metrics: bool = False
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParseContext:
    """Where lines come from, handed to ``backprop_parse_lines``/``backprop_parse_line``.

    ``settings`` are the session's effective settings (``None`` outside a supervised session);
    ``state`` is shared by the contexts of the session's streams.
    """

    run_id: str
    session: int
    stream: Stream
    cwd: str
    settings: Settings | None = field(default=None, compare=False)
    state: ParseState = field(default_factory=ParseState, compare=False)
