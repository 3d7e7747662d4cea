"""Artifact records are not kept in PostgreSQL yet: the artifact methods of the store contract
answer that clearly instead of failing half-way. Artifacts stay with a home's SQLite or JSON
store (docs/artifacts.md); listing methods answer with nothing so ``gc`` and the viewer work."""

from __future__ import annotations

from pathlib import Path

from backprop_core import ArtifactUse, ArtifactVersion, StoreError

_HINT = "keep artifacts in a home's own store: --store sqlite (the default) or --store json"


def _refuse() -> StoreError:
    return StoreError("the PostgreSQL store does not keep artifact records yet", hint=_HINT)


class NoArtifacts:
    """The artifact part of the store contract for a store that keeps none."""

    @classmethod
    def artifact_digests_in(cls, home: Path) -> set[str] | None:
        """Nothing: this store holds no artifact content, so it keeps no object from ``gc``."""
        return set()

    def add_artifact_version(self, version: ArtifactVersion) -> ArtifactVersion:
        raise _refuse()

    def artifact_versions(
        self, name: str | None = None, *, type: str | None = None, run_id: str | None = None
    ) -> list[ArtifactVersion]:
        return []

    def set_artifact_alias(self, name: str, version: int, alias: str) -> None:
        raise _refuse()

    def delete_artifact_version(self, name: str, version: int) -> None:
        raise _refuse()

    def record_artifact_use(self, use: ArtifactUse) -> None:
        raise _refuse()

    def artifact_uses(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        version: int | None = None,
    ) -> list[ArtifactUse]:
        return []
