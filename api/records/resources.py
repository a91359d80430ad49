from flask import Response, stream_with_context
from flask.views import MethodView

from api import Blueprint
from api.context import backends, current_actor, db
from api.http import content_disposition
from api.records.encoding import json_row, json_value, stream_csv, stream_json_lines
from api.records.schemas import (
    RecordCountArgsSchema,
    RecordCountSchema,
    RecordExportArgsSchema,
    RecordPageArgsSchema,
    RecordPageSchema,
    parse_filters,
    parse_sort,
)
from catalog.interfaces import RecordQuery
from catalog.services.records import count_records_by, export_records, query_records

blp = Blueprint(
    "records",
    __name__,
    url_prefix="/datasets",
    description="Records of tabular resources (the DataStore): query, counts, export",
)


def _query(args, **extra) -> RecordQuery:
    return RecordQuery(
        q=args["q"], filters=parse_filters(args["filters"]), sort=parse_sort(args["sort"]), **extra
    )


def _fields(view):
    return [
        {
            "name": f.name,
            "title": f.title,
            "type": f.type,
            "sensitive": f.sensitive,
            "masked": f.name in view.masked,
        }
        for f in view.fields
    ]


@blp.route("/<slug>/resources/<resource_id>/records")
class Records(MethodView):
    @blp.arguments(RecordPageArgsSchema, location="query")
    @blp.response(200, RecordPageSchema)
    def get(self, args, slug: str, resource_id: str):
        """Query a resource's records: text, filters, sort, fields and a cursor for paging.

        Sensitive fields come back masked to all but the owning department. Pages hold at
        most 1000 records; follow `next_cursor` for the next page.
        """
        selected = tuple(n for n in (p.strip() for p in args["fields_"].split(",")) if n)
        query = _query(args, fields=selected, limit=args["limit"], cursor=args["cursor"])
        view, page = query_records(
            db(), backends().record_store, current_actor(), slug, resource_id, query
        )
        return {
            "fields": _fields(view),
            "records": [json_row(row) for row in page.rows],
            "total": page.total,
            "total_is_estimate": page.total_is_estimate,
            "next_cursor": page.next_cursor,
        }


@blp.route("/<slug>/resources/<resource_id>/records/counts")
class RecordCounts(MethodView):
    @blp.arguments(RecordCountArgsSchema, location="query")
    @blp.response(200, RecordCountSchema(many=True))
    def get(self, args, slug: str, resource_id: str):
        """How many matching records have each value of a field, most first."""
        counts = count_records_by(
            db(),
            backends().record_store,
            current_actor(),
            slug,
            resource_id,
            args["field"],
            _query(args),
            args["limit"],
        )
        return [{"value": json_value(value), "count": count} for value, count in counts]


@blp.route("/<slug>/resources/<resource_id>/records/export")
class RecordExport(MethodView):
    @blp.arguments(RecordExportArgsSchema, location="query")
    @blp.doc(responses={200: {"description": "The matching records, streamed."}})
    def get(self, args, slug: str, resource_id: str):
        """Export every matching record as CSV (UTF-8, optionally with a BOM for Excel) or
        JSON Lines, streamed with flat memory."""
        view, rows = export_records(
            db(), backends().record_store, current_actor(), slug, resource_id, _query(args)
        )
        if args["format"] == "csv":
            body = stream_csv(view.fields, rows, args["header"] == "title", args["bom"])
            mimetype, extension = "text/csv; charset=utf-8", "csv"
        else:
            body = stream_json_lines(rows)
            mimetype, extension = "application/x-ndjson", "jsonl"
        response = Response(stream_with_context(body), mimetype=mimetype)
        response.headers["Content-Disposition"] = content_disposition(view.resource.name, extension)
        return response
