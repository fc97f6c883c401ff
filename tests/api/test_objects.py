"""The object store the service keeps its files in (api/objects.py): keys are checked, writes are
atomic, models stream in and out in chunks, listings give what was written when. Written against
the interface, so a second backend (an S3 bucket) runs the same tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.objects import CHUNK, LocalStore, ObjectStore, evidence_key, model_key, report_key
from tests.s3 import client as s3_client
from tests.s3 import new_bucket


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalStore(tmp_path / "data")
        return
    from api.objects_s3 import S3Store

    endpoint = request.getfixturevalue("s3_endpoint")
    yield S3Store(new_bucket(endpoint), "deployment-1/", client=s3_client(endpoint))


def test_put_get_delete(store: ObjectStore) -> None:
    assert store.get("evidence/ab/x.jpg") is None and store.size("evidence/ab/x.jpg") is None
    store.put("evidence/ab/x.jpg", b"jpeg")
    assert store.get("evidence/ab/x.jpg") == b"jpeg" and store.size("evidence/ab/x.jpg") == 4
    store.put("evidence/ab/x.jpg", b"other")  # replaced whole
    assert store.get("evidence/ab/x.jpg") == b"other"
    store.delete("evidence/ab/x.jpg")
    store.delete("evidence/ab/x.jpg")  # gone already: no error
    assert store.get("evidence/ab/x.jpg") is None


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b"])
def test_keys_stay_inside(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="not an object key"):
        store.put(key, b"x")


def test_a_model_streams_in_and_out_in_chunks(store: ObjectStore) -> None:
    parts = [bytes([n]) * CHUNK for n in range(3)] + [b"tail"]
    assert store.put_stream(model_key("f" * 64), iter(parts)) == 3 * CHUNK + 4
    chunks = store.stream(model_key("f" * 64))
    assert chunks is not None
    got = list(chunks)
    assert all(len(c) <= CHUNK for c in got) and b"".join(got) == b"".join(parts)
    assert store.stream(model_key("0" * 64)) is None


def test_a_failed_upload_leaves_nothing(store: ObjectStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"half"
        raise ConnectionError("client went away")

    store.put(model_key("e" * 64), b"the old one")
    with pytest.raises(ConnectionError):
        store.put_stream(model_key("e" * 64), broken())
    assert store.get(model_key("e" * 64)) == b"the old one"
    assert [k for k, _ in store.listing("models/")] == [model_key("e" * 64)]


def test_listing_by_prefix(store: ObjectStore) -> None:
    event = uuid.uuid4()
    store.put(evidence_key(event), b"1")
    store.put(report_key(7), b"2")
    store.put(model_key("a" * 64), b"3")
    keys = [k for k, _ in store.listing("evidence/")]
    assert sorted(keys) == sorted([evidence_key(event), report_key(7)])
    assert [k for k, _ in store.listing("nothing/")] == []


def test_the_local_layout_is_the_data_directory_of_before(tmp_path: Path) -> None:
    """A key is a path under BINWATCH_DATA_DIR, as files were kept before the store: an
    existing deployment's evidence and models are found where they are."""
    event = uuid.UUID("3f2a91c0-7b4e-4c1d-9a55-0123456789ab")
    local = LocalStore(tmp_path)
    local.put(evidence_key(event), b"x")
    assert (tmp_path / "evidence" / "3f" / f"{event}.jpg").read_bytes() == b"x"
    assert local.path(report_key(5)) == tmp_path / "evidence" / "reports" / "5.jpg"
    assert local.path(model_key("b" * 64)) == tmp_path / "models" / f"{'b' * 64}.onnx"
