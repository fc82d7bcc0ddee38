"""Fixtures for the fake API server tests: one session cluster, one namespace per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from labtools.testing.cluster import FakeCluster, NamespacedKubectl

_COUNTER = itertools.count(1)


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCluster]:
    """A fake API server shared by the session (stopped at teardown)."""
    cluster = FakeCluster(tmp_path_factory.mktemp("apiserver"), pod_ready_delay=0.2)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kube(apiserver: FakeCluster) -> Iterator[NamespacedKubectl]:
    """A fresh namespace for one test (deleted afterwards, without waiting)."""
    name = f"t{next(_COUNTER)}"
    apiserver.kubectl("create", "namespace", name, check=True)
    yield NamespacedKubectl(apiserver, name)
    apiserver.kubectl("delete", "namespace", name, "--wait=false")
