"""The ``backprop`` console script: ``--version`` answered at once, everything else by the
command-line interface in ``cli/main.py``.

Installers and scripts call ``backprop --version`` to check an installation; answering it
without importing click (and, through click, ``inspect``, ``uuid``, ``platform``…) keeps it
close to the interpreter's own start-up. The text is click's, so both paths print the same.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on this path
if TYPE_CHECKING:
    from typing import Any

VERSION_FLAGS = ("--version", "-V")


def main(argv: list[str] | None = None) -> Any:
    """Run ``backprop ARGS`` (``sys.argv`` when ``argv`` is ``None``, as the console script and
    ``python -m backprop_core.cli`` call it: the process then ends with the command)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) == 1 and args[0] in VERSION_FLAGS:
            from backprop_core.__about__ import __version__

            print(f"backprop, version {__version__}")
            return None
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
