"""Reading a large import's source in a child process while this process stores it.

Importing a big run is two CPU-bound halves of about the same size: decoding the source
(protobuf records, JSON lines...) and storing the points. Where ``fork`` is available, a child
process runs the reading half (``ImportedRun.batches``) and sends each batch over a pipe, so the
two halves use two cores. The child works on a copy of the plan: what reading adds to it
(warnings, fields set once every event is written) comes back with the last message. A failure
in the child is raised here, as if the batches had been read in this process; a failure here
(or Ctrl-C) stops the child.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from backprop_core.interop.importer import ImportedRun

#: Sources smaller than this are read in this process: a fork costs milliseconds, and a small
#: run is stored in about as long.
READ_AHEAD_BYTES = 4 << 20


def can_read_ahead() -> bool:
    """Whether batches can be read in a forked child here (Linux: ``fork`` is safe there for
    a process like this one; macOS and Windows lack it or discourage it)."""
    return sys.platform.startswith("linux")


def read_ahead(planned: ImportedRun) -> None:
    """Make ``planned.batches`` come from a child process that reads them."""
    planned.batches = _from_child(planned, planned.batches)


def _from_child(planned: ImportedRun, source: Iterable[Sequence[Any]]) -> Iterator[Any]:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_read, args=(there, planned, source), daemon=True)
    child.start()
    there.close()
    try:
        while True:
            try:
                message = here.recv()
            except EOFError:
                from backprop_core.interop.importer import SourceError

                raise SourceError(
                    f"{planned.label or planned.run.id}: reading it stopped unexpectedly"
                ) from None
            if message[0] == "batch":
                yield message[1]
            elif message[0] == "end":
                _, warnings, finally_set, session_updates = message
                planned.warnings[:] = warnings
                planned.finally_set.update(finally_set)
                planned.session_updates.update(session_updates)
                return
            else:
                raise message[1]
    finally:
        here.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _read(conn: Connection, planned: ImportedRun, source: Iterable[Sequence[Any]]) -> None:
    """The child: every batch, then what reading added to the plan; or the exception."""
    try:
        for batch in source:
            conn.send(("batch", batch))
        conn.send(("end", planned.warnings, planned.finally_set, planned.session_updates))
    except BaseException as exc:  # Ctrl-C included: the parent decides what it means
        with contextlib.suppress(Exception):  # the parent may be gone already
            try:
                conn.send(("raise", exc))
            except Exception:  # an exception that cannot be pickled: its text, at least
                conn.send(("raise", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()
