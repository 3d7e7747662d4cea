"""Whether a session of ``--until-done`` moved its run forward: a checkpoint past the ones
before it, or a step past every step logged before it. A chain stops at the first session that
did neither, instead of restarting a script that never saves again and again."""

from __future__ import annotations

from dataclasses import dataclass

from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord


@dataclass(frozen=True)
class Progress:
    """How far a run had got before a session: its highest step and highest checkpoint step."""

    step: int | None = None
    checkpoint_step: int | None = None

    @classmethod
    def of(cls, store: Store, run: RunRecord | None, reached: int | None = None) -> Progress:
        """``run``'s progress now; ``reached``: a higher step an earlier session logged (the
        run's last step can be lower after a resume that went back)."""
        if run is None:
            return cls()
        steps = [s for s in (run.last_step, reached) if s is not None]
        saved = [c.step for c in store.checkpoints(run.id) if c.step is not None]
        return cls(max(steps, default=None), max(saved, default=None))

    def stalled(self, store: Store, run: RunRecord, session: int) -> str | None:
        """Why ``session`` made no progress since this was taken, or ``None`` if it made some."""
        for cp in store.checkpoints(run.id):
            if cp.session != session:
                continue
            if cp.step is None or self.checkpoint_step is None or cp.step > self.checkpoint_step:
                return None
        step = run.last_step
        if step is not None and (self.step is None or step > self.step):
            return None
        where = "no step logged" if step is None else f"no step past {self.step}"
        return (
            f"session {session} made no progress (no new checkpoint, {where}); the script may "
            "not save checkpoints where backprop looks for them (checkpoints.watch)"
        )
