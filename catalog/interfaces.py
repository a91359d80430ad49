"""The ports of the catalog: each is a Protocol with one backend per engine, chosen by URL."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class MultipartUpload:
    """A multipart upload begun in the store, whose parts a client sends straight there."""

    key: str
    upload_id: str
    part_size: int  # every part but the last has exactly this many bytes
    part_urls: list[str]  # the presigned PUT URL of part n is part_urls[n - 1]
    expires_at: datetime  # when the part URLs stop working (aware, UTC)


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

    def copy(self, source: str, target: str, content_type: str, sha256: str) -> StoredObject:
        """Store the object at ``source`` under ``target`` as well, inside the store (S3
        copies without the bytes passing through the portal); ``sha256`` is the checksum
        the caller verified, kept with the copy as put keeps it. All or nothing, as put.
        Raises KeyError if there is no object at ``source``."""

    def remove_older(self, prefix: str, before: datetime) -> int:
        """Delete every object under ``prefix`` (a folder: it ends in "/") last changed
        before ``before``, and abort the multipart uploads begun under it before then;
        returns how many went. For the staged uploads nobody confirmed."""

    def start_multipart_upload(
        self, key: str, content_type: str, size: int, expires_seconds: int, part_count: int = 0
    ) -> MultipartUpload | None:
        """Begin a multipart upload of ``size`` bytes to ``key`` and presign a PUT URL for
        each part, valid ``expires_seconds``; ``part_count`` asks for that many parts (0:
        the store chooses), within the store's limits. None where the store has no such
        uploads (the local folder): send the bytes through the portal instead. Raises
        ValueError for a size the store cannot take in parts."""

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        """Join the uploaded parts, given as (part number, ETag the store answered the PUT
        with), into the object at ``key``. Raises KeyError for an unknown (or finished)
        upload and ValueError for parts the store does not hold or cannot join."""

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Abandon an upload and its parts; an unknown upload is no error."""

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
    # Datasets left out whatever their indexed labels say: changed ones the caller may no
    # longer see whose new document has not reached the index yet.
    exclude_ids: frozenset[str] = frozenset()


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


@dataclass(frozen=True)
class RecordBatch:
    """Consecutive rows of an export by column, as a record store reads them: what file
    exports write from without making a dict of every row."""

    fields: tuple[str, ...]  # the field of each column, in order
    ids: Sequence[int]  # each row's "_id"
    columns: Sequence[Sequence]  # columns[i][j]: fields[i] of row j, typed as in RecordPage


class RecordRows(Iterator[dict]):
    """An export's rows: one dict per row when iterated (with "_id" first), or the same
    rows in batches by column through ``batches()``; read one way, not both."""

    def __init__(self, batches: Iterator[RecordBatch]):
        self._batches = batches
        self._rows: Iterator[dict] | None = None

    def batches(self) -> Iterator[RecordBatch]:
        if self._rows is not None:
            raise RuntimeError("These rows are being read one by one already.")
        return self._batches

    def __next__(self) -> dict:
        if self._rows is None:
            self._rows = _rows_of(self._batches)
        return next(self._rows)

    def close(self) -> None:
        """Stop early: let go of what the store holds open (a cursor, a point in time)."""
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


def _rows_of(batches: Iterator[RecordBatch]) -> Iterator[dict]:
    for batch in batches:
        for row_id, values in zip(batch.ids, zip(*batch.columns, strict=True), strict=True):
            row = {"_id": row_id}
            row.update(zip(batch.fields, values, strict=True))
            yield row


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
        never by a large offset.

        What a walk by cursor sees differs by backend. On the engines the cursor carries a
        point in time opened with the first page that has a next one: the walk reads that
        snapshot, rows written meanwhile do not show, and a cursor unused for longer than
        its keep-alive is refused with a ValueError ("expired, start again"). On SQL it is
        a keyset: each page reads the table as it is then, so rows appended meanwhile show
        up in their place, and it never expires. Neither skips or repeats a row that stays.
        """

    def group_counts(
        self, resource_id: str, field: str, query: RecordQuery, limit: int
    ) -> list[tuple[object, int]]:
        """How many matching rows have each value of ``field``, most first."""

    def export(self, resource_id: str, query: RecordQuery) -> RecordRows:
        """Every matching row in the query's order, streamed in batches of
        ``catalog.records.EXPORT_BATCH``; memory stays flat whatever the size. The query
        and the resource are checked before the first row (ValueError, KeyError)."""

    def check(self) -> str: ...


class NotATable(Exception):
    """A file that cannot be read as a table (or as the fields asked of it); the message
    says why, fit for a steward."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TableProblem:
    """A line of a table that was not taken as it was: a ragged row (``field`` None, left
    out) or a value that does not fit its field (loaded empty)."""

    line: int
    field: str | None
    raw: str
    message: str


@dataclass(frozen=True)
class TableLoad:
    """How a tabular file was read into a record store."""

    format: str  # csv, xlsx, json, geojson
    fields: list[RecordField]
    rows_loaded: int
    rows_failed: int  # ragged rows (left out) and rows with a value that did not fit
    problems: list[TableProblem]  # the first of them, in line order
    encoding: str | None = None
    delimiter: str | None = None
    header_line: int | None = None
    sheet: str | None = None
    lines_skipped: int = 0  # notes and lines before the header
    notes: list[str] = field(default_factory=list)


class TableLoader(Protocol):
    """Tabular ingestion as the catalog's services call it: the harvesters' own, handed
    to the web layer at start (harvesters.uploads), since the catalog imports no harvester.
    """

    def __call__(
        self,
        source: BinaryIO,
        fields: list[RecordField] | None,
        record_store: RecordStore,
        resource_id: str,
        *,
        file_name: str,
        media_type: str,
    ) -> TableLoad:
        """Read the table in ``source`` (a seekable file) into the record store as the
        resource's records: with ``fields`` None, those inferred from its first rows, else
        those given (types, titles, sensitive flags; found again in the file by name).
        Raises NotATable for a file that is no table or lacks a field asked for, before
        the record store is touched when the file's start already shows it; a load that
        fails later leaves the resource without records."""
