"""``--until-done`` inside a scheduler's job: whether the next session is queued as a job (local
chains are judged by ``run.progress``)."""

from __future__ import annotations

from dataclasses import dataclass

from backprop_core.store.records import RunRecord, RunStatus
from backprop_core.supervisor.ending import SessionOutcome


@dataclass(frozen=True)
class Progress:
    """What a session is measured against: the run's last step and newest checkpoint before
    it started."""

    last_step: int | None
    checkpoint: str | None

    def made_by(self, run: RunRecord, checkpoint: str | None) -> bool:
        """Whether the run moved on since: a higher step, or a newer checkpoint."""
        if run.last_step is not None and (self.last_step is None or run.last_step > self.last_step):
            return True
        return checkpoint is not None and checkpoint != self.checkpoint


def next_session(
    *,
    until_done: bool,
    max_sessions: int | None,
    ran: int,
    outcome: SessionOutcome,
    run: RunRecord,
    before: Progress,
    checkpoint: str | None,
) -> tuple[bool, str | None]:
    """Whether another session follows, and if the chain stops for want of progress, why.

    Sessions follow one another while each is time-boxed without the script reporting
    ``done``, up to ``max_sessions``; a session that logged no higher step and announced no
    new checkpoint ends the chain, since the next would start from the same place.
    """
    if not until_done or outcome.status != RunStatus.TIMEBOXED or outcome.done or run.done:
        return False, None
    if max_sessions is not None and ran >= max_sessions:
        return False, None
    if not before.made_by(run, checkpoint):
        return False, "no progress: the session logged no higher step and saved no new checkpoint"
    return True, None
