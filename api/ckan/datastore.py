"""datastore_search in CKAN's terms, served by the records service.

The record stores page by cursor, never by a large offset. CKAN's ``offset`` is served by
walking the cursor from the start, up to ``MAX_OFFSET`` rows; deeper pages are refused
with a pointer to the REST v1 cursor, which reaches every row at the same cost.
"""

import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from flask import url_for

from api.ckan import params
from api.ckan.dictize import DATASTORE_TYPES
from api.ckan.queries import visible_resource
from api.context import backends, current_actor, db
from api.records.encoding import json_row
from catalog.interfaces import RecordFilter, RecordQuery
from catalog.records import MAX_LIMIT
from catalog.services.records import RecordsView, query_records

DEFAULT_LIMIT = 100
MAX_OFFSET = 10_000
MASKED_NOTE = "敏感字段，已脱敏显示。Sensitive field, shown masked."


def _filters(data: dict[str, Any]) -> tuple[RecordFilter, ...]:
    given = params.json_value(data, "filters") or {}
    if not isinstance(given, dict):
        raise params.invalid("filters", 'Must be a JSON object: {"field": value}.')
    filters = []
    for name, value in given.items():
        if isinstance(value, list):
            filters.append(RecordFilter(name, "in", values=tuple(value)))
        elif isinstance(value, dict) or value is None:
            raise params.invalid("filters", f"{name}: give a value or a list of values.")
        else:
            filters.append(RecordFilter(name, "eq", value=value))
    return tuple(filters)


def _sort(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """``"街道 asc, 学生数 desc"`` -> ((街道, asc), (学生数, desc)); names may be quoted."""
    order = []
    for part in filter(None, (p.strip() for p in params.text(data, "sort").split(","))):
        name, _, direction = part.rpartition(" ")
        if direction.lower() not in ("asc", "desc"):
            name, direction = part, "asc"
        order.append((name.strip().strip('"'), direction.lower()))
    return tuple(order)


def _fields(data: dict[str, Any]) -> tuple[str, ...]:
    value = data.get("fields")
    names = value if isinstance(value, list) else params.text(data, "fields").split(",")
    return tuple(n.strip() for n in names if isinstance(n, str) and n.strip())


def _field_dicts(view: RecordsView, selected: tuple[str, ...]) -> list[dict[str, Any]]:
    fields = [{"id": "_id", "type": "int"}]
    for field in view.fields:
        if selected and field.name not in selected:
            continue
        info = {"label": field.title} if field.title else {}
        if field.name in view.masked:
            info["notes"] = MASKED_NOTE
        fields.append({"id": field.name, "type": DATASTORE_TYPES.get(field.type, "text")})
        if info:
            fields[-1]["info"] = info
    return fields


def _link(data: dict[str, Any], offset: int | None) -> str:
    kept = {
        key: value if isinstance(value, str) else _json_text(value)
        for key, value in data.items()
        if key in ("resource_id", "q", "filters", "sort", "fields", "limit") and value
    }
    if offset:
        kept["offset"] = str(offset)
    base = url_for("ckan_action.action", logic_function="datastore_search")
    return f"{base}?{urlencode(kept)}"


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def datastore_search_result(data: dict[str, Any]) -> dict[str, Any]:
    """The result of datastore_search for the request's parameters."""
    resource_id = params.required_text(data, "resource_id")
    limit = params.integer(data, "limit", DEFAULT_LIMIT, maximum=MAX_LIMIT)
    offset = params.integer(data, "offset", 0)
    if offset > MAX_OFFSET:
        raise params.invalid(
            "offset",
            f"Offsets above {MAX_OFFSET} are not served; page through all rows with the "
            f"REST API's cursor: /api/v1/datasets/<dataset>/resources/{resource_id}/records"
            "?cursor=<next_cursor>.",
        )
    q = data.get("q", "")
    if not isinstance(q, str):
        raise params.invalid("q", "Give the words to find as a string.")
    query = RecordQuery(q=q, filters=_filters(data), sort=_sort(data), fields=_fields(data))
    dataset, _resource = visible_resource(db(), current_actor(), resource_id)

    def run(records_query: RecordQuery):
        return query_records(
            db(), backends().record_store, current_actor(), dataset.id, resource_id, records_query
        )

    # Skip ``offset`` rows by following the cursor, a page of at most MAX_LIMIT at a time.
    cursor, skipped = None, 0
    while skipped < offset:
        _view, page = run(replace(query, limit=min(offset - skipped, MAX_LIMIT), cursor=cursor))
        skipped += len(page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break
    wanted = 0 if offset > 0 and cursor is None else limit
    # The service reads at least one row; the total comes with it either way.
    view, page = run(replace(query, limit=max(wanted, 1), cursor=cursor))
    result: dict[str, Any] = {
        "resource_id": resource_id,
        "fields": _field_dicts(view, query.fields),
        "records": [json_row(row) for row in page.rows[:wanted]],
        "records_format": "objects",
        "limit": limit,
        "offset": offset,
        "include_total": params.boolean(data, "include_total", True),
        "total_was_estimated": page.total_is_estimate,
        "_links": {"start": _link(data, None), "next": _link(data, offset + limit)},
    }
    for name in ("q", "filters", "sort"):
        if data.get(name):
            result[name] = params.json_value(data, name) if name == "filters" else data[name]
    if result["include_total"]:
        result["total"] = page.total
    return result
