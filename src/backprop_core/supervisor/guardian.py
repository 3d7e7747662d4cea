"""The guardian: a tiny process that outlives a killed supervisor just long enough to clean up.

``PR_SET_PDEATHSIG`` kills the training script when its supervisor dies, but not the script's
own children, nor a grandchild that called ``setsid``. The supervisor therefore starts this
process (in its own session) with a pipe on its stdin. The guardian remembers every descendant
of the supervisor, polling a few times a second; when the pipe reaches end-of-file without the
supervisor having said ``done``, the supervisor is gone, and the guardian SIGKILLs everything it
remembered that is still the same process (pid plus start time), and every process whose
environment carries this session's ``BACKPROP_RUN_ID`` and ``BACKPROP_SESSION`` (which also
catches descendants born after the last poll, or before the guardian's first one).

That still misses a descendant that clears its environment and forks twice between two polls.
Where the session has a cgroup (see ``cgroup``), the guardian first kills the whole cgroup,
which misses nothing, and removes it.

The supervisor forks it (``guardian_client``); it can also run as
``python -m backprop_core.supervisor.guardian SUPERVISOR_PID RUN_ID SESSION [CGROUP]``.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from pathlib import Path

import psutil

POLL_SECONDS = 0.25


_DONE: dict[int, psutil.Process] = {}


def _supervisor_said_done(known: dict[int, psutil.Process]) -> bool:
    return known is _DONE


def _watch(supervisor_pid: int) -> dict[int, psutil.Process]:
    """Track descendants until the supervisor says done (``_DONE``) or disappears."""
    me = os.getpid()
    known: dict[int, psutil.Process] = {}
    timeout = 0.0  # look at the pipe first: a short session may already be over
    try:
        supervisor = psutil.Process(supervisor_pid)
    except psutil.Error:
        supervisor = None
    while True:
        ready, _, _ = select.select([0], [], [], timeout)
        timeout = POLL_SECONDS
        if ready:
            data = os.read(0, 4096)
            if b"done" in data:
                return _DONE
            if not data:
                return known
        if supervisor is None:
            return known
        try:
            for proc in supervisor.children(recursive=True):
                if proc.pid != me:
                    known.setdefault(proc.pid, proc)
        except psutil.Error:
            return known


def _marked(run_id: str, session: str) -> dict[int, psutil.Process]:
    """Processes whose environment says they belong to this session of the run."""
    found: dict[int, psutil.Process] = {}
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            env = proc.environ()
            if env.get("BACKPROP_RUN_ID") == run_id and env.get("BACKPROP_SESSION") == session:
                found[proc.pid] = proc
    return found


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        return 2
    return guard(int(argv[0]), argv[1], argv[2], Path(argv[3]) if len(argv) == 4 else None)


def guard(supervisor_pid: int, run_id: str, session: str, cgroup: Path | None = None) -> int:
    """Watch until dismissed; if the supervisor vanished instead, kill the session's processes
    (its cgroup first, when it has one)."""
    known = _watch(supervisor_pid)
    if _supervisor_said_done(known):
        return 0
    if cgroup is not None:
        from backprop_core.supervisor.cgroup import remove

        remove(cgroup)
    for pid, proc in _marked(run_id, session).items():
        known.setdefault(pid, proc)
    for proc in known.values():
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                known.setdefault(child.pid, child)
    for proc in known.values():
        with contextlib.suppress(psutil.Error):
            if proc.is_running():
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
