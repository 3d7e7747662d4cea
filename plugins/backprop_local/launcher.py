"""The local launcher class, imported by the plugin only when launchers are asked for."""

from __future__ import annotations

from typing import Any

from backprop_core import Launcher, LaunchSpec


class LocalLauncher(Launcher):
    """Supervises the session in this process (lifecycle steps 4-6 in docs/architecture.md)."""

    name = "local"

    def launch(self, spec: LaunchSpec, context: Any) -> Any:
        from backprop_core.plugin_kit import SessionContext, Supervisor

        if not isinstance(context, SessionContext) or context.spec is not spec:
            raise TypeError("the local launcher needs the SessionContext built for this spec")
        return Supervisor(context).run()
