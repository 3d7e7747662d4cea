"""The ``backprop`` console script: ``--version`` answered at once, everything else by the
command-line interface in ``cli/main.py``.

Installers and scripts call ``backprop --version`` to check an installation; answering it
without importing click (and, through click, ``inspect``, ``uuid``, ``platform``…) keeps it
close to the interpreter's own start-up. The text is click's, so both paths print the same.
"""

from __future__ import annotations

import sys
from typing import Any

VERSION_FLAGS = ("--version", "-V")


def main(argv: list[str] | None = None) -> Any:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 1 and args[0] in VERSION_FLAGS:
        from backprop_core.__about__ import __version__

        print(f"backprop, version {__version__}")
        return None
    from backprop_core.cli.main import main as cli_main

    return cli_main(argv)
