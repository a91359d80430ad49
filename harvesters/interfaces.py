"""What a harvest source type gives the sync pipeline, and the fetcher it reads through.

A source type (CKAN, DCAT, data.json, a file URL or folder, a SQL query, an S3 prefix)
implements only ``gather``: it reads its source and yields one ``RemoteDataset`` per object,
already mapped onto the catalog's fields, or a ``GatherFailure`` for an object it could not
read. The pipeline (harvesters.sync) does the rest for every type alike: it compares hashes
with what the last run saw, fetches changed resource files into the object store, loads
tabular ones into the record store, writes datasets with their audit events, and withdraws
what is gone. Source types are registered as entry points in the group
``opendata.harvest_sources`` (see setup.cfg), so a department can add its own.

Every HTTP request a source type makes goes through the ``Fetcher`` it is given, which
enforces the timeouts, size limits and address rules (no loopback, private or link-local
addresses unless a setting allows them).
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO, ClassVar, Protocol


class HarvestSourceError(Exception):
    """The source as a whole could not be read (it does not answer, its catalog does not
    parse, its configuration is wrong): the job fails with this message."""


class FetchError(HarvestSourceError):
    """An HTTP fetch failed: refused address, timeout, too large, bad status, bad redirect."""


class FileTooLarge(FetchError):
    """The body is larger than the fetcher's limit (stated or counted, decompressed)."""


@dataclass(frozen=True)
class FetchedDocument:
    """A whole response body, for metadata documents (bounded by the fetcher's limit)."""

    url: str  # after redirects
    status: int
    headers: Mapping[str, str]  # lower-case names
    content: bytes

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True)
class FetchedStream:
    """A response whose body is read in chunks, for resource files of any size."""

    url: str
    status: int
    headers: Mapping[str, str]
    chunks: Iterator[bytes]  # raises FetchError past the size limit


class Fetcher(Protocol):
    def get(self, url: str, *, accept: str = "*/*") -> FetchedDocument:
        """GET a document whole; raises FetchError (a 4xx/5xx status included)."""

    def stream(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> AbstractContextManager[FetchedStream | None]:
        """GET a file as a stream; with etag / last_modified it is a conditional request
        and yields None when the server answers 304 Not Modified."""


@dataclass(frozen=True)
class RemoteResource:
    """One resource of a remote dataset: a file to copy into the object store or a link."""

    remote_id: str  # stable within its dataset (the remote resource id, else its URL)
    name: str
    url: str | None = None  # fetched through the Fetcher when ``store`` is true
    # For content the source type produces itself (a SQL query's export, an S3 object, a
    # file in a folder): opens a binary stream. Used instead of ``url`` when given.
    opener: Callable[[], AbstractContextManager[BinaryIO]] | None = None
    format: str = ""  # CSV, XLSX, JSON, GEOJSON, ...
    media_type: str = ""
    description: str = ""
    file_name: str = ""  # for the object key and downloads; derived from the URL if empty
    size: int | None = None  # as the source states it
    etag: str | None = None
    last_modified: str | None = None
    # A hash of the content the source states or can compute cheaply (an S3 ETag, the
    # SQL export's sha256): when it equals the last run's, the file is not fetched again.
    content_hash: str | None = None
    # False: keep only a link to ``url`` (APIs, web pages, files past the size limit).
    store: bool = True


@dataclass(frozen=True)
class RemoteDataset:
    """One object of a source, mapped onto the catalog's dataset fields."""

    remote_id: str  # the object's identity in the source (CKAN id, DCAT IRI, identifier)
    title: str
    description: str = ""
    title_en: str = ""
    description_en: str = ""
    tags: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()  # theme slugs or names as the source gives them
    license: str = ""  # a licence id or URL as the source gives it
    issued: date | None = None
    modified: datetime | None = None
    update_frequency: str = ""  # an UpdateFrequency code, or "" for unknown
    temporal_start: date | None = None
    temporal_end: date | None = None
    spatial: str = ""
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    resource_code: str = ""  # 信息资源代码 when the source has one
    version: str = ""
    landing_page: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)
    resources: tuple[RemoteResource, ...] = ()
    # The object as the source gave it (JSON text, Turtle, ...), kept in error reports.
    raw: str = ""


@dataclass(frozen=True)
class GatherFailure:
    """An object the source type found but could not map; the job counts it as failed
    and keeps the raw payload in its error report."""

    remote_id: str
    message: str
    raw: str = ""


@dataclass(frozen=True)
class SourceSpec:
    """What a source type is built from: the harvest source's URL and options."""

    url: str
    config: Mapping[str, Any] = field(default_factory=dict)


class SourceType(Protocol):
    kind: ClassVar[str]  # the entry point name: ckan, dcat, datajson, url, folder, sql, s3
    label: ClassVar[str]  # shown to stewards, in Chinese

    def __init__(self, spec: SourceSpec, fetcher: Fetcher) -> None: ...

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        """Field errors of a source's URL and options ({} when it is fine); called when a
        steward adds or edits a source, so a bad one is refused before any job runs."""

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        """Every object of the source, read lazily (page by page where the source pages);
        raises HarvestSourceError when the source as a whole cannot be read."""
