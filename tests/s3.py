"""An S3 protocol server on loopback for the storage tests: moto's server mode (from PyPI),
started once per test session; boto3 finds it through AWS_ENDPOINT_URL like any S3-compatible
store (MinIO, Ceph). Skipped with a clear message when moto is not installed (CI installs it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

# a test that keeps files runs on both backends (tests/api/conftest.py's `storage` fixture)
BOTH_STORES = pytest.mark.parametrize("storage", ["local", "s3"], indirect=True)
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "binwatch-test",
    "AWS_SECRET_ACCESS_KEY": "binwatch-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        message = "moto is not installed (the dev extra has it): no S3 server on loopback"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*CREDENTIALS, "AWS_ENDPOINT_URL"]}
    os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
    yield endpoint
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


def new_bucket(endpoint: str) -> str:
    """A fresh bucket on the server (one per test, so tests do not see each other's objects)."""
    name = f"binwatch-{uuid.uuid4().hex[:12]}"
    client(endpoint).create_bucket(Bucket=name)
    return name


def client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
    )
