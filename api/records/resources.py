from flask import Response, current_app, jsonify, request, stream_with_context, url_for
from flask.views import MethodView
from flask_smorest import abort

from api import Blueprint
from api.context import backends, current_actor, db
from api.export_jobs.schemas import ExportJobSchema
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
from catalog.services.export_jobs import plan_export, request_export_job
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
            202: {
                "description": "Too many records to stream: an export job was queued; "
                "Location (and `links.self`) is its status.",
                "content": {"application/json": {"schema": ExportJobSchema}},
            },
            403: {"description": "Conditional data: apply to the department for access."},
            404: {"description": "No such dataset or resource, or hidden from the caller."},
            409: {"description": "The caller has too many export jobs waiting or running."},
            422: {
                "description": "A bad query, a format these records cannot take, or "
                "async=false for more records than stream directly."
            },
            503: {"description": "The job queue does not answer; nothing was queued."},
        }
    )
    def get(self, args, slug: str, resource_id: str):
        """Export every matching record (the filters, text and sort of the query endpoint)
        as CSV in UTF-8 (`bom=true` adds a byte-order mark for Excel), JSON Lines, XLSX or
        GeoJSON (points from the first geo point field; 422 for records without one).

        Up to the portal's direct export limit (setting `export_direct_max_rows`, 200,000
        records by default) the file streams in the answer, with flat memory; an XLSX file
        is written to disk first and then sent. More records, or a count that can only say
        "more than 100,000" (a filtered export), answer 202 Accepted: a job writes the
        file, and Location points at its status (`/api/v1/export-jobs/<id>`), which gives
        the download link when done. The file is kept for a day. `async=true` asks for a
        job whatever the size; `async=false` asks never to get one, and is answered 422,
        naming the limit, when there are too many records. A job is its requester's
        alone; one asked for without logging in is reachable by its id only, so keep it.

        Sensitive fields are masked for all but the owning department, in jobs as well
        (a job runs with its requester's access when it starts); text that a spreadsheet
        would run as a formula is made inert in CSV and XLSX. Every export is counted as
        a download of the resource and audited (a job's when it runs)."""
        export_format = args["format"]
        query = _query(args)
        options = ExportOptions(use_titles=args["header"] == "title", excel_bom=args["bom"])
        plan = plan_export(
            db(),
            backends().record_store,
            current_actor(),
            slug,
            resource_id,
            query,
            export_format=export_format,
            max_direct_rows=current_app.extensions["opendata.settings"].export_direct_max_rows,
            as_job=args["as_job"],
        )
        if plan.as_job:
            if request.method == "HEAD":
                return Response(status=202)  # a HEAD says what a GET would do, doing nothing
            return _queued_export(plan, query, export_format, options)
        view, rows = export_records(
            db(),
            backends().record_store,
            current_actor(),
            slug,
            resource_id,
            query,
            export_format=export_format,
        )
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


def _queued_export(plan, query: RecordQuery, export_format: str, options: ExportOptions):
    """Queue (or find, when the same export is already under way) the caller's export job;
    202 with its status."""
    job, new = request_export_job(
        db(), current_actor(), plan, query, export_format=export_format, options=options
    )
    if new:
        try:
            # The portal's job queue (harvesters.tasks.JobQueue), reached without importing it.
            current_app.extensions["opendata.jobs"].enqueue_export(job.id)
        except ConnectionError as error:
            abort(503, message=str(error))
    response = jsonify(ExportJobSchema().dump(job))
    response.status_code = 202
    response.headers["Location"] = url_for("export_jobs.ExportJobById", job_id=job.id)
    response.headers["Retry-After"] = "5"
    return response
