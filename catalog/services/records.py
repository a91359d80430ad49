"""Records of tabular resources: query, grouped counts and export, through the policy.

Those who may fetch a dataset's data may query its records; sensitive fields come back
masked to all but the owning department, and such callers may neither filter, sort,
group nor search on them (each would reveal the values).
"""

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

from sqlalchemy.orm import Session

from catalog.errors import InvalidInput, NotFound
from catalog.exports import FORMATS, ExportOptions, check_exportable, export_body
from catalog.interfaces import (
    ObjectStore,
    RecordBatch,
    RecordField,
    RecordPage,
    RecordQuery,
    RecordRows,
    RecordStore,
    StoredObject,
)
from catalog.masking import mask, mask_row
from catalog.models import Dataset, Resource, utcnow
from catalog.policy import Action, Actor, can, require
from catalog.records import MAX_GROUPS, MAX_LIMIT
from catalog.services.audit import record_event
from catalog.services.datasets import get_dataset_resource
from catalog.services.downloads import count_download


@dataclass(frozen=True)
class RecordsView:
    """A resource's records as one caller may see them."""

    dataset: Dataset
    resource: Resource
    fields: list[RecordField]
    masked: frozenset[str]  # names of the fields this caller sees masked


def open_records(
    session: Session, store: RecordStore, actor: Actor, dataset_slug: str, resource_id: str
) -> RecordsView:
    dataset, resource = get_dataset_resource(session, actor, dataset_slug, resource_id)
    require(actor, Action.READ_DATA, dataset)
    try:
        fields = store.fields(resource.id)
    except KeyError as error:
        raise NotFound(
            "This resource has no records: it is not a table, or not loaded yet."
        ) from error
    masked = frozenset()
    if not can(actor, Action.READ_SENSITIVE, dataset):
        masked = frozenset(f.name for f in fields if f.sensitive)
    return RecordsView(dataset, resource, fields, masked)


def _guarded(view: RecordsView, query: RecordQuery, limit: int) -> RecordQuery:
    errors: dict[str, list[str]] = {}
    touched = [f.field for f in query.filters] + [name for name, _ in query.sort]
    for name in touched:
        if name in view.masked:
            errors.setdefault(name, []).append(
                "Sensitive field: it cannot be filtered or sorted on."
            )
    if errors:
        raise InvalidInput(errors)
    search_fields = query.search_fields
    if view.masked and query.q.strip():
        allowed = [f.name for f in view.fields if f.type == "text" and f.name not in view.masked]
        search_fields = tuple(n for n in (search_fields or allowed) if n in allowed)
        if not search_fields:
            raise InvalidInput({"q": ["Only sensitive fields hold text here: not searchable."]})
    return replace(query, limit=max(1, min(limit, MAX_LIMIT)), search_fields=search_fields)


def query_records(
    session: Session,
    store: RecordStore,
    actor: Actor,
    dataset_slug: str,
    resource_id: str,
    query: RecordQuery,
) -> tuple[RecordsView, RecordPage]:
    view = open_records(session, store, actor, dataset_slug, resource_id)
    try:
        page = store.query(view.resource.id, _guarded(view, query, query.limit))
    except ValueError as error:
        raise InvalidInput({"query": [str(error)]}) from error
    if view.masked:
        page = replace(page, rows=[mask_row(row, view.masked) for row in page.rows])
    return view, page


def count_records_by(
    session: Session,
    store: RecordStore,
    actor: Actor,
    dataset_slug: str,
    resource_id: str,
    field: str,
    query: RecordQuery,
    limit: int = 100,
) -> list[tuple[object, int]]:
    view = open_records(session, store, actor, dataset_slug, resource_id)
    if field in view.masked:
        raise InvalidInput({"field": ["Sensitive field: it cannot be grouped on."]})
    try:
        return store.group_counts(
            view.resource.id,
            field,
            _guarded(view, query, MAX_LIMIT),
            max(1, min(limit, MAX_GROUPS)),
        )
    except ValueError as error:
        raise InvalidInput({"query": [str(error)]}) from error


def export_records(
    session: Session,
    store: RecordStore,
    actor: Actor,
    dataset_slug: str,
    resource_id: str,
    query: RecordQuery,
    *,
    export_format: str,
) -> tuple[RecordsView, Iterator[dict]]:
    """Every matching row, masked as the caller must see it, streamed.

    Before the first row, the export is checked (InvalidInput for a format these records
    cannot take, such as GeoJSON without a location), counted as a download of the
    resource and audited as ``records.export``, with its format and query."""
    view = open_records(session, store, actor, dataset_slug, resource_id)
    check_exportable(export_format, view.fields, view.masked)
    try:
        # The store checks the query before the first row, so errors come before streaming.
        rows = store.export(view.resource.id, _guarded(view, query, MAX_LIMIT))
    except ValueError as error:
        raise InvalidInput({"query": [str(error)]}) from error
    record_event(
        session,
        actor,
        "records.export",
        "resource",
        view.resource.id,
        None,
        {"dataset": view.dataset.slug, "format": export_format, **_plain_query(query)},
    )
    count_download(session, view.resource.id, view.dataset.id)
    session.commit()
    if view.masked:
        rows = _masked(rows, view.masked)
    return view, rows


def _masked(rows: Iterator[dict], masked: frozenset[str]) -> Iterator[dict]:
    """The rows with the masked fields masked: a column at a time when the store gives
    batches (RecordRows), else row by row."""
    if isinstance(rows, RecordRows):
        return RecordRows(_masked_batches(rows, masked))
    return (mask_row(row, masked) for row in rows)


def _masked_batches(rows: RecordRows, masked: frozenset[str]) -> Iterator[RecordBatch]:
    try:
        for batch in rows.batches():
            columns = [
                [mask(value) for value in column] if name in masked else column
                for name, column in zip(batch.fields, batch.columns, strict=True)
            ]
            yield replace(batch, columns=columns)
    finally:
        rows.close()


def _plain_query(query: RecordQuery) -> dict:
    """The query as JSON values, for the audit event (dates and decimals as text)."""
    plain = {
        "q": query.q,
        "filters": [asdict(f) for f in query.filters],
        "sort": [list(order) for order in query.sort],
    }
    return json.loads(json.dumps(plain, ensure_ascii=False, default=str))


def export_to_store(
    session: Session,
    record_store: RecordStore,
    object_store: ObjectStore,
    actor: Actor,
    dataset_slug: str,
    resource_id: str,
    query: RecordQuery,
    *,
    export_format: str,
    options: ExportOptions | None = None,
) -> StoredObject:
    """Write an export to the object store and return it: how an export too big to stream
    in one request runs as a job, whose caller then hands out the object's link.

    The policy, the masking, the count and the audit are those of ``export_records`` for
    the same actor. The object goes under ``exports/<department>/<dataset>/<resource>/``,
    named by the time and a random part so that exports never replace each other; the
    bytes stream into the store, never whole in memory."""
    view, rows = export_records(
        session,
        record_store,
        actor,
        dataset_slug,
        resource_id,
        query,
        export_format=export_format,
    )
    body = export_body(
        export_format,
        view.fields,
        view.masked,
        rows,
        options or ExportOptions(),
        view.resource.name,
    )
    chosen = FORMATS[export_format]
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    key = (
        f"exports/{view.dataset.department.slug}/{view.dataset.slug}/{view.resource.id}/"
        f"{stamp}-{uuid.uuid4().hex[:12]}.{chosen.extension}"
    )
    with ChunkReader(body.chunks) as stream:
        return object_store.put(key, stream, chosen.media_type)


class ChunkReader(io.RawIOBase):
    """Chunks of bytes read as a binary file, which is what the object store takes."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()
