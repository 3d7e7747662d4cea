"""The ``local`` launcher: runs each session on this machine under the backprop supervisor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Launcher


@hookimpl
def backprop_register_launchers() -> list[type[Launcher]]:
    from backprop_local.launcher import LocalLauncher

    return [LocalLauncher]
