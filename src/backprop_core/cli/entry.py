"""The ``backprop`` console script: ``--version`` and the other side of ``pull`` answered at
once, everything else by the command-line interface in ``cli/main.py``.

Installers and scripts call ``backprop --version`` to check an installation; answering it
without importing click (and, through click, ``inspect``, ``uuid``, ``platform``…) keeps it
close to the interpreter's own start-up. The text is click's, so both paths print the same.
Likewise ``pull`` starts ``remote-helper pull-source`` on the other machine on every pull, a
no-change one included, whose time is mostly start-ups.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on this path
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from backprop_core.errors import BackpropError

VERSION_FLAGS = ("--version", "-V")
#: Internal commands answered without the command line (with no options only: given any, the
#: command line answers them), as "module:function".
DIRECT_COMMANDS: dict[tuple[str, ...], str] = {
    ("remote-helper", "pull-source"): "backprop_core.remote.pull_source:main"
}


def main(argv: list[str] | None = None) -> Any:
    """Run ``backprop ARGS`` (``sys.argv`` when ``argv`` is ``None``, as the console script and
    ``python -m backprop_core.cli`` call it: the process then ends with the command)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) == 1 and args[0] in VERSION_FLAGS:
            from backprop_core.__about__ import __version__

            print(f"backprop, version {__version__}")
            return None
        direct = DIRECT_COMMANDS.get(tuple(args))
        if direct is not None:
            return run_direct(direct)
        from backprop_core.cli.main import main as cli_main

        return cli_main(argv)
    finally:
        if argv is None:
            skip_final_collection()


def skip_final_collection() -> None:
    """The interpreter's last act is a full garbage collection over every object still alive
    (every module, class and function loaded): tens of milliseconds on a slow machine, to free
    memory the OS reclaims anyway. Freezing puts what is alive now out of its reach. Exit
    handlers still run, and module teardown still closes the files modules hold; only
    objects in reference cycles are left to the OS, which Python never promises to finalize
    at exit anyway."""
    import gc

    gc.freeze()


def run_direct(spec: str) -> None:
    """Run the function ``spec`` names, reporting a ``BackpropError`` as the command line does."""
    import importlib

    from backprop_core.errors import BackpropError

    module, attr = spec.split(":", 1)
    try:
        getattr(importlib.import_module(module), attr)()
    except BackpropError as exc:
        from backprop_core.env_vars import env_flag

        if env_flag("BACKPROP_DEBUG"):
            raise
        report(exc)
    except KeyboardInterrupt:
        sys.stderr.write("backprop: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:  # the reader went away: quietly, as click does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
        sys.exit(1)


def report(exc: BackpropError) -> NoReturn:
    """``exc`` as one line on stderr, then exit with its code."""
    from backprop_core.render.terminal import terminal_lines

    prefix = "error: " if exc.is_error else ""
    sys.stderr.write(f"backprop: {prefix}{terminal_lines(str(exc))}\n")
    sys.stderr.flush()
    sys.exit(exc.exit_code)
