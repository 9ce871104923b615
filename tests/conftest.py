"""Fixtures shared by the project's tests: a throwaway PostgreSQL cluster."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.postgres import ThrowawayCluster, find_bindir

_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[ThrowawayCluster]:
    """One PostgreSQL cluster for the session, stopped (and deleted) at its end."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin);"
            " install Debian's postgresql package to run these tests"
        )
    cluster = ThrowawayCluster(bindir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def empty_schema_url(cluster: ThrowawayCluster) -> str:
    """A connection URL to a new, empty schema of the cluster's database."""
    import psycopg

    schema = f"t{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(cluster.url(), autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return cluster.url() + "?options=" + quote(f"-c search_path={schema}")


@pytest.fixture
def postgres_url(postgres_cluster: ThrowawayCluster) -> str:
    """A connection URL to an empty schema of its own: each test starts from nothing."""
    return empty_schema_url(postgres_cluster)
