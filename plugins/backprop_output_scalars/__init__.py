"""Metrics from printed lines (output scalars): scripts that print ``iter 10: loss 2.34, time
139ms`` get their metrics recorded without changing a line (docs/unmodified-scripts.md).

A batch parser registered ``trylast``: it sees only the lines no other parser claimed as
events, and claims none itself (its lines stay plain output on the terminal and in the log).
It stands down for the rest of a session once the script reports metrics itself (JSON event
lines or the SDK), and never reads the SDK's pipe. The rules are in ``rules.py``, the fast
path over chunks in ``scan.py``, your own patterns in ``patterns.py``; the ``outputScalars``
settings turn it off, add patterns, or ignore keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import ParseContext, ParsedLines


@hookimpl(trylast=True)
def backprop_parse_lines(lines: list[bytes], context: ParseContext) -> ParsedLines | None:
    from backprop_output_scalars.scan import scanner_for

    return scanner_for(context).scan(lines, context)
