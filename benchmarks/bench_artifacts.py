"""Artifact benchmark: adding a large file against ``sha256sum``, ``artifacts list`` over many
versions, and ``lineage`` over a long chain of runs, SQLite and JSON stores side by side.

    python benchmarks/bench_artifacts.py [--size-mib 1024] [--repeat 5] [--versions 10000]
                                         [--chain 1000]

What is measured (medians of ``--repeat``; the machine line and ``python -c pass`` first):

- ``add``: ``sha256sum FILE`` (the target's reference: reading and hashing every byte once) and
  ``openssl dgst -sha256 FILE`` (the same SHA-256 code backprop's ``hashlib`` runs) interleaved with
  ``backprop artifacts add FILE`` end to end, each into a fresh home on the same filesystem:
  handed over (``--link``: a hard link, then one hashing pass), not handed over (a reflink
  where the filesystem offers one, else hashed first and copied), and the same bytes again (a
  home that already holds them: only the hash). The file is in the page cache for every
  command alike. Disk use (``du``, hard links counted once) is reported after each kind.
- ``add from another filesystem``: the same file on a tmpfs (root only), copied while hashed.
- ``add on XFS``: the file and the home on a loop-mounted XFS image (root and ``mkfs.xfs``
  only), where a file not handed over is cloned (``FICLONE``); disk use from ``statvfs``.
- ``list``: ``backprop artifacts list`` end to end (printing every row, tab-separated) on a
  store holding ``--versions`` versions (100 names), each run interleaved with
  ``backprop --version`` (the start-up floor, shown beside it).
- ``lineage``: ``backprop lineage RUN`` end to end on a chain of ``--chain`` runs, each reading
  the previous run's artifact and making the next, from the middle of the chain (the whole
  chain is upstream or downstream of it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import backprop, cpu_model

from backprop_core.artifacts.records import ArtifactUse, ArtifactVersion
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
MIB = 1 << 20


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def du(path: Path) -> int:
    out = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def make_file(path: Path, size_mib: int) -> Path:
    block = os.urandom(MIB)
    with open(path, "wb") as fh:
        for i in range(size_mib):
            fh.write(i.to_bytes(8, "little") + block[8:])
    return path


def env_for(home: Path, store: str = "sqlite") -> dict[str, str]:
    return {**os.environ, "BACKPROP_HOME": str(home), "BACKPROP_STORE": store}


def bench_add(work: Path, size_mib: int, repeat: int) -> list[tuple[str, float, str]]:
    big = make_file(work / "big.bin", size_mib)
    subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # into the cache
    times: dict[str, list[float]] = {
        "sha256sum": [],
        "openssl": [],
        "link": [],
        "copy": [],
        "again": [],
    }
    openssl = shutil.which("openssl")
    extra: dict[str, int] = {}  # bytes of disk the add took beyond the file itself
    for i in range(repeat):
        times["sha256sum"].append(timed(["sha256sum", str(big)]))
        if openssl:
            times["openssl"].append(timed([openssl, "dgst", "-sha256", str(big)]))
        for kind in ("link", "copy"):
            home = work / f"home-{kind}-{i}"
            # --link hands over a file of its own: another name of the cached bytes
            source = work / f"handed-{i}.bin" if kind == "link" else big
            if kind == "link":
                os.link(big, source)
            before = du(work)
            flag = ["--link"] if kind == "link" else []
            times[kind].append(
                timed(backprop("artifacts", "add", str(source), *flag), env_for(home))
            )
            extra[kind] = du(work) - before
            if kind == "copy":
                before = du(work)
                times["again"].append(timed(backprop("artifacts", "add", str(big)), env_for(home)))
                extra["again"] = du(work) - before
            shutil.rmtree(home)
            if kind == "link":
                source.unlink()
                big.chmod(0o644)  # handing over made the shared inode read-only
    floor = statistics.median(times["sha256sum"])
    fast = statistics.median(times["openssl"]) if openssl else None
    out = [("sha256sum FILE", floor, "1.00x")]
    if fast is not None:
        # the SHA-256 code backprop's hashlib uses (OpenSSL, with the CPU's SHA instructions)
        out.append(("openssl dgst -sha256 FILE", fast, f"{fast / floor:.2f}x, 1.00x openssl"))
    labels = {
        "link": "artifacts add FILE --link (hard link + hash)",
        "copy": "artifacts add FILE (no reflink here: hash, then copy)",
        "again": "artifacts add FILE again (same bytes: hash only)",
    }
    for kind, label in labels.items():
        median = statistics.median(times[kind])
        note = f"{median / floor:.2f}x"
        if fast is not None:
            note += f", {median / fast:.2f}x openssl"
        note += f", {extra[kind] / MIB:,.1f} MiB more on disk"
        out.append((label, median, note))
    return out


def bench_add_tmpfs(work: Path, size_mib: int, repeat: int) -> list[tuple[str, float, str]]:
    mnt = work / "tmpfs"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib + 64}m", "tmpfs", str(mnt)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        return []
    try:
        big = make_file(mnt / "big.bin", size_mib)
        sums, adds = [], []
        for i in range(repeat):
            sums.append(timed(["sha256sum", str(big)]))
            home = work / f"home-tmpfs-{i}"
            adds.append(timed(backprop("artifacts", "add", str(big)), env_for(home)))
            shutil.rmtree(home)
        floor, median = statistics.median(sums), statistics.median(adds)
        return [
            ("sha256sum FILE (on tmpfs)", floor, "1.00x"),
            (
                "artifacts add FILE from tmpfs (copy while hashing)",
                median,
                f"{median / floor:.2f}x",
            ),
        ]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def bench_add_reflink(work: Path, size_mib: int, repeat: int) -> list[tuple[str, float, str]]:
    """The file and the home on an XFS (a loop-mounted image; root and ``mkfs.xfs`` only),
    where a file not handed over is cloned: one hashing pass and no second copy."""
    mkfs = shutil.which("mkfs.xfs")
    if mkfs is None:
        return []
    image, mnt = work / "xfs.img", work / "xfs"
    with open(image, "wb") as fh:
        fh.truncate((2 * size_mib + 512) * MIB)  # sparse
    mnt.mkdir()
    made = subprocess.run([mkfs, "-q", "-f", "-m", "reflink=1", str(image)], capture_output=True)
    if made.returncode or subprocess.run(["mount", "-o", "loop", str(image), str(mnt)]).returncode:
        return []
    try:
        big = make_file(mnt / "big.bin", size_mib)
        subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)
        sums, adds, extra = [], [], 0
        for i in range(repeat):
            sums.append(timed(["sha256sum", str(big)]))
            home = mnt / f"home-{i}"
            os.sync()
            before = used_bytes(mnt)
            adds.append(timed(backprop("artifacts", "add", str(big)), env_for(home)))
            os.sync()
            extra = used_bytes(mnt) - before
            shutil.rmtree(home)
        floor, median = statistics.median(sums), statistics.median(adds)
        return [
            ("sha256sum FILE (on XFS)", floor, "1.00x"),
            (
                "artifacts add FILE on XFS (reflink + hash)",
                median,
                f"{median / floor:.2f}x, {extra / MIB:,.1f} MiB more on disk",
            ),
        ]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def used_bytes(mount: Path) -> int:
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def digest(i: int) -> str:
    return "sha256:" + f"{i:064x}"


def versions_to_add(versions: int) -> list[ArtifactVersion]:
    """``versions`` versions of 100 names, half models, every seventh one aliased best."""
    t0 = time.time() - versions
    return [
        ArtifactVersion(
            name=f"model-{i % 100:03d}",
            digest=digest(i),
            kind="file",
            size=1000 + i,
            files=1,
            type="model" if i % 2 else "dataset",
            created_at=t0 + i,
            aliases=["best"] if i % 7 == 0 else [],
            metadata={"lr": 0.001, "epoch": i},
            source=f"/data/model-{i}.pt",
        )
        for i in range(versions)
    ]


def chain_to_add(runs: int) -> tuple[list[RunRecord], list[ArtifactVersion], list[ArtifactUse]]:
    """``runs`` runs, run i reading ``stage-(i-1)`` and making ``stage-i``."""
    t0 = time.time() - runs * 60
    records, made, read = [], [], []
    for i in range(runs):
        run_id = f"chain-{i:05d}"
        records.append(
            RunRecord(id=run_id, status=RunStatus.COMPLETED, created_at=t0 + i * 60, name=f"s{i}")
        )
        made.append(ArtifactVersion(f"stage-{i}", digest(i), "file", 10, 1, run_id=run_id))
        if i:
            read.append(ArtifactUse(run_id, f"stage-{i - 1}", 0, digest(i - 1)))
    return records, made, read


def fill(store: Store, name: str, versions: int, chain: int) -> str:
    """The versions and the chain, one call each in SQLite; in one index write for the JSON
    store, which rewrites its whole index on every call. Returns the chain's middle run."""
    runs, made, read = chain_to_add(chain)
    everything = versions_to_add(versions) + made
    if name == "json":
        from backprop_core.store.records import run_to_dict
        from backprop_json_store.artifact_index import add_version, record_use

        def bulk(index: dict) -> None:  # type: ignore[type-arg]
            for run in runs:
                index["runs"][run.id] = run_to_dict(run)
            for version in everything:
                add_version(index, version)
            for use in read:
                record_use(index, use)

        store._mutate(bulk)  # type: ignore[attr-defined]
    else:
        for run in runs:
            store.create_run(run)
        for version in everything:
            store.add_artifact_version(version)
        for use in read:
            store.record_artifact_use(use)
    return runs[len(runs) // 2].id


@contextlib.contextmanager
def store_at(name: str, home: Path) -> Iterator[Store]:
    store = get_plugins().store_class(name)(home)
    store.home.ensure()
    try:
        yield store
    finally:
        store.close()


def bench_queries(
    work: Path, versions: int, chain: int, repeat: int
) -> list[tuple[str, float, str]]:
    """Each command is timed beside ``backprop --version`` (interleaved, so that load hits
    both alike): on a loaded machine start-up alone grows several times, and the difference is
    what listing or walking costs."""
    out = []
    for name in ("sqlite", "json"):
        home = work / f"home-{name}"
        with store_at(name, home) as store:
            middle = fill(store, name, versions, chain)
        env = env_for(home, name)
        times: dict[str, list[float]] = {"version": [], "list": [], "lineage": []}
        for _ in range(repeat):
            times["version"].append(timed(backprop("--version"), env))
            times["list"].append(timed(backprop("artifacts", "list"), env))
            times["lineage"].append(timed(backprop("lineage", middle), env))
        start = statistics.median(times["version"])
        labels = {
            "list": (f"artifacts list, {versions + chain:,} versions ({name})", "≤ 300 ms"),
            "lineage": (f"lineage, chain of {chain:,} runs ({name})", "≤ 1 s"),
        }
        out.append((f"backprop --version ({name} home)", start, "start-up floor"))
        for kind, (label, target) in labels.items():
            median = statistics.median(times[kind])
            out.append((label, median, f"{target}; +{(median - start) * 1000:.0f} ms over floor"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=1000)
    parser.add_argument(
        "--only",
        choices=("add", "reflink", "queries"),
        help="Measure only adding, only adding on XFS, or only list and lineage.",
    )
    args = parser.parse_args()
    bare = statistics.median(timed([sys.executable, "-c", "pass"]) for _ in range(5))
    version = statistics.median(timed(backprop("--version")) for _ in range(5))
    print(
        f"machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, "
        f"{platform.system()}; python -c pass: {bare * 1000:.0f} ms; "
        f"backprop --version: {version * 1000:.0f} ms; "
        "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    )
    with tempfile.TemporaryDirectory(
        prefix="bench-artifacts-", dir=os.environ.get("BENCH_DIR")
    ) as tmp:
        work = Path(tmp)
        rows = []
        if args.only in (None, "add"):
            rows += bench_add(work, args.size_mib, args.repeat)
            rows += bench_add_tmpfs(work, args.size_mib, args.repeat)
        if args.only in (None, "add", "reflink"):
            rows += bench_add_reflink(work, args.size_mib, args.repeat)
        if args.only in (None, "queries"):
            rows += bench_queries(work, args.versions, args.chain, max(args.repeat, 5))
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measurement'.ljust(width)}  {'median':>10}  ratio / target")
    for label, seconds, note in rows:
        shown = f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.2f} s"
        print(f"{label.ljust(width)}  {shown:>10}  {note}")


if __name__ == "__main__":
    main()
