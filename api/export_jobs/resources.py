"""Record export jobs: the status of an export too big to stream in one request, and its
file once written. A job is its requester's alone (others get 404); one asked for
anonymously is reachable by whoever holds its id, a random UUID."""

from uuid import UUID

from flask import Response
from flask.views import MethodView

from api import Blueprint
from api.context import backends, current_actor, db
from api.export_jobs.schemas import ExportJobSchema
from api.http import file_response
from api.resources.schemas import DownloadArgsSchema
from catalog.services.export_jobs import (
    ExportFile,
    export_job_file,
    get_export_job,
    open_export_file,
    presigned_export_file,
)

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
    session, actor, store = db(), current_actor(), backends().object_store
    return file_response(
        file,
        "private, no-cache",  # its requester's file: no shared cache may keep it
        lambda start, end: open_export_file(session, actor, store, file, start, end),
        (lambda _start: presigned_export_file(session, actor, store, file, PRESIGNED_SECONDS))
        if to_store
        else None,
    )
