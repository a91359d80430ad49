from flask import Response, redirect, stream_with_context, url_for
from flask.views import MethodView

from api import Blueprint
from api.context import backends, current_actor, db
from api.http import content_disposition
from catalog.services.resources import open_resource

blp = Blueprint(
    "resources", __name__, url_prefix="/datasets", description="Resource files of datasets"
)

EXTENSION_OF_FORMAT = {"CSV": "csv", "XLSX": "xlsx", "GEOJSON": "geojson", "JSON": "json"}


@blp.route("/<slug>/resources/<resource_id>/download")
class ResourceDownload(MethodView):
    @blp.doc(
        responses={
            200: {"description": "The file, streamed."},
            303: {"description": "Sensitive fields: see the masked CSV export instead."},
            403: {"description": "Conditional data: apply to the department for access."},
            404: {"description": "No such dataset or resource, or hidden from the caller."},
        }
    )
    def get(self, slug: str, resource_id: str):
        """Download a resource's file. Open data needs no token.

        A file with sensitive fields reaches those outside the owning department only as
        its records with those fields masked: they are sent on to the CSV export.
        """
        download = open_resource(db(), current_actor(), backends().object_store, slug, resource_id)
        resource = download.resource
        if download.chunks is None:
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
        extension = EXTENSION_OF_FORMAT.get(resource.format.upper(), "")
        response = Response(
            stream_with_context(download.chunks),
            mimetype=resource.media_type or "application/octet-stream",
        )
        response.headers["Content-Disposition"] = content_disposition(resource.name, extension)
        if resource.size is not None:
            response.headers["Content-Length"] = str(resource.size)
        if resource.sha256:
            response.set_etag(resource.sha256)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
