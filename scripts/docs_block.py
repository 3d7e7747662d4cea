"""A generated block inside a hand-written Markdown file, between two HTML comments, and the
``--check`` / write entry point the ``gen_*_docs.py`` scripts share."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

WIDTH = 100


def fill(text: str, indent: str = "") -> str:
    """One Markdown paragraph wrapped like the hand-written docs (``x`` becomes `x`)."""
    return textwrap.fill(
        text.replace("``", "`"),
        width=WIDTH,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def replace_block(text: str, begin: str, end: str, block: str, where: Path) -> str:
    """``text`` with everything from ``begin`` to ``end`` (markers included) replaced by
    ``block``, which holds both markers."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{where}: the markers {begin!r} and {end!r} are missing")
    rest = text[stop + len(end) :].lstrip("\n")
    return text[:start] + block.rstrip("\n") + "\n" + ("\n" + rest if rest else "")


def generate(target: Path, begin: str, end: str, render: Callable[[], str]) -> None:
    """Write ``target`` with a fresh block; with ``--check``, exit 1 when it is stale."""
    current = target.read_text(encoding="utf-8")
    fresh = replace_block(current, begin, end, "\n\n".join([begin, render(), end]), target)
    if "--check" in sys.argv:
        sys.exit(0 if fresh == current else 1)
    target.write_text(fresh, encoding="utf-8")
