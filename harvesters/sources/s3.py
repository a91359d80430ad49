"""An S3 bucket prefix as a harvest source (``s3``): AWS S3 or any S3-compatible store.

The prefix is listed page by page (``list_objects_v2``); each object with a tabular
extension (or each matching the ``pattern``, or every object with ``all_files``) becomes a
dataset of its own, or, with ``one_dataset``, a resource of the source's one dataset. An
object's content hash is its ETag and size, which S3 states in the listing, so an unchanged
object is neither downloaded nor imported again; the opener streams the object's body and
asks for that very ETag (If-Match), so what is stored is what was hashed.

Keys are never stored with the source: ``access_key_env`` / ``secret_key_env`` name the
environment variables holding them (``harvesters.sources.access`` says which names may be
used). Without them the bucket is read anonymously, never with the portal's own
credentials, which may open buckets the steward may not read. The endpoint is reached under
the fetcher's address rule (no loopback or private addresses unless allowed).
"""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from email.utils import format_datetime
from pathlib import PurePosixPath
from typing import Any, BinaryIO, ClassVar
from urllib.parse import unquote, urlsplit

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from harvesters.interfaces import (
    Fetcher,
    GatherFailure,
    HarvestSourceError,
    RemoteDataset,
    RemoteResource,
    SourceSpec,
)
from harvesters.sources.access import (
    allows_private,
    read_secret,
    secret_name_error,
    vetted_address,
)
from harvesters.sources.files import file_format, http_url_error, is_hidden, is_tabular, title_of
from harvesters.sources.options import option_errors

DEFAULT_PAGE_SIZE = 1000  # S3's own largest page
DEFAULT_REGION = "us-east-1"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def bucket_and_prefix(url: str) -> tuple[str, str]:
    """The bucket and key prefix of ``s3://bucket/prefix``; ValueError says what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme != "s3":
        raise ValueError("Give the bucket as s3://bucket/prefix.")
    if not _BUCKET.fullmatch(parts.netloc):
        raise ValueError(f"{parts.netloc!r} is not an S3 bucket name.")
    return parts.netloc, unquote(parts.path.lstrip("/"))


class S3PrefixSource:
    """The objects under an S3 prefix (``s3://bucket/prefix``).

    Options: ``endpoint_url`` (an S3-compatible server; empty for AWS), ``region``,
    ``access_key_env`` and ``secret_key_env`` (environment variables holding the keys; both
    or neither), ``pattern`` (a glob on the key below the prefix, from its end: ``*.csv``),
    ``all_files`` (every object, not only tables), ``one_dataset`` (all objects as the
    resources of one dataset, titled ``title``), ``description``, ``page_size``."""

    kind = "s3"
    label = "S3 存储桶"
    OPTIONS: ClassVar[dict[str, type]] = {
        "endpoint_url": str,
        "region": str,
        "access_key_env": str,
        "secret_key_env": str,
        "pattern": str,
        "all_files": bool,
        "one_dataset": bool,
        "title": str,
        "description": str,
        "page_size": int,
    }

    def __init__(self, spec: SourceSpec, fetcher: Fetcher) -> None:
        self.spec = spec
        self.fetcher = fetcher
        self._client: Any = None

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        errors = option_errors(spec.config, cls.OPTIONS)
        if errors:
            return errors
        config = spec.config
        try:
            bucket_and_prefix(spec.url)
        except ValueError as error:
            errors["url"] = [str(error)]
        if config.get("endpoint_url"):
            endpoint_error = http_url_error(config["endpoint_url"])
            if endpoint_error:
                errors["config.endpoint_url"] = [endpoint_error]
        key_names = [config.get("access_key_env"), config.get("secret_key_env")]
        if any(key_names) and not all(key_names):
            errors["config.secret_key_env"] = ["Name both key variables, or neither."]
        for option in ("access_key_env", "secret_key_env"):
            if config.get(option):
                secret_error = secret_name_error(config[option])
                if secret_error:
                    errors[f"config.{option}"] = [secret_error]
        page_size = config.get("page_size")
        if page_size is not None and not 1 <= page_size <= DEFAULT_PAGE_SIZE:
            errors["config.page_size"] = [f"Give a page size from 1 to {DEFAULT_PAGE_SIZE}."]
        return errors

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        """The prefix's objects, listed page by page; raises HarvestSourceError when the
        bucket cannot be listed (missing, refused, unreachable)."""
        errors = self.check_spec(self.spec)
        if errors:
            raise HarvestSourceError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
            )
        bucket, prefix = bucket_and_prefix(self.spec.url)
        self._client = self._build_client()
        objects = (item for item in self._list(bucket, prefix) if self._wanted(item, prefix))
        if not self.spec.config.get("one_dataset"):
            for item in objects:
                resource = self._resource(bucket, item, name=_file_name(item["Key"]))
                yield RemoteDataset(
                    remote_id=item["Key"],
                    title=title_of(_file_name(item["Key"])),
                    description=self.spec.config.get("description", ""),
                    resources=(resource,),
                    raw=_raw(item),
                )
            return
        # Names relative to the prefix tell apart files of the same name in sub-folders.
        resources = tuple(
            self._resource(bucket, item, name=item["Key"][len(prefix) :]) for item in objects
        )
        where = f"s3://{bucket}/{prefix}"
        yield RemoteDataset(
            remote_id=where,
            title=self.spec.config.get("title") or PurePosixPath(prefix).name or bucket,
            description=self.spec.config.get("description", ""),
            resources=resources,
            raw=json.dumps({"prefix": where, "objects": len(resources)}, ensure_ascii=False),
        )

    def _build_client(self) -> Any:
        config = self.spec.config
        endpoint = config.get("endpoint_url") or None
        if endpoint:
            endpoint = self._vetted_endpoint(endpoint)
        signing: dict[str, Any] = {"signature_version": "s3v4"}
        keys: dict[str, str] = {}
        if config.get("access_key_env"):
            keys = {
                "aws_access_key_id": read_secret(config["access_key_env"]),
                "aws_secret_access_key": read_secret(config["secret_key_env"]),
            }
        else:
            signing = {"signature_version": UNSIGNED}
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=config.get("region") or DEFAULT_REGION,
            config=Config(
                **signing,
                # S3-compatible stores serve buckets by path, not by sub-domain.
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
            **keys,
        )

    def _vetted_endpoint(self, endpoint: str) -> str:
        """The endpoint after the fetcher's address rule. Over plain http the client is
        pointed at the vetted address itself, so no second lookup can lead elsewhere (DNS
        rebinding); over https the certificate check on the name does that job."""
        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = vetted_address(parts.hostname or "", port, allows_private(self.fetcher))
        if parts.scheme == "https":
            return endpoint
        host = f"[{address}]" if ":" in address else address
        return parts._replace(netloc=f"{host}:{port}").geturl()

    def _list(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        page_size = self.spec.config.get("page_size") or DEFAULT_PAGE_SIZE
        arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
        while True:
            try:
                page = self._client.list_objects_v2(**arguments)
            except (BotoCoreError, ClientError) as error:
                raise HarvestSourceError(
                    f"cannot list s3://{bucket}/{prefix}: {_reason(error)}"
                ) from None
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            arguments["ContinuationToken"] = page["NextContinuationToken"]

    def _wanted(self, item: dict[str, Any], prefix: str) -> bool:
        key = item["Key"]
        if key.endswith("/") or is_hidden(_file_name(key)):  # folder markers, dot files
            return False
        pattern = self.spec.config.get("pattern")
        if pattern:
            return PurePosixPath(key[len(prefix) :]).match(pattern)
        return bool(self.spec.config.get("all_files")) or is_tabular(key)

    def _resource(self, bucket: str, item: dict[str, Any], name: str) -> RemoteResource:
        key, etag = item["Key"], item.get("ETag", "")
        file_format_label, media_type = file_format(key)
        modified = item.get("LastModified")
        stated = format_datetime(modified.astimezone(UTC), usegmt=True) if modified else None
        return RemoteResource(
            remote_id=key,
            name=name,
            opener=lambda: self._open(bucket, key, etag),
            format=file_format_label,
            media_type=media_type,
            file_name=_file_name(key),
            size=item.get("Size"),
            last_modified=stated,
            # An object uploaded again unchanged keeps its ETag, and stays unchanged.
            content_hash=f"{etag.strip(chr(34))}:{item.get('Size')}",
        )

    @contextmanager
    def _open(self, bucket: str, key: str, etag: str) -> Iterator[BinaryIO]:
        """Stream the object's body, the very version the listing described."""
        arguments = {"Bucket": bucket, "Key": key}
        if etag:
            arguments["IfMatch"] = etag
        try:
            body = self._client.get_object(**arguments)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise HarvestSourceError(
                    f"s3://{bucket}/{key} changed while it was harvested; the next run takes it"
                ) from None
            raise HarvestSourceError(f"cannot read s3://{bucket}/{key}: {_reason(error)}") from None
        except BotoCoreError as error:
            raise HarvestSourceError(f"cannot read s3://{bucket}/{key}: {error}") from None
        try:
            yield body
        finally:
            body.close()


def _file_name(key: str) -> str:
    return PurePosixPath(key).name


def _raw(item: dict[str, Any]) -> str:
    return json.dumps(
        {name: str(value) for name, value in item.items() if name != "Owner"}, ensure_ascii=False
    )


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', '')} {details.get('Message', '')}".strip()
    return str(error)
