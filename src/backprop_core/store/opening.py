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
    ``HomeNotFound`` instead: a mistyped ``--home`` must not leave an empty home behind), opens
    (and if needed migrates) the store, and, with ``reconcile``, marks runs whose supervisor is
    gone as ``lost`` (``store.liveness``). With ``require_writable`` it also proves a run could
    be recorded (``Store.check_writable``), which commands that start runs ask for before
    starting anything.
    """
    cls = get_plugins().store_class(settings.store)
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
