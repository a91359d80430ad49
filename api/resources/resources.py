from flask import Response, redirect, url_for
from flask.views import MethodView

from api import Blueprint
from api.context import backends, current_actor, db
from api.http import file_response
from api.resources.schemas import DownloadArgsSchema, ResourceVersionSchema
from catalog.errors import Forbidden
from catalog.services.downloads import (
    MASKED_ONLY,
    ResourceFile,
    open_resource_file,
    presigned_resource_file,
    resource_file,
    resource_versions,
)

blp = Blueprint(
    "resources", __name__, url_prefix="/datasets", description="Resource files of datasets"
)

# Long enough to start a download, short enough that a shared link soon stops working.
PRESIGNED_SECONDS = 300

DOWNLOAD_RESPONSES = {
    200: {"description": "The file, streamed."},
    206: {"description": "The one byte range asked for (Range), with Content-Range."},
    302: {"description": "With redirect=true on S3: a short-lived link to the store."},
    304: {"description": "The caller's copy is current (If-None-Match, If-Modified-Since)."},
    403: {"description": "Conditional data: apply to the department for access."},
    404: {"description": "No such dataset, resource or version, or hidden from the caller."},
    416: {"description": "The range starts past the end of the file."},
}


@blp.route("/<slug>/resources/<resource_id>/download")
class ResourceDownload(MethodView):
    @blp.arguments(DownloadArgsSchema, location="query")
    @blp.doc(
        responses=DOWNLOAD_RESPONSES
        | {303: {"description": "Sensitive fields: see the masked CSV export instead."}}
    )
    def get(self, args, slug: str, resource_id: str):
        """Download a resource's file. Open data needs no token.

        Streams the current version with its size, ETag (the file's sha256),
        Last-Modified and Content-Disposition (the Chinese name kept, RFC 6266/5987);
        answers HEAD, conditional requests (304) and single byte ranges (206; several
        ranges get the whole file; If-Range honoured). A download counts once per request
        that starts at byte 0, and every request sent bytes is audited.

        A file with sensitive fields reaches those outside the owning department only as
        its records with those fields masked: they are sent on to the CSV export.
        """
        file = resource_file(db(), current_actor(), slug, resource_id)
        if file.masked_only:
            return redirect(
                url_for(
                    "records.RecordExport",
                    slug=slug,
                    resource_id=resource_id,
                    format="csv",
                    bom="true",
                ),
                code=303,
            )
        return _serve(file, args["redirect"])


@blp.route("/<slug>/resources/<resource_id>/versions")
class ResourceVersions(MethodView):
    @blp.response(200, ResourceVersionSchema(many=True))
    def get(self, slug: str, resource_id: str):
        """The stored versions of a resource's file, newest first.

        Replacing a file keeps the earlier versions, each downloadable at its own address
        by those who may fetch the dataset's data (as the current file is). To everyone
        else, as in the dataset's resources, each version's address and checksum are null."""
        resource, versions = resource_versions(db(), current_actor(), slug, resource_id)
        return [
            {
                "dataset": resource.dataset,
                "version": v.version,
                "current": v.version == resource.version,
                "size": v.size,
                "sha256": v.sha256,
                "media_type": v.media_type or resource.media_type,
                "created_at": v.created_at,
                "download_url": url_for(
                    "resources.ResourceVersionDownload",
                    slug=slug,
                    resource_id=resource.id,
                    version=v.version,
                ),
            }
            for v in versions
        ]


@blp.route("/<slug>/resources/<resource_id>/versions/<int:version>/download")
class ResourceVersionDownload(MethodView):
    @blp.arguments(DownloadArgsSchema, location="query")
    @blp.doc(responses=DOWNLOAD_RESPONSES)
    def get(self, args, slug: str, resource_id: str, version: int):
        """Download one stored version of a resource's file, as the current one downloads.

        A file with sensitive fields is refused (403) to those outside the owning
        department: its masked records exist only for the current version."""
        file = resource_file(db(), current_actor(), slug, resource_id, version)
        if file.masked_only:
            raise Forbidden(MASKED_ONLY)
        return _serve(file, args["redirect"])


def _serve(file: ResourceFile, to_store: bool) -> Response:
    session, actor, store = db(), current_actor(), backends().object_store
    return file_response(
        file,
        # A replaced file keeps its address: caches must ask again, which costs a 304.
        "no-cache",
        lambda start, end: open_resource_file(session, actor, store, file, start, end),
        (
            lambda start: presigned_resource_file(
                session, actor, store, file, PRESIGNED_SECONDS, start
            )
        )
        if to_store
        else None,
    )
