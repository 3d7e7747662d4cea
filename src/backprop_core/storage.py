"""``open_store``: the one way commands and the SDK get the configured run store."""

from __future__ import annotations

import errno
import sys

from backprop_core.errors import StoreError
from backprop_core.paths import Home
from backprop_core.plugins import get_plugins
from backprop_core.settings.model import Settings
from backprop_core.store import Store

_WHAT_TO_DO = {
    errno.EROFS: "the disk is read-only; set BACKPROP_HOME or --home to a writable folder",
    errno.EACCES: "permission denied; set BACKPROP_HOME or --home to a folder you can write",
    errno.EPERM: "permission denied; set BACKPROP_HOME or --home to a folder you can write",
    errno.ENOSPC: "the disk is full; free some space or set BACKPROP_HOME to another disk",
    errno.EDQUOT: "the disk quota is exceeded; free some space or set BACKPROP_HOME elsewhere",
    errno.ENOTDIR: "a file is in the way; set BACKPROP_HOME or --home to a folder",
    errno.EEXIST: "a file is in the way; set BACKPROP_HOME or --home to a folder",
}


def os_error_to_store_error(exc: OSError, what: str) -> StoreError:
    """A one-line ``StoreError`` saying what failed and what to do about it."""
    hint = _WHAT_TO_DO.get(exc.errno or 0, "check the folder and set BACKPROP_HOME if needed")
    where = f" {exc.filename}" if exc.filename else ""
    return StoreError(f"cannot {what}{where}: {exc.strerror or exc}", hint=hint)


def open_store(
    settings: Settings, *, reconcile: bool = True, require_writable: bool = False
) -> Store:
    """Open the store named by ``settings.store`` under ``settings.home``.

    Creates the home if missing, opens (and if needed migrates) the store, and, with
    ``reconcile``, marks runs whose supervisor is gone as ``lost``. With ``require_writable``
    it also proves a run could be recorded (``Store.check_writable``), which commands that
    start runs ask for before starting anything.
    """
    cls = get_plugins().store_class(settings.store)
    try:
        Home(settings.home).ensure()
    except OSError as exc:
        raise os_error_to_store_error(exc, "create the backprop home") from exc
    store = cls(settings.home)
    if require_writable:
        store.check_writable()
    if reconcile:
        from backprop_core.liveness import reconcile as reconcile_runs

        try:
            reconcile_runs(store)
        except StoreError as exc:
            # Reading must keep working on a read-only store; say why runs are not reconciled.
            print(f"backprop: warning: could not mark lost runs: {exc}", file=sys.stderr)
    return store
