"""The local Citus cluster for a test session: built and started when needed, a fresh database per
session dropped at the end, and the nodes stopped at the end when this session started them."""

import uuid

import pytest

from tests.citus.cluster import CitusCluster


@pytest.fixture(scope="session")
def citus_cluster():
    cluster = CitusCluster(database=None)
    with cluster:
        yield cluster


@pytest.fixture(scope="session")
def citus_url(citus_cluster) -> str:
    """The coordinator's URL of this session's database (citus on every node, both workers registered)."""
    name = f"citus_test_{uuid.uuid4().hex[:10]}"
    url = citus_cluster.create_database(name)
    yield url
    citus_cluster.drop_database(name)
