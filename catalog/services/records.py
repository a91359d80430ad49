"""Records of tabular resources: query, grouped counts and export, through the policy.

Those who may fetch a dataset's data may query its records; sensitive fields come back
masked to all but the owning department, and such callers may neither filter, sort,
group nor search on them (each would reveal the values).
"""

from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from catalog.errors import InvalidInput, NotFound
from catalog.interfaces import RecordField, RecordPage, RecordQuery, RecordStore
from catalog.masking import mask_row
from catalog.models import Dataset, Resource
from catalog.policy import Action, Actor, can, require
from catalog.records import MAX_GROUPS, MAX_LIMIT
from catalog.services.datasets import get_dataset_resource


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
) -> tuple[RecordsView, Iterator[dict]]:
    """Every matching row, masked as the caller must see it, streamed."""
    view = open_records(session, store, actor, dataset_slug, resource_id)
    try:
        # The store checks the query before the first row, so errors come before streaming.
        rows = store.export(view.resource.id, _guarded(view, query, MAX_LIMIT))
    except ValueError as error:
        raise InvalidInput({"query": [str(error)]}) from error
    if view.masked:
        rows = (mask_row(row, view.masked) for row in rows)
    return view, rows
