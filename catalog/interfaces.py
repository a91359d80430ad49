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
