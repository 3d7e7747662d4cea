"""``open_store``: the one way commands and the SDK get the configured run store."""

from __future__ import annotations

import sys

from backprop_core.errors import HomeNotFound, StoreError
from backprop_core.plugin.manager import get_plugins
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.files import os_error_to_store_error
from backprop_core.store.home import Home


def open_store(
    settings: Settings,
    *,
    reconcile: bool = True,
    require_writable: bool = False,
    create: bool = True,
) -> Store:
    """Open the store named by ``settings.store`` under ``settings.home``.

    Creates the home if missing (without ``create``, commands that only read runs, it raises
    ``HomeNotFound`` instead: a mistyped ``--home`` must not leave an empty home behind; a
    store on a server, whose records are not in the home, is read without one), opens
    (and if needed migrates) the store, and, with ``reconcile``, marks runs whose supervisor is
    gone as ``lost`` (``store.liveness``). With ``require_writable`` it also proves a run could
    be recorded (``Store.check_writable``), which commands that start runs ask for before
    starting anything.
    """
    cls = get_plugins().store_class(settings.store)
    # A store on a server keeps no records in the home: reading it needs no home here.
    if create or cls.location is None:
        if not create:
            require_home(settings)
        try:
            Home(settings.home).ensure()
        except OSError as exc:
            raise os_error_to_store_error(exc, "create the backprop home") from exc
    store = cls(settings.home)
    if require_writable:
        store.check_writable()
    if reconcile:
        from backprop_core.store.liveness import reconcile as reconcile_runs

        active = store.active_runs()  # a store that cannot even be read says so once, here
        try:
            reconcile_runs(store, settings.liveness.lost_after_seconds, active)
        except StoreError as exc:
            # Reading must keep working on a read-only store; say why runs are not reconciled.
            print(f"backprop: warning: could not mark lost runs: {exc}", file=sys.stderr)
    return store


def require_home(settings: Settings) -> None:
    """``HomeNotFound`` unless ``settings.home`` is an existing folder."""
    if not settings.home.is_dir():
        raise HomeNotFound(
            f"the backprop home {settings.home} does not exist",
            hint="check --home and BACKPROP_HOME, or start a run, which creates it",
        )


def open_location(text: str, settings: Settings, *, source: bool) -> Store:
    """The store at ``text``, for ``store copy``: a URL (``postgresql://…``), or a home folder,
    whose store is the one holding runs there (``NAME:PATH`` picks one by name). A source must
    hold runs; a destination home gets the store that holds runs there, else the ``store``
    setting's (when it names a store in the home), else the default. Nothing is reconciled."""
    from pathlib import Path

    from backprop_core.errors import UsageError

    plugins = get_plugins()
    if "://" in text:
        cls = plugins.store_class(text)
        Home(settings.home).ensure()
        return cls(settings.home)
    in_home = {name: cls for name, cls in plugins.stores().items() if not cls.schemes}
    name, _, rest = text.partition(":")
    chosen = in_home.get(name) if rest else None
    home = Path(rest if chosen is not None else text).expanduser().resolve()
    if chosen is None:
        holding = [n for n, cls in sorted(in_home.items()) if cls.run_ids_in(home)]
        if len(holding) > 1:
            raise UsageError(
                f"{home} holds runs of several stores ({', '.join(holding)})",
                hint=f"say which, e.g. {holding[0]}:{home}",
            )
        if holding:
            chosen = in_home[holding[0]]
        elif source:
            raise UsageError(
                f"no runs found in {home}", hint="give a backprop home, or a postgresql:// URL"
            )
        else:
            default = settings.store if settings.store in in_home else Settings.store
            chosen = in_home[default]
    try:
        Home(home).ensure()
    except OSError as exc:
        raise os_error_to_store_error(exc, "create the backprop home") from exc
    return chosen(home)
