"""The store contract's artifact cases (docs/artifacts.md): versions, aliases, uses, and what
``artifact`` / ``use_artifact`` events become. Part of ``StoreContract``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from backprop_core.artifacts.records import ArtifactUse, ArtifactVersion
from backprop_core.errors import ArtifactNotFound
from backprop_core.events.event import Event
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus

T0 = 1_790_000_000.0
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def version(name: str = "model", digest: str = DIGEST, **fields: object) -> ArtifactVersion:
    for key, value in (("created_at", T0), ("kind", "file"), ("size", 10), ("files", 1)):
        fields.setdefault(key, value)
    return ArtifactVersion(name=name, digest=digest, **fields)  # type: ignore[arg-type]


def labels(versions: list[ArtifactVersion]) -> list[str]:
    return [v.label for v in versions]


class ArtifactContract:
    """Artifact records every ``Store`` keeps."""

    def test_versions_are_numbered_per_name_from_v0(self, store: Store) -> None:
        first = store.add_artifact_version(version("model"))
        second = store.add_artifact_version(version("model", OTHER))
        other = store.add_artifact_version(version("data"))
        assert (first.version, second.version, other.version) == (0, 1, 0)
        assert labels(store.artifact_versions()) == ["data:v0", "model:v0", "model:v1"]
        assert labels(store.artifact_versions("model")) == ["model:v0", "model:v1"]

    def test_every_field_round_trips(self, store: Store) -> None:
        store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=T0))
        added = version(
            "tokenizer",
            kind="folder",
            size=123_456_789_012,
            files=3,
            type="tokenizer",
            run_id="r1",
            step=42,
            metadata={"vocab": 32000, "langs": ["en", "日本語"], "nested": {"a": None}},
            source="/data/tok ✓",
        )
        stored = store.add_artifact_version(added)
        assert stored == replace(added, version=0, aliases=["latest"])
        assert store.artifact_versions("tokenizer") == [stored]

    def test_latest_and_aliases_move_to_the_version_given_them(self, store: Store) -> None:
        store.add_artifact_version(version(aliases=["best"]))
        store.add_artifact_version(version(digest=OTHER))
        v0, v1 = store.artifact_versions("model")
        assert (v0.aliases, v1.aliases) == (["best"], ["latest"])
        store.set_artifact_alias("model", 1, "best")
        store.set_artifact_alias("model", 0, "production")
        v0, v1 = store.artifact_versions("model")
        assert (v0.aliases, v1.aliases) == (["production"], ["best", "latest"])
        v2 = store.add_artifact_version(version(aliases=["best"]))
        assert v2.aliases == ["best", "latest"]
        assert [v.aliases for v in store.artifact_versions("model")] == [
            ["production"],
            [],
            v2.aliases,
        ]

    def test_aliases_of_one_name_never_touch_another(self, store: Store) -> None:
        store.add_artifact_version(version("a", aliases=["best"]))
        store.add_artifact_version(version("b", aliases=["best"]))
        assert [v.aliases for v in store.artifact_versions()] == [["best", "latest"]] * 2

    def test_an_alias_on_a_missing_version_is_an_error(self, store: Store) -> None:
        store.add_artifact_version(version())
        with pytest.raises(ArtifactNotFound):
            store.set_artifact_alias("model", 7, "best")
        with pytest.raises(ArtifactNotFound):
            store.set_artifact_alias("nothing", 0, "best")

    def test_deleting_a_version_moves_latest_and_never_reuses_its_number(
        self, store: Store
    ) -> None:
        for digest in (DIGEST, OTHER, DIGEST):
            store.add_artifact_version(version(digest=digest))
        store.delete_artifact_version("model", 2)
        assert labels(store.artifact_versions("model")) == ["model:v0", "model:v1"]
        assert store.artifact_versions("model")[-1].aliases == ["latest"]
        assert store.add_artifact_version(version()).version == 3
        with pytest.raises(ArtifactNotFound):
            store.delete_artifact_version("model", 2)

    def test_filters_by_type_and_producing_run(self, store: Store) -> None:
        store.add_artifact_version(version("m", type="model", run_id="r1"))
        store.add_artifact_version(version("d", type="dataset", run_id="r2"))
        store.add_artifact_version(version("m", OTHER, type="model", run_id="r2"))
        assert labels(store.artifact_versions(type="model")) == ["m:v0", "m:v1"]
        assert labels(store.artifact_versions(run_id="r2")) == ["d:v0", "m:v1"]
        assert labels(store.artifact_versions("m", run_id="r2")) == ["m:v1"]
        assert store.artifact_versions(type="nothing") == []

    def test_uses_are_recorded_once_per_run_and_version(self, store: Store) -> None:
        store.record_artifact_use(ArtifactUse("r1", "data", 0, DIGEST, "latest", T0))
        store.record_artifact_use(ArtifactUse("r1", "data", 0, DIGEST, "v0", T0 + 1))
        store.record_artifact_use(ArtifactUse("r2", "data", 0, DIGEST, "best", T0 + 2))
        store.record_artifact_use(ArtifactUse("r2", "model", 3, OTHER, "v3", T0 + 3))
        assert [u.ref for u in store.artifact_uses(run_id="r1")] == ["v0"]
        assert [u.run_id for u in store.artifact_uses(name="data", version=0)] == ["r1", "r2"]
        assert len(store.artifact_uses()) == 3

    def test_removing_a_run_forgets_its_uses_but_keeps_what_it_made(self, store: Store) -> None:
        store.create_run(RunRecord(id="r1", status=RunStatus.COMPLETED, created_at=T0))
        store.add_artifact_version(version(run_id="r1"))
        store.record_artifact_use(ArtifactUse("r1", "data", 0, DIGEST, "latest", T0))
        store.delete_run("r1")
        assert store.artifact_uses() == []
        assert labels(store.artifact_versions(run_id="r1")) == ["model:v0"]

    def test_witnessed_artifact_events_become_versions_and_uses(self, store: Store) -> None:
        store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=T0))
        data = store.add_artifact_version(version("data", OTHER))
        made = version("weights", aliases=["best"], source="/w/model.pt")
        store.append_events(
            "r1",
            [
                Event(
                    "use_artifact", T0 + 1, None, {"name": "data", "ref": "latest"}, 1, None, data
                ),
                Event("artifact", T0 + 2, 5, {"path": "/w/model.pt"}, 1, None, made),
                # what a script claims without backprop having stored anything: only an event
                Event("artifact", T0 + 3, 6, {"path": "/x", "digest": DIGEST}, 1),
                Event("use_artifact", T0 + 4, 6, {"name": "data"}, 1),
            ],
        )
        (stored,) = store.artifact_versions("weights")
        assert (stored.run_id, stored.step, stored.created_at) == ("r1", 5, T0 + 2)
        assert (stored.version, stored.aliases, stored.source) == (
            0,
            ["best", "latest"],
            "/w/model.pt",
        )
        (use,) = store.artifact_uses(run_id="r1")
        assert (use.label, use.digest, use.ref, use.time) == ("data:v0", OTHER, "latest", T0 + 1)
        kinds = [e.event.kind for e in store.events("r1")]
        assert kinds == ["use_artifact", "artifact", "artifact", "use_artifact"]

    def test_a_second_store_object_sees_versions(self, store: Store) -> None:
        store.add_artifact_version(version())
        other = type(store)(store.home.root)
        try:
            assert labels(other.artifact_versions()) == ["model:v0"]
        finally:
            other.close()

    def test_artifact_digests_in_reads_the_home_without_creating_anything(
        self, store: Store, tmp_path: Path
    ) -> None:
        empty = tmp_path / "no-home"
        assert type(store).artifact_digests_in(empty) == set()
        assert not empty.exists()
        store.add_artifact_version(version())
        store.add_artifact_version(version("b", OTHER))
        assert type(store).artifact_digests_in(store.home.root) == {DIGEST, OTHER}
