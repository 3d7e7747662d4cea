"""Host probe ``host``: CPU count, 1-minute load and available RAM.

The probe class is imported only when probes are asked for, so loading this plugin costs
nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import HostProbe


@hookimpl
def backprop_register_probes() -> list[type[HostProbe]]:
    from backprop_host.probe import LocalHostProbe

    return [LocalHostProbe]
