"""Copying a remote resource's file: fetched (conditionally) or opened, spooled to a
temporary file while it is hashed and measured, so the object store and the tabular
ingestion both read it from disk and memory stays flat whatever its size."""

import hashlib
import mimetypes
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from catalog.interfaces import RecordField, RecordStore
from harvesters.interfaces import Fetcher, FileTooLarge, HarvestSourceError, RemoteResource
from harvesters.tabular import IngestReport, TabularError, infer_schema, ingest

CHUNK_BYTES = 1024 * 1024
TABULAR_FORMATS = frozenset({"CSV", "XLSX", "JSON", "GEOJSON"})
TABULAR_SUFFIXES = frozenset({".csv", ".xlsx", ".json", ".geojson"})


@dataclass
class Spooled:
    """A resource's bytes in a temporary file, with what was learnt while copying them."""

    file: BinaryIO
    sha256: str
    size: int
    etag: str | None
    last_modified: str | None
    content_type: str


class NotModified(Exception):
    """The server answered 304 to a conditional request: the remembered file is current."""


class TooLarge(Exception):
    """The file is larger than the harvest may copy."""


def file_name_of(resource: RemoteResource) -> str:
    """The file name for the object key and downloads: the given one, else the URL's."""
    if resource.file_name.strip():
        return resource.file_name.strip()
    if resource.url:
        last = unquote(urlsplit(resource.url).path.rstrip("/").rsplit("/", 1)[-1])
        if last:
            return last
    suffix = f".{resource.format.lower()}" if resource.format.isalnum() else ""
    return f"data{suffix}"


def media_type_of(resource: RemoteResource, file_name: str, content_type: str = "") -> str:
    given = resource.media_type or content_type.split(";")[0].strip()
    return given or mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def is_tabular(resource: RemoteResource, file_name: str) -> bool:
    return (
        resource.format.strip().upper() in TABULAR_FORMATS
        or PurePosixPath(file_name).suffix.lower() in TABULAR_SUFFIXES
    )


def spool(
    resource: RemoteResource,
    fetcher: Fetcher,
    stack: ExitStack,
    max_bytes: int,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Spooled:
    """Copy the resource's bytes (through its opener, else its URL with a conditional GET
    on ``etag`` / ``last_modified``) into a temporary file that lives as long as ``stack``.

    Raises NotModified on a 304, TooLarge past ``max_bytes``, and HarvestSourceError
    (FetchError for HTTP) when the file cannot be read."""
    target = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by the stack
    if resource.opener is not None:
        with ExitStack() as opened:
            try:
                source = opened.enter_context(resource.opener())
            except OSError as error:
                raise HarvestSourceError(
                    f"cannot open the resource {resource.name!r}: {error}"
                ) from None
            digest, size = _copy(iter(lambda: _read(source, resource), b""), target, max_bytes)
        return Spooled(target, digest, size, resource.etag, resource.last_modified, "")
    if not resource.url:
        raise HarvestSourceError(f"the resource {resource.name!r} has neither a URL nor content")
    try:
        with fetcher.stream(resource.url, etag=etag, last_modified=last_modified) as answer:
            if answer is None:
                raise NotModified(resource.url)
            digest, size = _copy(answer.chunks, target, max_bytes)
            headers = answer.headers
    except FileTooLarge as error:
        # Past the same limit the sync keeps a link to the file, not a failure.
        raise TooLarge(str(error)) from None
    return Spooled(
        target,
        digest,
        size,
        headers.get("etag") or resource.etag,
        headers.get("last-modified") or resource.last_modified,
        headers.get("content-type", ""),
    )


def _read(source: BinaryIO, resource: RemoteResource) -> bytes:
    try:
        return source.read(CHUNK_BYTES)
    except OSError as error:
        raise HarvestSourceError(f"cannot read the resource {resource.name!r}: {error}") from None


def _copy(chunks, target: BinaryIO, max_bytes: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"larger than the limit of {max_bytes} bytes")
        digest.update(chunk)
        target.write(chunk)
    target.flush()
    return digest.hexdigest(), size


@dataclass(frozen=True)
class Records:
    """The outcome of loading a file into the record store: a report, or why it is no table."""

    report: IngestReport | None
    refusal: str = ""


def load_records(
    spooled: Spooled,
    record_store: RecordStore,
    resource_id: str,
    *,
    file_name: str,
    media_type: str,
    earlier_fields: list[dict],
) -> Records:
    """Load the file's rows as the resource's records, with the fields inferred from it.
    A field the resource had before keeps its title and its sensitive mark, which a steward
    may have set. A file that is no table leaves the resource without records."""
    try:
        spooled.file.seek(0)
        schema = infer_schema(spooled.file, file_name=file_name, media_type=media_type)
        before = {f["name"]: f for f in earlier_fields}
        chosen = [
            RecordField(
                name=f.name,
                type=f.type,
                title=before.get(f.name, {}).get("title") or f.title,
                sensitive=f.sensitive or bool(before.get(f.name, {}).get("sensitive")),
            )
            for f in schema.fields
        ]
        spooled.file.seek(0)
        report = ingest(
            spooled.file,
            chosen,
            record_store,
            resource_id,
            file_name=file_name,
            media_type=media_type,
        )
    except TabularError as error:
        if record_store.exists(resource_id):
            record_store.drop(resource_id)
        return Records(None, error.message)
    return Records(report)


def field_dicts(report: IngestReport) -> list[dict]:
    """The resource's fields (信息项) as Resource.fields keeps them."""
    return [
        {"name": f.name, "title": f.title, "type": f.type, "sensitive": f.sensitive}
        for f in report.fields
    ]
