"""Which runs a destructive command (``rm``, ``gc --run``) acts on.

RUN must name a run exactly: its full id, its name, or its id's random suffix. A run matched
only by an id prefix is acted on after showing its id and name and asking on a terminal, or
with ``--yes``; without a terminal and without ``--yes`` the command refuses (exit 2).
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import click

from backprop_core.errors import AmbiguousRun, RunNotFound, UsageError
from backprop_core.render.terminal import terminal_text
from backprop_core.store.contract import Store
from backprop_core.store.records import RunFilter, RunRecord


@dataclass(frozen=True)
class Target:
    """One run a deleting command acts on, and how the user named it."""

    ref: str
    run: RunRecord
    #: Matched only as a prefix of its id: the user has not named it exactly.
    by_prefix: bool = False

    def label(self) -> str:
        return f"{self.run.id} ({self.run.name})" if self.run.name else self.run.id


def _by_suffix(store: Store, ref: str) -> list[RunRecord]:
    return [r for r in store.list_runs() if r.id.endswith("-" + ref)] if "-" not in ref else []


def resolve_exactly(store: Store, ref: str) -> Target:
    """The run ``ref`` names: exact id, then exact name, then exact id suffix; else a unique
    id prefix, marked as such. ``RunNotFound``/``AmbiguousRun`` as ``Store.resolve``."""
    try:
        return Target(ref, store.get_run(ref))
    except RunNotFound:
        pass
    named = store.list_runs(RunFilter(name=glob.escape(ref))) if ref else []
    if len(named) > 1:
        raise AmbiguousRun(ref, [r.id for r in named])
    if named:
        return Target(ref, named[0])
    try:
        run = store.resolve(ref)
    except AmbiguousRun:
        suffixed = _by_suffix(store, ref)  # an exact suffix beats ambiguous prefixes
        if len(suffixed) == 1:
            return Target(ref, suffixed[0])
        raise
    if not run.id.startswith(ref):
        return Target(ref, run)  # Store.resolve found it by its suffix
    suffixed = _by_suffix(store, ref)
    if len(suffixed) > 1:
        raise AmbiguousRun(ref, [r.id for r in suffixed])
    if suffixed:
        return Target(ref, suffixed[0])
    return Target(ref, run, by_prefix=True)


def confirm(targets: Sequence[Target], verb: str, yes: bool, always_ask: bool) -> None:
    """Ask before acting on ``targets`` (always with ``always_ask``, else only when one was
    matched by a prefix); ``--yes`` skips the question. Without a terminal to ask on, refuse."""
    prefixed = [t for t in targets if t.by_prefix]
    if yes or not (always_ask or prefixed):
        return
    if not sys.stdin.isatty():
        if prefixed:
            t = prefixed[0]
            raise UsageError(
                f"'{t.ref}' is only a prefix of the id of run {t.label()}",
                hint=f"give its full id, name or id suffix, or add --yes to {verb} it",
            )
        raise UsageError(f"{verb} {len(targets)} run(s) needs confirmation", hint="add --yes")
    for t in targets:
        note = "  (matched by an id prefix)" if t.by_prefix else ""
        click.echo(f"  {terminal_text(t.label())}{note}")
    click.confirm(f"{verb.capitalize()} {len(targets)} run(s)?", abort=True)
