from flask import Response, stream_with_context
from flask.views import MethodView

from api import Blueprint
from api.context import backends, current_actor, db
from api.http import content_disposition
from api.records.encoding import json_row, json_value
from api.records.schemas import (
    RecordCountArgsSchema,
    RecordCountSchema,
    RecordExportArgsSchema,
    RecordPageArgsSchema,
    RecordPageSchema,
    parse_filters,
    parse_sort,
)
from catalog.exports import FORMATS, ExportOptions, export_body
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
    @blp.doc(
        responses={
            200: {"description": "The matching records, streamed, as an attachment."},
            403: {"description": "Conditional data: apply to the department for access."},
            404: {"description": "No such dataset or resource, or hidden from the caller."},
            422: {"description": "A bad query, or a format these records cannot take."},
        }
    )
    def get(self, args, slug: str, resource_id: str):
        """Export every matching record (the filters, text and sort of the query endpoint)
        as CSV in UTF-8 (`bom=true` adds a byte-order mark for Excel), JSON Lines, XLSX or
        GeoJSON (points from the first geo point field; 422 for records without one).

        Streamed with flat memory; an XLSX file is written to disk first and then sent.
        Sensitive fields are masked for all but the owning department; text that a
        spreadsheet would run as a formula is made inert in CSV and XLSX. Every export is
        counted as a download of the resource and audited."""
        export_format = args["format"]
        view, rows = export_records(
            db(),
            backends().record_store,
            current_actor(),
            slug,
            resource_id,
            _query(args),
            export_format=export_format,
        )
        options = ExportOptions(use_titles=args["header"] == "title", excel_bom=args["bom"])
        body = export_body(
            export_format, view.fields, view.masked, rows, options, view.resource.name
        )
        chosen = FORMATS[export_format]
        response = Response(stream_with_context(body.chunks), content_type=chosen.media_type)
        if body.size is not None:
            response.headers["Content-Length"] = str(body.size)
        response.headers["Content-Disposition"] = content_disposition(
            view.resource.name, chosen.extension
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
