from flask import Response, stream_with_context
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
            403: {"description": "Conditional data: apply to the department for access."},
            404: {"description": "No such dataset or resource, or hidden from the caller."},
        }
    )
    def get(self, slug: str, resource_id: str):
        """Download a resource's file. Open data needs no token."""
        download = open_resource(db(), current_actor(), backends().object_store, slug, resource_id)
        resource = download.resource
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
