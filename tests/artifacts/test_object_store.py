"""The content-addressed object store with real files: deduplication, folders, links versus
copies on one filesystem and across two (a tmpfs), clones on one that offers reflinks (an XFS),
and hashes checked on the way out."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from backprop_core.artifacts.checkout import checkout, export, verify
from backprop_core.artifacts.objects import ObjectStore
from backprop_core.artifacts.records import ArtifactVersion
from backprop_core.errors import ArtifactDamaged

from .conftest import disk_usage, mounted_tmpfs, mounted_xfs, objects_in

MB = 1_000_000


def random_file(path: Path, size: int = MB, seed: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size])
    return path


def version_of(content: object, name: str = "x", source: str | None = None) -> ArtifactVersion:
    c = content
    return ArtifactVersion(
        name,
        c.digest,
        c.kind,
        c.size,
        c.files,
        version=0,
        source=source,  # type: ignore[attr-defined]
    )


def test_the_same_bytes_added_twice_are_stored_once(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "home")
    a = random_file(tmp_path / "a.bin")
    b = random_file(tmp_path / "elsewhere" / "b.bin")  # same bytes, another name
    first, second = objects.put(a), objects.put(b)
    assert first.digest == second.digest == "sha256:" + hashlib.sha256(a.read_bytes()).hexdigest()
    assert (first.stored, second.stored) == ("copy", "existing")
    assert len(objects_in(objects.home)) == 1
    assert objects.path_of(first.digest).read_bytes() == a.read_bytes()


def test_a_folder_is_stored_as_a_manifest_of_its_deduplicated_files(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "home")
    tok = tmp_path / "tokenizer"
    random_file(tok / "vocab.txt", 1000, seed=1)
    random_file(tok / "nested" / "merges.txt", 2000, seed=2)
    random_file(tok / "copy-of-vocab.txt", 1000, seed=1)
    (tok / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tok / "run.sh").chmod(0o755)
    content = objects.put(tok)
    assert (content.kind, content.files, content.size) == (
        "folder",
        4,
        4000 + len("#!/bin/sh\necho hi\n"),
    )
    entries = {e.path: e for e in objects.read_manifest(content.digest)}
    assert set(entries) == {"vocab.txt", "nested/merges.txt", "copy-of-vocab.txt", "run.sh"}
    assert entries["vocab.txt"].digest == entries["copy-of-vocab.txt"].digest
    assert entries["run.sh"].executable and not entries["vocab.txt"].executable
    assert len(objects_in(objects.home)) == 4  # 3 distinct files and the manifest
    # the same files elsewhere are the same folder; one byte more is another
    other = tmp_path / "other"
    shutil.copytree(tok, other)
    assert objects.put(other).digest == content.digest
    (other / "run.sh").chmod(0o644)  # the executable bit is part of the content
    assert objects.put(other).digest != content.digest
    (other / "vocab.txt").write_bytes((tok / "vocab.txt").read_bytes() + b"!")
    assert objects.put(other).digest != content.digest
    # written out again, file by file, with the executable bit
    out = tmp_path / "out"
    export(objects, version_of(content, "tok"), out)
    assert (out / "nested" / "merges.txt").read_bytes() == (
        tok / "nested" / "merges.txt"
    ).read_bytes()
    assert os.stat(out / "run.sh").st_mode & 0o111
    assert verify(objects, version_of(content)) == []


def test_objects_are_read_only_on_disk(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "home")
    content = objects.put(random_file(tmp_path / "w.bin"))
    assert stat.S_IMODE(objects.path_of(content.digest).stat().st_mode) == 0o444


def test_a_handed_over_file_is_hard_linked_not_copied(tmp_path: Path) -> None:
    home = tmp_path / "home"
    objects = ObjectStore(home)
    model = random_file(tmp_path / "model.bin", 8 * MB)
    before = disk_usage(tmp_path)
    content = objects.put(model, link=True)
    stored = objects.path_of(content.digest)
    assert content.stored == "hardlink"
    assert os.path.samefile(stored, model)
    # no second copy of the bytes exists: the home grew by a few folders, not 8 MB
    assert disk_usage(tmp_path) - before < 100_000
    # handed over: read-only from now on, for the user's name of it too
    assert stat.S_IMODE(model.stat().st_mode) == 0o444


def test_a_file_not_handed_over_is_never_shared_with_the_store(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "home")
    model = random_file(tmp_path / "model.bin", 2 * MB)
    model.chmod(0o644)
    content = objects.put(model)
    stored = objects.path_of(content.digest)
    # a copy-on-write clone where the filesystem offers one, else a copy: never a link
    assert content.stored in ("copy", "reflink")
    assert not os.path.samefile(stored, model)
    assert stat.S_IMODE(model.stat().st_mode) == 0o644
    # so editing the original in place leaves the stored version intact
    with open(model, "r+b") as fh:
        fh.write(b"edited")
    assert verify(objects, version_of(content)) == []


def test_editing_a_handed_over_file_in_place_is_caught_on_the_way_out(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "home")
    model = random_file(tmp_path / "model.bin")
    content = objects.put(model, link=True)
    model.chmod(0o644)  # the user insists
    with open(model, "r+b") as fh:
        fh.write(b"edited in place")
    version = version_of(content, "model", str(model))
    assert verify(objects, version) == ["model.bin: damaged"]
    with pytest.raises(ArtifactDamaged):
        export(objects, version, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written is left


def test_a_file_on_another_filesystem_is_copied_while_hashed(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "home")
    with mounted_tmpfs(tmp_path / "mnt") as mnt:
        model = random_file(mnt / "model.bin", 4 * MB)
        assert os.stat(model).st_dev != os.stat(tmp_path).st_dev
        content = objects.put(model, link=True)  # a link across filesystems cannot be
        assert content.stored == "copy"
        stored = objects.path_of(content.digest)
        assert stored.read_bytes() == model.read_bytes()
        assert os.stat(stored).st_dev != os.stat(model).st_dev
        again = objects.put(random_file(mnt / "again.bin", 4 * MB))
        assert (again.digest, again.stored) == (content.digest, "existing")
        assert len(objects_in(objects.home)) == 1
    # the copy outlives the filesystem it came from
    assert verify(objects, version_of(content)) == []


def used_bytes(mount: Path) -> int:
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def test_on_a_filesystem_with_reflinks_a_file_is_cloned_not_copied(tmp_path: Path) -> None:
    with mounted_xfs(tmp_path / "xfs") as mnt:
        objects = ObjectStore(mnt / "home")
        model = random_file(mnt / "model.bin", 16 * MB)
        model.chmod(0o644)
        os.sync()
        before = used_bytes(mnt)
        content = objects.put(model)  # not handed over
        os.sync()
        assert content.stored == "reflink"
        stored = objects.path_of(content.digest)
        assert not os.path.samefile(stored, model)
        # the clone shares the original's blocks: no second copy of the 16 MB exists
        assert used_bytes(mnt) - before < 2 * MB
        # copy-on-write: the user's file stays theirs to edit, and the version stays intact
        assert stat.S_IMODE(model.stat().st_mode) == 0o644
        with open(model, "r+b") as fh:
            fh.write(b"edited in place")
        assert verify(objects, version_of(content)) == []
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == content.digest.split(":")[1]


def test_a_checkout_links_the_objects_under_their_own_names(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "home")
    weights = random_file(tmp_path / "weights.safetensors")
    content = objects.put(weights)
    path = checkout(objects, version_of(content, "w", str(weights)))
    assert path.name == "weights.safetensors"
    assert os.path.samefile(path, objects.path_of(content.digest))
    assert checkout(objects, version_of(content, "w", str(weights))) == path  # built once
