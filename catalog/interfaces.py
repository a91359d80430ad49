"""The ports of the catalog: each is a Protocol with one backend per engine, chosen by URL."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class ObjectInfo:
    """What a store says of one object without reading it."""

    key: str
    size: int
    # The type given at put where the backend keeps it (S3); the local folder keeps bytes
    # only, so there it is guessed from the key's extension. The catalog keeps the type
    # given at upload itself, on the resource.
    content_type: str
    # The backend's own tag (S3's ETag, a file's modification time and size): it changes
    # when the object does. Not the sha256, which the catalog keeps.
    etag: str
    last_modified: datetime  # aware, UTC


class ObjectStore(Protocol):
    """Where resource files live: a local folder by default, S3 at scale."""

    def put(self, key: str, stream: BinaryIO, content_type: str) -> StoredObject:
        """Store the stream's bytes under key, reading it in chunks; all or nothing."""

    def open(self, key: str, start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        """The object's bytes from ``start`` up to, not including, ``end`` (half-open, as a
        Python slice: ``open(key, 0, 10)`` is the first ten bytes; HTTP's inclusive
        ``bytes=0-9``), in chunks of at most a mebibyte. None is the object's start or end;
        a range reaching past the end stops there, and one starting at or past it is empty.

        Raises KeyError, before the first chunk, if there is no such object, and ValueError
        for a negative offset or an end before the start."""

    def stat(self, key: str) -> ObjectInfo:
        """The object's size, type, tag and time; raises KeyError if there is no such object."""

    def presigned_url(
        self,
        key: str,
        expires_seconds: int,
        file_name: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """A URL that lets whoever holds it GET the object, straight from the store, for
        ``expires_seconds``; sent as an attachment named ``file_name`` (any script, RFC 6266
        and 5987) and typed ``content_type`` when given. None where the backend has no such
        URLs (the local folder): serve the bytes through the portal instead. It does not
        check that the object exists."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def check(self) -> str:
        """Say where the store is; raise if it does not answer."""


@dataclass(frozen=True)
class SearchQuery:
    """A catalog search as the engines receive it, already expanded and policy-bound."""

    # Each inner tuple is one word of the query with its synonyms: a dataset must match
    # at least one alternative of every word.
    terms: tuple[tuple[str, ...], ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (document field, values)
    facets: tuple[str, ...] = ()  # document fields to count
    sort: str = "relevance"
    offset: int = 0
    limit: int = 20
    # Labels the caller holds (catalog.policy.actor_labels); None means no restriction.
    labels: frozenset[str] | None = frozenset()


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float
    highlights: dict[str, str]  # field -> HTML-escaped text with <mark> around matches


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    total: int
    facets: dict[str, list[tuple[str, int]]]  # document field -> (value, count), most first


class CatalogIndex(Protocol):
    """The search index of datasets: the embedded SQLite FTS5 one, OpenSearch or
    Elasticsearch. Documents carry the policy's labels; every search filters on them
    inside the engine, so totals and facet counts never include a hidden dataset."""

    def ensure(self) -> None:
        """Create the index if it does not exist."""

    def upsert(self, documents: list[dict]) -> None:
        """Add or replace documents (by their ``id``)."""

    def remove(self, ids: list[str]) -> None: ...

    def search(self, query: SearchQuery) -> SearchResult: ...

    def suggest(self, prefix: str, labels: frozenset[str] | None, limit: int) -> list[str]:
        """Titles for the search box's autocomplete."""

    def rebuild(self, documents: Iterator[dict]) -> int:
        """Build a fresh index from all documents and swap it in; searches keep answering."""

    def count(self) -> int: ...

    def check(self) -> str:
        """Say where the index is; raise if it does not answer."""


@dataclass(frozen=True)
class RecordField:
    """One field (信息项) of a tabular resource, as the record store keeps it."""

    name: str
    type: str  # catalog.vocab.FieldType code
    title: str = ""
    sensitive: bool = False


@dataclass(frozen=True)
class RecordFilter:
    """A condition on one field. ``op`` is one of:
    ``eq`` (value), ``in`` (values), ``range`` (gte and/or lte, either may be None),
    ``exists`` (value True: the field has a value; False: it has none)."""

    field: str
    op: str
    value: object = None
    values: tuple = ()
    gte: object = None
    lte: object = None


@dataclass(frozen=True)
class RecordQuery:
    q: str = ""  # full text over the text fields
    # The text fields q searches; empty means all. Lets the service keep q away from
    # sensitive fields for callers who see them masked (a search would reveal them).
    search_fields: tuple[str, ...] = ()
    filters: tuple[RecordFilter, ...] = ()
    sort: tuple[tuple[str, str], ...] = ()  # (field, "asc" | "desc"); "_id" is the row order
    fields: tuple[str, ...] = ()  # empty: all fields
    limit: int = 100
    cursor: str | None = None  # from the previous page's next_cursor


@dataclass(frozen=True)
class RecordPage:
    rows: list[dict]  # each with "_id", the row's position in the file (1-based)
    total: int
    total_is_estimate: bool  # True when counting exactly would be slow
    next_cursor: str | None  # None on the last page


class RecordStore(Protocol):
    """The rows of tabular resources (CKAN's DataStore): one table or index per resource.

    Values arrive already typed (int, float, Decimal, str, date, datetime, bool, and
    (lat, lon) tuples for geo points); None is a missing value.
    """

    def create(self, resource_id: str, fields: list[RecordField]) -> None:
        """Make an empty store for the resource, replacing any earlier one."""

    def append(self, resource_id: str, rows: Iterator[dict]) -> int:
        """Add rows in batches, streaming; rows carry "_id". Returns how many were added."""

    def drop(self, resource_id: str) -> None: ...

    def exists(self, resource_id: str) -> bool: ...

    def fields(self, resource_id: str) -> list[RecordField]: ...

    def query(self, resource_id: str, query: RecordQuery) -> RecordPage:
        """One page of matching rows; deep pages go by cursor (keyset / search_after),
        never by a large offset."""

    def group_counts(
        self, resource_id: str, field: str, query: RecordQuery, limit: int
    ) -> list[tuple[object, int]]:
        """How many matching rows have each value of ``field``, most first."""

    def export(self, resource_id: str, query: RecordQuery) -> Iterator[dict]:
        """Every matching row, streamed in batches; memory stays flat whatever the size."""

    def check(self) -> str: ...
