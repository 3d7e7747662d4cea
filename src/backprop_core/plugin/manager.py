"""Plugin loading and the typed facade over the hooks.

Every plugin, built-in or third-party, is found through the ``backprop`` entry-point group.
``BACKPROP_LOAD_PLUGINS`` (comma-separated allow-list; set but empty loads none) and
``BACKPROP_DISABLE_PLUGINS`` (block-list) choose which load; ``BACKPROP_STRICT_PLUGINS=1`` turns a
plugin that fails to import into an error instead of a warning.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from backprop_core.env_vars import env_flag
from backprop_core.errors import PluginError, UsageError
from backprop_core.plugin import hookspecs
from backprop_core.plugin.entry_index import PluginEntry, plugin_entries

if TYPE_CHECKING:
    import click

    from backprop_core.admission.resources import GpuProbe, HostProbe, Snapshot
    from backprop_core.admission.votes import AdmissionRequest, Vote
    from backprop_core.events.event import Event
    from backprop_core.events.parsing import ParserChain
    from backprop_core.interop.exporter import Exporter
    from backprop_core.interop.importer import Importer
    from backprop_core.launch.spec import FrameworkAdapter, Launcher, Monitor, Watcher
    from backprop_core.settings import Settings
    from backprop_core.store.contract import Store
    from backprop_core.store.records import RunRecord, SessionRecord

T = TypeVar("T")


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin as ``backprop plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


def _split_env(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _warn(message: str) -> None:
    print(f"backprop: warning: {message}", file=sys.stderr)


class _StaleIndex(Exception):
    """A plugin from the cached index failed to load; the index is rebuilt before judging it."""


class PluginManager:
    """Loads plugins once and exposes each hook family through a typed method."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self.load_errors: list[str] = []
        if load_entry_points:
            self._load_entry_points()

    # loading -------------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        entries, cached = plugin_entries()
        if cached:
            try:
                self._load(entries, retry_on_error=True)
                return
            except _StaleIndex:
                # A cached entry no longer imports: rebuild from the real metadata and retry.
                for name in list(self._dists):
                    self.unregister(name)
                self.load_errors.clear()
                entries, _ = plugin_entries(refresh=True)
        self._load(entries, retry_on_error=False)

    def _load(self, entries: Sequence[PluginEntry], *, retry_on_error: bool) -> None:
        allow = _split_env("BACKPROP_LOAD_PLUGINS")
        deny = _split_env("BACKPROP_DISABLE_PLUGINS") or set()
        strict = env_flag("BACKPROP_STRICT_PLUGINS")
        seen: dict[str, str] = {}
        for ep in entries:
            if (allow is not None and ep.name not in allow) or ep.name in deny:
                continue
            dist_name = ep.distribution
            if ep.name in seen:
                if seen[ep.name] == dist_name:
                    continue  # the same distribution seen twice on sys.path
                raise PluginError(
                    f"two plugins are named '{ep.name}' ({seen[ep.name]} and {dist_name})",
                    hint="uninstall one of them or disable it with BACKPROP_DISABLE_PLUGINS",
                )
            seen[ep.name] = dist_name or "?"
            try:
                module = ep.load()
            except Exception as exc:
                if retry_on_error:
                    raise _StaleIndex from exc
                message = (
                    f"plugin '{ep.name}' from {dist_name or 'unknown distribution'} failed to "
                    f"load: {type(exc).__name__}: {exc}"
                )
                if strict:
                    raise PluginError(message, hint="fix or uninstall it") from exc
                self.load_errors.append(message)
                _warn(message + " (skipped)")
                continue
            self.register(module, ep.name, dist_name, ep.version)
        self.check_pending()

    def register(
        self,
        plugin: object,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register a plugin object (module or instance) under a unique name."""
        if self.pm.has_plugin(name):
            raise PluginError(f"two plugins are named '{name}'")
        try:
            self.pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(f"plugin '{name}' could not be registered: {exc}") from exc
        self._dists[name] = (distribution, version)

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._dists.pop(name, None)

    def check_pending(self) -> None:
        """Fail on hook implementations that match no hookspec (usually a misspelling)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"{exc}", hint="check the hook's name against docs/plugins.md"
            ) from exc

    def plugins(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            dist, version = self._dists.get(name, (None, None))
            infos.append(PluginInfo(name, dist, version, tuple(hooks)))
        return sorted(infos, key=lambda i: i.name)

    # typed facade ----------------------------------------------------------------------------
    @staticmethod
    def _flatten(results: Iterable[Any]) -> list[Any]:
        out: list[Any] = []
        for r in results:
            if r is None:
                continue
            out.extend(r if isinstance(r, (list, tuple)) else [r])
        return out

    def _named(self, family: str, classes: list[type[T]]) -> dict[str, type[T]]:
        named: dict[str, type[T]] = {}
        for cls in classes:
            name = cls.name  # type: ignore[attr-defined]
            if name in named and named[name] is not cls:
                raise PluginError(f"two {family} are named '{name}'")
            named[name] = cls
        return named

    def host_probes(self) -> dict[str, type[HostProbe]]:
        classes = self._flatten(self.pm.hook.backprop_register_probes())
        return self._named("host probes", [c for c in classes if c.kind == "host"])

    def gpu_probes(self) -> dict[str, type[GpuProbe]]:
        classes = self._flatten(self.pm.hook.backprop_register_probes())
        found = self._named("GPU probes", [c for c in classes if c.kind == "gpu"])
        return dict(sorted(found.items(), key=lambda kv: (kv[1].priority, kv[0])))

    def admission_votes(
        self, request: AdmissionRequest, snapshot: Snapshot, settings: Settings
    ) -> list[Vote]:
        return self._flatten(
            self.pm.hook.backprop_admission_vote(
                request=request, snapshot=snapshot, settings=settings
            )
        )

    def frameworks(self) -> dict[str, type[FrameworkAdapter]]:
        found = self._named(
            "frameworks", self._flatten(self.pm.hook.backprop_register_frameworks())
        )
        return dict(sorted(found.items(), key=lambda kv: (kv[1].priority, kv[0])))

    def parser_chain(self) -> ParserChain:
        """Every parser plugin (``backprop_parse_lines``, ``backprop_parse_line``) in the order
        each chunk of output goes through them (docs/plugins.md, "How parsers combine")."""
        from backprop_core.events.parsing import ParserChain, chain_links

        registered = [name for name, _ in self.pm.list_name_plugin()]
        return ParserChain(
            chain_links(
                self.pm.hook.backprop_parse_lines.get_hookimpls(),
                self.pm.hook.backprop_parse_line.get_hookimpls(),
                registered,
            )
        )

    def has_run_event_listeners(self) -> bool:
        """Whether any plugin implements ``backprop_run_event`` (a hook call per event)."""
        return bool(self.pm.hook.backprop_run_event.get_hookimpls())

    def stores(self) -> dict[str, type[Store]]:
        return self._named("stores", self._flatten(self.pm.hook.backprop_register_stores()))

    def store_class(self, name: str) -> type[Store]:
        """The store a ``store`` setting names: a plugin's name, or a URL whose scheme a store
        takes (``postgresql://…``), then bound to it (``Store.at``)."""
        stores = self.stores()
        if "://" in name:
            scheme = name.split("://", 1)[0].lower()
            for cls in stores.values():
                if scheme in cls.schemes:
                    return cls.at(name)
            schemes = sorted({f"{s}://" for cls in stores.values() for s in cls.schemes})
            raise UsageError(
                f"no installed store takes {scheme}:// URLs",
                hint=f"use a store name ({', '.join(sorted(stores))})"
                + (f" or a URL starting with {', '.join(schemes)}" if schemes else ""),
            )
        if name not in stores:
            raise UsageError(
                f"unknown store '{name}'", hint=f"choose one of: {', '.join(sorted(stores))}"
            )
        return stores[name]

    def launchers(self) -> dict[str, type[Launcher]]:
        return self._named("launchers", self._flatten(self.pm.hook.backprop_register_launchers()))

    def monitors(self) -> dict[str, type[Monitor]]:
        return self._named("monitors", self._flatten(self.pm.hook.backprop_register_monitors()))

    def watchers(self) -> dict[str, type[Watcher]]:
        return self._named("watchers", self._flatten(self.pm.hook.backprop_register_watchers()))

    def exporters(self) -> dict[str, type[Exporter]]:
        return self._named("exporters", self._flatten(self.pm.hook.backprop_register_exporters()))

    def importers(self) -> dict[str, type[Importer]]:
        """Importers by name, lowest ``priority`` first (the order auto-detection asks them)."""
        found = self._named("importers", self._flatten(self.pm.hook.backprop_register_importers()))
        return dict(sorted(found.items(), key=lambda kv: (kv[1].priority, kv[0])))

    def _notify(self, hook: Any, **kwargs: Any) -> None:
        try:
            hook(**kwargs)
        except Exception as exc:  # a notification must never break a run
            _warn(f"{hook.name} failed: {type(exc).__name__}: {exc}")

    def run_started(self, run: RunRecord, session: SessionRecord) -> None:
        self._notify(self.pm.hook.backprop_run_started, run=run, session=session)

    def run_event(self, run: RunRecord, event: Event) -> None:
        self._notify(self.pm.hook.backprop_run_event, run=run, event=event)

    def run_finished(self, run: RunRecord, session: SessionRecord) -> None:
        self._notify(self.pm.hook.backprop_run_finished, run=run, session=session)

    def register_commands(self, cli: click.Group) -> None:
        self.pm.hook.backprop_register_commands(cli=cli)


_manager: PluginManager | None = None


def get_plugins() -> PluginManager:
    """The process-wide plugin manager, loading entry points on first use."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
    return _manager


def reset_plugins() -> None:
    """Forget the loaded plugins (tests change the environment and reload)."""
    global _manager
    _manager = None
