"""Compare-and-swap on one small object: local files and S3 (conditional requests).

Each backend offers `create(data) -> version | None` (None: it exists), `read() -> (data, version) |
None`, `replace(data, version) -> new version | None` (None: it changed meanwhile) and
`delete(version)`. A version is the content locally and the ETag on S3.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import uuid
from typing import Optional

from operators import storage

log = logging.getLogger(__name__)


class LocalBackend:
    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.guard = self.path + ".guard"

    def create(self, data: bytes) -> Optional[bytes]:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        temp = self._write_temp(data)
        try:
            os.link(temp, self.path)
        except FileExistsError:
            return None
        finally:
            os.unlink(temp)
        return data

    def read(self) -> Optional[tuple[bytes, bytes]]:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        return data, data

    def replace(self, data: bytes, version: bytes) -> Optional[bytes]:
        with self._guarded():
            found = self.read()
            if found is None or found[1] != version:
                return None
            os.replace(self._write_temp(data), self.path)
        return data

    def delete(self, version: bytes) -> None:
        with self._guarded():
            found = self.read()
            if found is not None and found[1] == version:
                os.unlink(self.path)

    def _write_temp(self, data: bytes) -> str:
        temp = f"{self.path}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
        return temp

    @contextlib.contextmanager
    def _guarded(self):
        with open(self.guard, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class S3Backend:
    """Conditional PUT/DELETE (`If-None-Match: *`, `If-Match: <etag>`), as S3 has offered since 2024."""

    def __init__(self, uri: str):
        import boto3
        self.bucket, _, self.key = uri[len("s3://"):].partition("/")
        self.client = boto3.client("s3")

    def create(self, data: bytes) -> Optional[str]:
        return self._put(data, IfNoneMatch="*")

    def read(self) -> Optional[tuple[bytes, str]]:
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.NoSuchKey:
            return None
        except self.client.exceptions.NoSuchBucket:
            raise FileNotFoundError(2, f"no bucket {self.bucket}") from None
        return reply["Body"].read(), reply["ETag"]

    def replace(self, data: bytes, version: str) -> Optional[str]:
        return self._put(data, IfMatch=version)

    def delete(self, version: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=version)
        except self.client.exceptions.ClientError as err:
            if not _conflict(err):
                raise
            log.warning("lock s3://%s/%s changed hands before release; left in place", self.bucket, self.key)

    def _put(self, data: bytes, **condition) -> Optional[str]:
        try:
            return self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data, **condition)["ETag"]
        except self.client.exceptions.NoSuchBucket:
            raise FileNotFoundError(2, f"no bucket {self.bucket}") from None
        except self.client.exceptions.ClientError as err:
            if _conflict(err):
                return None
            if err.response.get("Error", {}).get("Code") in ("AccessDenied", "AllAccessDisabled"):
                raise PermissionError(13, "access denied") from None
            raise


def _conflict(err) -> bool:
    return err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict",
                                                          "NoSuchKey")


def backend_for(uri: str):
    if uri.startswith("s3://"):
        return S3Backend(uri)
    if storage.is_remote(uri):
        raise NotImplementedError(f"{uri}: output locks support local paths and s3:// only")
    return LocalBackend(uri)
