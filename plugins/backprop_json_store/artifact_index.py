"""Artifact versions, aliases and uses in the JSON store's index (docs/artifacts.md).

``index["artifacts"][name]`` holds ``next`` (the next version number: a deleted number is never
given again), ``versions`` (by number, as strings) and ``aliases`` (alias → number, ``latest``
included); ``index["artifact_uses"][run_id]`` lists the run's uses.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from backprop_core import ArtifactNotFound, ArtifactUse, ArtifactVersion
from backprop_core.plugin_kit import (
    LATEST,
    use_from_dict,
    use_to_dict,
    version_from_dict,
    version_to_dict,
)

Index = dict[str, Any]
T = TypeVar("T")


def _missing(name: str, version: int) -> ArtifactNotFound:
    return ArtifactNotFound(f"no artifact version {name}:v{version}")


def add_version(index: Index, version: ArtifactVersion) -> ArtifactVersion:
    """Number and add ``version``, pointing its aliases and ``latest`` at it."""
    entry = index.setdefault("artifacts", {}).setdefault(
        version.name, {"next": 0, "versions": {}, "aliases": {}}
    )
    number = int(entry["next"])
    entry["next"] = number + 1
    aliases = sorted({*version.aliases, LATEST})
    stored = replace(version, version=number, aliases=[])
    entry["versions"][str(number)] = version_to_dict(stored)
    for alias in aliases:
        entry["aliases"][alias] = number
    stored.aliases = aliases
    return stored


def record_use(index: Index, use: ArtifactUse) -> None:
    uses = index.setdefault("artifact_uses", {}).setdefault(use.run_id, [])
    uses[:] = [u for u in uses if (u["name"], u["version"]) != (use.name, use.version)]
    uses.append(use_to_dict(use))


def digests(index: Index) -> set[str]:
    return {
        v["digest"]
        for entry in index.get("artifacts", {}).values()
        for v in entry["versions"].values()
    }


class _Lookups:
    """Who made and who read what, indexed once per snapshot of the index: the lineage graph
    asks for one run's outputs or one version's readers a thousand times in a row."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.made: dict[str, list[tuple[str, str]]] = {}  # run id -> (name, number)
        for name, entry in index.get("artifacts", {}).items():
            for key, raw in entry["versions"].items():
                if raw.get("run_id") is not None:
                    self.made.setdefault(raw["run_id"], []).append((name, key))
        self.readers: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for uses in index.get("artifact_uses", {}).values():
            for u in uses:
                self.readers.setdefault((u["name"], u["version"]), []).append(u)


class JsonArtifacts:
    """The artifact part of the store contract, for ``JsonStore``."""

    _lookups: _Lookups | None = None

    if TYPE_CHECKING:

        def _snapshot(self) -> Index: ...

        def _mutate(self, fn: Callable[[Index], T]) -> T: ...

    def _indexed(self) -> _Lookups:
        index = self._snapshot()
        if self._lookups is None or self._lookups.index is not index:
            self._lookups = _Lookups(index)
        return self._lookups

    def add_artifact_version(self, version: ArtifactVersion) -> ArtifactVersion:
        return self._mutate(lambda index: add_version(index, version))

    def artifact_versions(
        self, name: str | None = None, *, type: str | None = None, run_id: str | None = None
    ) -> list[ArtifactVersion]:
        artifacts = self._snapshot().get("artifacts", {})
        names = [name] if name is not None else sorted(artifacts)
        if run_id is not None and name is None:
            names = sorted({n for n, _ in self._indexed().made.get(run_id, [])})
        out: list[ArtifactVersion] = []
        for n in names:
            entry = artifacts.get(n)
            if entry is None:
                continue
            by_number: dict[int, list[str]] = {}
            for alias, number in entry["aliases"].items():
                by_number.setdefault(int(number), []).append(alias)
            for key in sorted(entry["versions"], key=int):
                raw = entry["versions"][key]
                if (type is not None and raw.get("type") != type) or (
                    run_id is not None and raw.get("run_id") != run_id
                ):
                    continue
                v = version_from_dict(raw)
                # the cached index must not change through what is handed out
                v.metadata = copy.deepcopy(v.metadata) if v.metadata else {}
                v.aliases = sorted(by_number.get(int(key), []))
                out.append(v)
        return out

    def set_artifact_alias(self, name: str, version: int, alias: str) -> None:
        def move(index: Index) -> None:
            entry = index.get("artifacts", {}).get(name)
            if entry is None or str(version) not in entry["versions"]:
                raise _missing(name, version)
            entry["aliases"][alias] = version

        self._mutate(move)

    def delete_artifact_version(self, name: str, version: int) -> None:
        def delete(index: Index) -> None:
            entry = index.get("artifacts", {}).get(name)
            if entry is None or str(version) not in entry["versions"]:
                raise _missing(name, version)
            del entry["versions"][str(version)]
            entry["aliases"] = {a: n for a, n in entry["aliases"].items() if n != version}
            if entry["versions"]:
                entry["aliases"][LATEST] = max(map(int, entry["versions"]))

        self._mutate(delete)

    def record_artifact_use(self, use: ArtifactUse) -> None:
        self._mutate(lambda index: record_use(index, use))

    def artifact_uses(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        version: int | None = None,
    ) -> list[ArtifactUse]:
        by_run = self._snapshot().get("artifact_uses", {})
        if run_id is None and name is not None and version is not None:
            raw = self._indexed().readers.get((name, version), [])
        else:
            runs = [run_id] if run_id is not None else list(by_run)
            raw = [u for r in runs for u in by_run.get(r, [])]
        found = [
            use_from_dict(dict(u))
            for u in raw
            if (name is None or u["name"] == name) and (version is None or u["version"] == version)
        ]
        return sorted(found, key=lambda u: u.time)
