"""The ports of the catalog: each is a Protocol with one backend per engine, chosen by URL."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: str


class ObjectStore(Protocol):
    """Where resource files live: a local folder by default, S3 at scale."""

    def put(self, key: str, stream: BinaryIO, content_type: str) -> StoredObject:
        """Store the stream's bytes under key, reading it in chunks; all or nothing."""

    def open(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; raises KeyError if there is no such object."""

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
