"""The S3 object store: AWS S3 or any S3-compatible service (MinIO), chosen by ``s3://``.

``OPENDATA_STORAGE_URL=s3://bucket/optional/prefix``; the ``s3_*`` settings give the endpoint
(empty for AWS), the region and the keys (empty for boto3's own credential chain).

A put streams: the bytes pass through once, hashed and counted as boto3 reads them, and the
store holds at most a few parts of ``part_size`` in memory whatever the file's size. The
sha256 goes into the object's metadata (``x-amz-meta-sha256``), yet metadata must be sent
before the first byte, when the hash is not known. So a file that fits in one part is read
first, then sent in one PutObject with its hash; a larger one is uploaded in parts to a
staging key and copied, inside S3, onto its key with its hash. Either way the key shows the
new object whole or keeps the old one: a failed multipart upload is aborted by boto3 and
its staging object never appears.
"""

import hashlib
import logging
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from catalog.interfaces import MultipartUpload, ObjectInfo, StoredObject
from catalog.storage.disposition import attachment
from catalog.storage.local import READ_CHUNK, check_key, check_range

PART_SIZE = 16 * 1024 * 1024
# Parts read ahead while earlier ones are sent: throughput against memory per upload.
PARTS_IN_MEMORY = 2
# The largest object one CopyObject may copy; larger ones are copied in parts.
MAX_COPY_OBJECT = 5 * 1024**3
COPY_PART_SIZE = 512 * 1024 * 1024
# Where multipart uploads land before they are copied onto their keys. A bucket lifecycle
# rule expiring this prefix after a day clears what a killed process leaves behind.
STAGING = ".uploads/"
MISSING = ("404", "NoSuchKey", "NotFound")
# S3's rules for a multipart upload: every part but the last at least MIN_PART bytes, at
# most MAX_PART bytes and MAX_PARTS parts, and MAX_OBJECT bytes in all.
MIN_PART = 5 * 1024 * 1024
MAX_PART = 5 * 1024**3
MAX_PARTS = 10_000
MAX_OBJECT = 5 * 1024**4
# What S3 answers to parts it does not hold, out of order, or too small to join.
BAD_PARTS = ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML")
DELETE_BATCH = 1000  # the most keys one DeleteObjects takes

log = logging.getLogger(__name__)


class S3StoreError(RuntimeError):
    """The bucket cannot be used: it is missing, the keys are refused, or S3 is unreachable."""


class S3ObjectStore:
    def __init__(
        self,
        client,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = PART_SIZE,
        parts_in_memory: int = PARTS_IN_MEMORY,
    ):
        self.client = client
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) + "/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=parts_in_memory,
            # The classic transfer manager, even with awscrt installed: its memory bound
            # and its abort of a failed multipart upload are what put relies on.
            preferred_transfer_client="classic",
        )
        # Parts read ahead of the upload; boto3's TransferConfig takes it only this way.
        self.transfer.max_in_memory_upload_chunks = parts_in_memory
        self.copy_transfer = TransferConfig(
            multipart_threshold=MAX_COPY_OBJECT,
            multipart_chunksize=COPY_PART_SIZE,
            preferred_transfer_client="classic",
        )

    @classmethod
    def from_settings(cls, settings) -> "S3ObjectStore":
        url = urlsplit(settings.storage_url)
        if not url.netloc:
            raise ValueError(f"OPENDATA_STORAGE_URL {settings.storage_url!r} names no bucket")
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region or None,
            # None lets boto3 find keys itself: environment, profile, instance role.
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
            config=Config(
                signature_version="s3v4",
                # MinIO and most S3-compatible stores serve buckets by path, not subdomain.
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
        )
        return cls(client, url.netloc, unquote(url.path))

    @property
    def max_buffered_bytes(self) -> int:
        """About the most file bytes one put holds in memory: the parts read ahead or being
        sent, the one being read, and its pieces from a stream that returns short reads. It
        depends on the part size, never on the file's size."""
        return (self.transfer.max_in_memory_upload_chunks + 2) * self.part_size

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, stream: BinaryIO, content_type: str) -> StoredObject:
        name = self._name(key)
        head = _read_fully(stream, self.part_size)
        if len(head) < self.part_size:
            digest = hashlib.sha256(head).hexdigest()
            self.client.put_object(
                Bucket=self.bucket,
                Key=name,
                Body=head,
                ContentType=content_type,
                Metadata={"sha256": digest},
            )
            return StoredObject(key, len(head), digest, content_type)
        reader = _HashingReader(stream, head)
        del head  # the reader holds it now, and lets it go once boto3 has it
        staging = f"{self.prefix}{STAGING}{uuid.uuid4().hex}"
        try:
            self.client.upload_fileobj(
                reader,
                self.bucket,
                staging,
                ExtraArgs={"ContentType": content_type},
                Config=self.transfer,
            )
            digest = reader.digest.hexdigest()
            self.client.copy(
                {"Bucket": self.bucket, "Key": staging},
                self.bucket,
                name,
                ExtraArgs={
                    "ContentType": content_type,
                    "Metadata": {"sha256": digest},
                    "MetadataDirective": "REPLACE",
                },
                Config=self.copy_transfer,
            )
        finally:
            self._remove_staging(staging)
        return StoredObject(key, reader.size, digest, content_type)

    def _remove_staging(self, staging: str) -> None:
        # The put's own outcome is what the caller must hear about, so a failure here only
        # leaves garbage under STAGING for the bucket's lifecycle rule, and a warning.
        try:
            self.client.delete_object(Bucket=self.bucket, Key=staging)
        except (BotoCoreError, ClientError):
            log.warning("could not remove staging object %s", staging, exc_info=True)

    def open(self, key: str, start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        name = self._name(key)
        start, end = check_range(start, end)
        if end == start:
            # Nothing to read, and S3 has no empty Range: only whether the object is there.
            if not self.exists(key):
                raise KeyError(key)
            return iter(())
        request = {"Bucket": self.bucket, "Key": name}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            body = self.client.get_object(**request)["Body"]
        except ClientError as error:
            if _code(error) in MISSING:
                raise KeyError(key) from error
            if _code(error) == "InvalidRange":  # the range starts at or past the end
                return iter(())
            raise
        return _chunks(body)

    def stat(self, key: str) -> ObjectInfo:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as error:
            if _code(error) in MISSING:
                raise KeyError(key) from error
            raise
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            content_type=head.get("ContentType") or "application/octet-stream",
            etag=head["ETag"].strip('"'),
            last_modified=head["LastModified"].astimezone(UTC),
        )

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as error:
            if _code(error) in MISSING:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        # S3 answers a delete of a missing key with success, as the port wants.
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def copy(self, source: str, target: str, content_type: str, sha256: str) -> StoredObject:
        size = self.stat(source).size
        self.client.copy(
            {"Bucket": self.bucket, "Key": self._name(source)},
            self.bucket,
            self._name(target),
            ExtraArgs={
                "ContentType": content_type,
                "Metadata": {"sha256": sha256},
                "MetadataDirective": "REPLACE",
            },
            Config=self.copy_transfer,
        )
        return StoredObject(target, size, sha256, content_type)

    def remove_older(self, prefix: str, before: datetime) -> int:
        where = self._name(prefix.rstrip("/")) + "/"
        removed = 0
        stale = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=where
        ):
            stale += [o["Key"] for o in page.get("Contents", []) if o["LastModified"] < before]
        for start in range(0, len(stale), DELETE_BATCH):
            batch = [{"Key": name} for name in stale[start : start + DELETE_BATCH]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            removed += len(batch)
        # MinIO lists multipart uploads under a prefix only for an exact key: list them all
        # and pick ours.
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket
        ):
            for upload in page.get("Uploads", []):
                if upload["Key"].startswith(where) and upload["Initiated"] < before:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed += 1
        return removed

    def start_multipart_upload(
        self, key: str, content_type: str, size: int, expires_seconds: int, part_count: int = 0
    ) -> MultipartUpload:
        part_size = multipart_part_size(size, part_count, self.part_size)
        name = self._name(key)
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=name, ContentType=content_type
        )["UploadId"]
        urls = [
            self.client.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": self.bucket,
                    "Key": name,
                    "UploadId": upload_id,
                    "PartNumber": number,
                },
                ExpiresIn=expires_seconds,
            )
            for number in range(1, max(1, math.ceil(size / part_size)) + 1)
        ]
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_seconds)
        return MultipartUpload(key, upload_id, part_size, urls, expires_at)

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        given = [
            # S3 answers each PUT with a quoted ETag; clients pass it on with or without.
            {"PartNumber": number, "ETag": '"' + etag.strip().strip('"') + '"'}
            for number, etag in sorted(parts)
        ]
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._name(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": given},
            )
        except ClientError as error:
            code = _code(error)
            if code == "NoSuchUpload":
                raise KeyError(upload_id) from error
            if code in BAD_PARTS:
                message = error.response.get("Error", {}).get("Message") or code
                raise ValueError(message) from error
            raise
        return self.stat(key)

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._name(key), UploadId=upload_id
            )
        except ClientError as error:
            if _code(error) != "NoSuchUpload":
                raise

    def presigned_url(
        self,
        key: str,
        expires_seconds: int,
        file_name: str | None = None,
        content_type: str | None = None,
    ) -> str:
        params = {"Bucket": self.bucket, "Key": self._name(key)}
        if file_name is not None:
            # S3 sends back what the URL asks for; the header is ASCII (RFC 5987 escapes).
            params["ResponseContentDisposition"] = attachment(file_name)
        if content_type is not None:
            params["ResponseContentType"] = content_type
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_seconds
        )

    def check(self) -> str:
        where = f"S3 bucket {self.bucket}" + (f" (prefix {self.prefix})" if self.prefix else "")
        where += f" at {self.client.meta.endpoint_url}"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            code = _code(error)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise S3StoreError(f"{where}: the bucket does not exist") from error
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise S3StoreError(
                    f"{where}: access refused (check OPENDATA_S3_ACCESS_KEY_ID and "
                    "OPENDATA_S3_SECRET_ACCESS_KEY, and the bucket's policy)"
                ) from error
            raise S3StoreError(f"{where}: {error}") from error
        except BotoCoreError as error:
            raise S3StoreError(f"{where}: {error}") from error
        return where


def multipart_part_size(size: int, part_count: int = 0, preferred: int = PART_SIZE) -> int:
    """The part size of a multipart upload of ``size`` bytes: ``preferred``, or what
    ``part_count`` parts need, raised as S3's limits ask (at least MIN_PART, at most
    MAX_PARTS parts). ValueError for a size no upload in parts can take."""
    if size <= 0 or size > MAX_OBJECT:
        raise ValueError(f"a multipart upload takes 1 to {MAX_OBJECT} bytes, not {size}")
    if not 0 <= part_count <= MAX_PARTS:
        raise ValueError(f"a multipart upload has 1 to {MAX_PARTS} parts, not {part_count}")
    wanted = math.ceil(size / part_count) if part_count else preferred
    return min(MAX_PART, max(MIN_PART, wanted, math.ceil(size / MAX_PARTS)))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _chunks(body) -> Iterator[bytes]:
    # Closing the body when the reader stops early hands the connection back to the pool.
    try:
        yield from body.iter_chunks(READ_CHUNK)  # as the local store's, for the same reason
    finally:
        body.close()


def _read_fully(stream: BinaryIO, amount: int) -> bytes:
    """Up to ``amount`` bytes; fewer only at the end of the stream. A raw stream may return
    less than asked before its end, and a short part would break a multipart upload."""
    data = stream.read(amount)
    if not data or len(data) == amount:
        return data or b""
    pieces = [data]
    missing = amount - len(data)
    while missing and (data := stream.read(missing)):
        pieces.append(data)
        missing -= len(data)
    return b"".join(pieces)


class _HashingReader:
    """The caller's stream, read once and in order, hashed and counted as boto3 reads it.

    It says it cannot seek, so boto3 copies each part into memory before sending it, and a
    retried part is sent again from that copy, never read twice from here.
    """

    def __init__(self, stream: BinaryIO, head: bytes):
        self._stream = stream
        self._head = head
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, amount: int | None = -1) -> bytes:
        if amount is None or amount < 0:
            # boto3 asks for "the rest" only of a stream it has found shorter than a part.
            data, self._head = self._head + (self._stream.read() or b""), b""
        else:
            # Slicing all of a bytes object returns that object: the head is not copied.
            data, self._head = self._head[:amount], self._head[amount:]
            if len(data) < amount:
                data += _read_fully(self._stream, amount - len(data))
        self.digest.update(data)
        self.size += len(data)
        return data
