"""Three runs linked by artifacts, recorded through the Store API with real stored content:
``prep`` made ``mnist:v0`` (a folder), ``train`` read it and made ``classifier:v0`` (and a
``report``), ``eval`` read ``classifier:best``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backprop_core.artifacts.objects import ObjectStore
from backprop_core.artifacts.records import ArtifactUse, ArtifactVersion

from .conftest import Seeder


@dataclass
class Chain:
    prep: str
    train: str
    eval: str


def add(
    seed: Seeder, path: Path, name: str, type_: str, run: str | None, **kw: object
) -> ArtifactVersion:
    content = ObjectStore(seed.home).put(path)
    version = ArtifactVersion(
        name=name,
        digest=content.digest,
        kind=content.kind,
        size=content.size,
        files=content.files,
        type=type_,
        run_id=run,
        created_at=seed.t0,
        source=str(path),
        **kw,  # type: ignore[arg-type]
    )
    return seed.store.add_artifact_version(version)


def use(seed: Seeder, run: str, version: ArtifactVersion, ref: str = "latest") -> None:
    assert version.version is not None
    seed.store.record_artifact_use(
        ArtifactUse(run, version.name, version.version, version.digest, ref, seed.t0)
    )


def seed_chain(seed: Seeder, tmp_path: Path) -> Chain:
    prep, train, evaluation = seed.run("prep"), seed.run("train"), seed.run("eval")
    data = tmp_path / "mnist"
    (data / "train").mkdir(parents=True)
    (data / "train" / "images.bin").write_bytes(b"\x07" * 3000)
    (data / "labels.csv").write_text("0,1,2\n")
    mnist = add(seed, data, "mnist", "dataset", prep)
    model = tmp_path / "model.pt"
    model.write_bytes(b"\x01" * 12_000)
    classifier = add(seed, model, "classifier", "model", train, aliases=["best"], step=50)
    report = tmp_path / "report.txt"
    report.write_text("accuracy 0.97")
    add(seed, report, "report", "report", train)
    use(seed, train, mnist)
    use(seed, evaluation, classifier, "best")
    return Chain(prep, train, evaluation)
