"""Record export jobs: the status of an export too big to stream in one request, and its
file once written. A job is its requester's alone (others get 404); one asked for
anonymously is reachable by whoever holds its id, a random UUID."""

from uuid import UUID

from flask import Response, redirect, request
from flask.views import MethodView
from werkzeug.http import http_date, quote_etag

from api import Blueprint
from api.context import backends, current_actor, db
from api.errors import problem
from api.export_jobs.schemas import ExportJobSchema
from api.http import RangeNotSatisfiable, not_modified, requested_range
from api.resources.schemas import DownloadArgsSchema
from catalog.services.export_jobs import (
    ExportFile,
    export_job_file,
    get_export_job,
    open_export_file,
    presigned_export_file,
)
from catalog.storage.disposition import attachment

blp = Blueprint(
    "export_jobs",
    __name__,
    url_prefix="/export-jobs",
    description="Record exports run as jobs: their status and their files",
)

# Long enough to start a download, short enough that a shared link soon stops working.
PRESIGNED_SECONDS = 300


@blp.route("/<uuid:job_id>")
class ExportJobById(MethodView):
    @blp.response(200, ExportJobSchema)
    def get(self, job_id: UUID):
        """An export job's status: queued, running (with `progress`), succeeded (with
        `links.download` until `expires_at`, a day after it finished), failed (with
        `error`) or expired. Its requester's alone; a job asked for anonymously is shown
        to whoever holds its id."""
        return get_export_job(db(), current_actor(), str(job_id))


@blp.route("/<uuid:job_id>/download")
class ExportJobDownload(MethodView):
    @blp.arguments(DownloadArgsSchema, location="query")
    @blp.doc(
        responses={
            200: {"description": "The exported file, streamed."},
            206: {"description": "The one byte range asked for (Range), with Content-Range."},
            302: {"description": "With redirect=true on S3: a short-lived link to the store."},
            304: {"description": "The caller's copy is current (If-None-Match)."},
            403: {"description": "The requester may no longer read this data."},
            404: {"description": "No such job for this caller, or its file has expired."},
            409: {"description": "The export has not finished, or it failed."},
            416: {"description": "The range starts past the end of the file."},
        }
    )
    def get(self, args, job_id: UUID):
        """Download the file of a finished export job, under the resource's Chinese name.

        As resource files download: streamed with its size, ETag (the file's sha256) and
        Last-Modified, with single byte ranges (206) for resuming, or with
        `redirect=true` on S3 a 302 to a link straight to the store. The access policy is
        asked again: a requester who has lost access to the data since gets 403. Every
        hand-out is audited; the export itself was counted when it ran."""
        file = export_job_file(db(), current_actor(), str(job_id))
        return _serve(file, args["redirect"])


def _serve(file: ExportFile, to_store: bool) -> Response:
    headers = {
        "Accept-Ranges": "bytes",
        "Last-Modified": http_date(file.modified_at),
        "Content-Disposition": attachment(file.file_name),
        "X-Content-Type-Options": "nosniff",
        "ETag": quote_etag(file.sha256),
        # Its requester's file: no shared cache may keep it.
        "Cache-Control": "private, no-cache",
    }
    if not_modified(request, file.sha256, file.modified_at):
        return Response(status=304, headers=headers)
    try:
        byte_range = requested_range(request, file.sha256, file.modified_at, file.size)
    except RangeNotSatisfiable:
        response = problem(416, f"The range starts past the end of the file ({file.size} bytes).")
        response.headers["Content-Range"] = f"bytes */{file.size}"
        return response
    start, end = byte_range or (None, None)
    status, length = 200, file.size
    if byte_range is not None:
        status, length = 206, end - start
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status=status, headers=headers, content_type=file.media_type)
    session, actor, store = db(), current_actor(), backends().object_store
    if to_store:
        url = presigned_export_file(session, actor, store, file, PRESIGNED_SECONDS)
        if url is not None:
            response = redirect(url, code=302)
            response.headers["Cache-Control"] = "no-store"
            return response
    chunks = open_export_file(session, actor, store, file, start, end)
    return Response(chunks, status=status, headers=headers, content_type=file.media_type)
