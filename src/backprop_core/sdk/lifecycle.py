"""How a run ends when the script does not call ``finish()``: signals, exceptions, exit.

Signals (installed by ``init`` from the main thread, for SIGTERM and SIGINT):

* under ``backprop run`` the handler only records that a stop was asked, so ``should_stop()``
  and ``should_checkpoint()`` turn true; the script saves and leaves on its own, and the
  supervisor kills it after the grace period if it does not. A Python handler that was
  installed before ``init`` is still called after the flag is set. A handler the script
  installs *after* ``init`` replaces the SDK's: ``should_stop()`` then no longer sees signals.
* standalone the handler also records the stop, then ends the script the conventional way:
  SIGINT raises ``KeyboardInterrupt``, SIGTERM raises ``SystemExit(128 + 15)``. Either way
  ``finally`` blocks run and the exit hook records the run as ``interrupted``.

An uncaught exception (``sys.excepthook``, chained) marks a standalone run ``failed``
(``interrupted`` for ``KeyboardInterrupt``); at interpreter exit (``atexit``) whatever is still
buffered is delivered and a standalone run still open is marked ``completed`` (or
``interrupted`` after a signal, or ``failed`` after ``sys.exit`` with a non-zero status).

An exit hook cannot see the process's exit status, so ``sys.exit`` is wrapped (chained with any
earlier wrapper) to remember the status the main thread last asked for; ``argparse`` errors go
through it too. A bare ``raise SystemExit(1)`` bypasses it and is recorded as ``completed``.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from backprop_core.sdk.run import Run

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_current: Callable[[], Run | None] = lambda: None  # noqa: E731 - replaced by install()
_pid = os.getpid()  # a forked child (e.g. a data loader worker) must not end the parent's run
_installed = False
_previous_excepthook: Callable[..., Any] | None = None
_previous_handlers: dict[int, Any] = {}
_signalled: list[int] = []
#: Statuses the main thread passed to ``sys.exit``, last one last.
_exit_statuses: list[object] = []
_previous_exit: Callable[..., Any] = sys.exit


def _exit(status: object = None, /) -> Any:
    if threading.current_thread() is threading.main_thread():
        _exit_statuses.append(status)
    _previous_exit(status)


def exit_failure(status: object) -> str | None:
    """The reason a run failed when the script exits with ``status``; ``None`` for success
    (``None`` and ``0``, as the interpreter reads them)."""
    if status is None or status == 0:
        return None
    if isinstance(status, int):
        return f"exited with status {status}"
    return f"exited with status 1: {status}"


def _handle_signal(signum: int, frame: FrameType | None) -> None:
    run = _current() if os.getpid() == _pid else None
    if run is not None and not run.finished:
        run.request_stop()
        if run.supervised:
            previous = _previous_handlers.get(signum)
            if callable(previous) and previous is not signal.default_int_handler:
                previous(signum, frame)
            return
        _signalled.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    run = _current() if os.getpid() == _pid else None
    if run is not None and not run.finished:
        try:
            if issubclass(exc_type, KeyboardInterrupt):
                run.finish("interrupted", "interrupted (KeyboardInterrupt)")
            else:
                run.finish("failed", f"{exc_type.__name__}: {exc}")
        except Exception as err:
            print(f"backprop: warning: could not record the failure: {err}", file=sys.stderr)
    (_previous_excepthook or sys.__excepthook__)(exc_type, exc, tb)


def _at_exit() -> None:
    run = _current() if os.getpid() == _pid else None
    if run is None or run.finished:
        return
    if _signalled:
        name = signal.Signals(_signalled[0]).name
        run.finish("interrupted", f"stopped by {name}")
        return
    failure = exit_failure(_exit_statuses[-1]) if _exit_statuses else None
    if failure is not None and not run.supervised:
        run.finish("failed", failure)
    else:
        run.finish()


def install(current: Callable[[], Run | None]) -> None:
    """Install the hooks once per process; ``current`` returns the active run."""
    global _current, _installed, _previous_excepthook, _previous_exit, _pid
    _current = current
    _pid = os.getpid()
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    _previous_exit = sys.exit
    sys.exit = _exit
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    for signum in STOP_SIGNALS:
        try:
            _previous_handlers[signum] = signal.getsignal(signum)
            if _previous_handlers[signum] == signal.SIG_IGN:
                continue  # e.g. nohup: the user asked for this signal to be ignored
            signal.signal(signum, _handle_signal)
        except (ValueError, OSError):
            pass
