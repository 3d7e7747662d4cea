"""A real one-node Slurm cluster for the ``slurm`` tests, started once per test session and
stopped by pid, and a ``Bp`` whose runs go to it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.run.conftest import Bp
from tests.slurm.cluster import ClusterUnavailable, SlurmCluster

#: Test-sized Slurm settings: Slurm's warning comes 20 s before the limit (production keeps
#: 90 s or more), heartbeats every second.
SLURM_ENV = {
    "BACKPROP_SLURM__SIGNAL_MARGIN_SECONDS": "20",
    "BACKPROP_LIVENESS__HEARTBEAT_SECONDS": "1",
}


#: What ``Bp`` sets for every run (the rest of BACKPROP_* is dropped).
BP_DEFAULTS = frozenset(
    {
        "BACKPROP_HOME",
        "BACKPROP_GPU__PROBE",
        "BACKPROP_GOVERNOR__POLL_SECONDS",
        "BACKPROP_MIN_FREE_RAM_GB",
        "BACKPROP_GOVERNOR__PAUSE_BELOW_FREE_RAM_GB",
        "BACKPROP_STOP__GRACE_SECONDS",
    }
)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    root = tmp_path_factory.mktemp("slurm")
    cluster = SlurmCluster(root, name=f"bp{secrets.token_hex(4)}")
    try:
        cluster.start()
    except ClusterUnavailable as exc:
        pytest.skip(f"no Slurm cluster here: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


class SlurmBp(Bp):
    """``Bp`` for one temporary home whose runs go to the test cluster. Module-scoped, so it
    cleans the environment itself (the per-test isolation is not set up yet)."""

    def __init__(self, tmp_path: Path, cluster: SlurmCluster) -> None:
        super().__init__(tmp_path)
        self.cluster = cluster
        ours = {k: v for k, v in self.env.items() if k in BP_DEFAULTS}
        self.env = {k: v for k, v in self.env.items() if not k.startswith("BACKPROP_")}
        self.env.update(
            ours,
            XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
            XDG_DATA_HOME=str(tmp_path / "xdg-data"),
            XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
            **cluster.env,
            **SLURM_ENV,
        )


@pytest.fixture(scope="module")
def sbp(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmBp]:
    helper = SlurmBp(tmp_path_factory.mktemp("slurm-runs"), slurm_cluster)
    yield helper
    helper.cleanup()


@pytest.fixture(scope="module")
def lone(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlurmBp]:
    """A home for one run: no other job's supervisor opens it. (Opening a home reconciles its
    runs, and a supervisor on this host would see a killed one gone by its pid before Slurm is
    asked, which a test of what Slurm says must not race with.)"""
    helper = SlurmBp(tmp_path_factory.mktemp("slurm-lone"), slurm_cluster)
    yield helper
    helper.cleanup()
