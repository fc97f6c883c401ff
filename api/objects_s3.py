"""The object store as an S3-compatible bucket (`BINWATCH_STORAGE_URL=s3://bucket/prefix`): AWS
S3, MinIO, Ceph, or a Chinese cloud's S3-compatible store. boto3 reads the endpoint, region and
credentials from the standard `AWS_*` environment variables itself (`AWS_ENDPOINT_URL`,
`AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).

An object appears whole or not at all (a multipart upload completes or is aborted). When the store
cannot be reached, every call raises `StoreUnavailableError` (the API answers 503, so devices
retry their evidence later; events are ingested meanwhile)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from api.objects import CHUNK, StoreUnavailableError, checked_key


class _Reader(io.RawIOBase):
    """Chunks as a file object, for boto3's streamed (multipart) upload."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._left = b""
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        self.count += n
        return n


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", client: Any = None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        from botocore.config import Config

        # a store that does not answer fails fast (the request answers 503; devices retry)
        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3})
        self.client = client or boto3.client("s3", config=config)

    @classmethod
    def from_url(cls, url: str) -> S3Store:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        return cls(parts.netloc, parts.path)

    def _key(self, key: str) -> str:
        return self.prefix + checked_key(key)

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if status >= 500:
                raise StoreUnavailableError(f"object store: {exc}") from exc
            raise
        except BotoCoreError as exc:  # no connection, a timeout
            raise StoreUnavailableError(f"object store unreachable: {exc}") from exc

    @staticmethod
    def _missing(exc: Exception) -> bool:
        from botocore.exceptions import ClientError

        if not isinstance(exc, ClientError):
            return False
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def check(self, create: bool = False) -> None:
        """The bucket must be there (or is made, with `create`)."""
        from botocore.exceptions import ClientError

        try:
            self._call("head_bucket")
            return
        except ClientError as exc:
            if not (self._missing(exc) or "NoSuchBucket" in str(exc)):
                raise
        if not create:
            raise ValueError(
                f"the bucket {self.bucket!r} does not exist: create it, or set "
                "BINWATCH_STORAGE_CREATE=1 to have the service create it"
            )
        self._call("create_bucket")

    def put(self, key: str, data: bytes) -> None:
        self._call("put_object", Key=self._key(key), Body=data)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        reader = _Reader(chunks)
        try:
            self.client.upload_fileobj(
                io.BufferedReader(reader, CHUNK), self.bucket, self._key(key)
            )
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailableError(f"object store: {exc}") from exc
        return reader.count

    def _object(self, method: str, key: str) -> Any:
        """The answer about an object, or None when there is no such object."""
        try:
            return self._call(method, Key=self._key(key))
        except Exception as exc:
            if self._missing(exc):
                return None
            raise

    def get(self, key: str) -> bytes | None:
        answer = self._object("get_object", key)
        return None if answer is None else bytes(answer["Body"].read())

    def stream(self, key: str) -> Iterator[bytes] | None:
        answer = self._object("get_object", key)
        if answer is None:
            return None
        chunks: Iterator[bytes] = iter(answer["Body"].iter_chunks(CHUNK))
        return chunks

    def size(self, key: str) -> int | None:
        answer = self._object("head_object", key)
        return None if answer is None else int(answer["ContentLength"])

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=self._key(key))

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        wanted = self.prefix + checked_key(prefix.rstrip("/")) + "/"
        token: dict[str, str] = {}
        while True:
            page = self._call("list_objects_v2", Prefix=wanted, **token)
            for item in page.get("Contents", []):
                when = item["LastModified"]
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
                yield str(item["Key"])[len(self.prefix) :], when
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}
