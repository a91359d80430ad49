"""Steward uploads: stage a file and read the portal's proposal, then confirm it as a new
resource or a new version of one; large files on S3 go straight to the store in parts.
Editors and admins of the dataset's department, with a write token."""

from flask import current_app, request
from flask.views import MethodView
from werkzeug.exceptions import RequestEntityTooLarge

from api import Blueprint
from api.context import backends, current_actor, db
from api.datasets.schemas import ResourceSchema
from api.errors import problem
from api.uploads.schemas import (
    ConfirmedSchema,
    ConfirmInputSchema,
    MultipartCompleteSchema,
    MultipartInputSchema,
    MultipartSchema,
    ProposalSchema,
    ResourcePatchSchema,
    UploadArgsSchema,
)
from catalog.errors import InvalidInput
from catalog.services.datasets import get_dataset_resource
from catalog.services.upload_confirm import (
    Confirmation,
    ResourceChanges,
    confirm_upload,
    update_resource,
)
from catalog.services.upload_files import (
    Checksums,
    FileTooLarge,
    IncomingFile,
    parse_content_md5,
    parse_digest_header,
    too_large_message,
)
from catalog.services.uploads import (
    Uploads,
    abort_multipart_upload,
    complete_multipart_upload,
    stage_upload,
    start_multipart_upload,
)

blp = Blueprint(
    "uploads",
    __name__,
    url_prefix="/datasets",
    description="Steward uploads: stage a file, check the proposal, confirm it",
)
WRITE = {"security": [{"bearerAuth": []}]}
LOADER = "opendata.load_table"  # put on the app by harvesters.uploads.init_app
UPLOAD_BODY = {
    "required": True,
    "description": "The file: the raw bytes (any type; name it with `file_name`), or a "
    "multipart/form-data form with the file in its `file` part.",
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


def current_uploads() -> Uploads:
    """The upload services' ports and settings, for this app."""
    settings = current_app.extensions["opendata.settings"]
    stores = backends()
    return Uploads(
        object_store=stores.object_store,
        record_store=stores.record_store,
        load_table=current_app.extensions[LOADER],
        secret_key=settings.secret_key,
        max_bytes=settings.max_upload_bytes,
    )


@blp.errorhandler(FileTooLarge)
def _file_too_large(error: FileTooLarge):
    return problem(413, error.message)


@blp.errorhandler(RequestEntityTooLarge)
def _body_too_large(_error: RequestEntityTooLarge):
    # Werkzeug refuses a body whose Content-Length is past MAX_CONTENT_LENGTH before it is
    # read; the same words as when the limit is found while reading.
    return problem(413, too_large_message(current_app.config["MAX_CONTENT_LENGTH"]))


def _receive(file_name: str | None):
    """Hands the request's file to the service, which asks only once the policy has let
    the caller in: a refused request reads nothing."""

    def receive() -> IncomingFile:
        if request.mimetype == "multipart/form-data":
            part = request.files.get("file")
            if part is None:
                raise InvalidInput({"file": ["Send the file in the form's `file` part."]})
            return IncomingFile(part.stream, file_name or part.filename or "", part.mimetype)
        if not file_name:
            raise InvalidInput({"file_name": ["Name the file: ?file_name=学校名录.csv"]})
        return IncomingFile(request.stream, file_name, request.mimetype)

    return receive


def _checksums(sha256: str | None) -> Checksums:
    digest = None
    for header in ("Content-Digest", "Repr-Digest", "Digest"):
        if request.headers.get(header):
            digest = parse_digest_header(request.headers[header])
            if digest is not None:
                break
    md5 = request.headers.get("Content-MD5")
    return Checksums(sha256=sha256 or digest, md5=parse_content_md5(md5) if md5 else None)


@blp.route("/<slug>/uploads")
class DatasetUploads(MethodView):
    @blp.arguments(UploadArgsSchema, location="query")
    @blp.response(201, ProposalSchema)
    @blp.doc(
        requestBody=UPLOAD_BODY,
        responses={413: {"description": "Larger than the portal takes."}},
        **WRITE,
    )
    def post(self, args, slug: str):
        """Stage a file for a dataset and get the portal's proposal.

        The body streams to the object store (never held in memory) while it is hashed;
        past the size limit the upload stops with 413, and a checksum sent with it
        (`sha256`, `Digest`, `Content-Digest`, `Content-MD5`) must match, or 422. A file
        named or typed as a table (CSV, XLSX, JSON, GeoJSON) is read whole: the proposal
        gives its format, encoding, delimiter, fields (name, title, type, a guess at
        sensitive), exact row count, ragged rows and unfit values with their lines, notes
        and the first rows. A file that is no table where it says it is one is refused
        (422); other files (PDF, ZIP, ...) become plain downloads; programs are refused.
        Nothing changes in the dataset until the proposal's token is confirmed, within a
        day; a refused upload leaves nothing behind.
        """
        return stage_upload(
            db(),
            current_actor(),
            current_uploads(),
            slug,
            _receive(args.get("file_name")),
            _checksums(args.get("sha256")),
        )


@blp.route("/<slug>/uploads/multipart")
class MultipartUploads(MethodView):
    @blp.arguments(MultipartInputSchema)
    @blp.response(201, MultipartSchema)
    @blp.doc(**WRITE)
    def post(self, values, slug: str):
        """Begin an upload that goes straight to the object store (S3) in parts.

        The answer gives the part size and a presigned URL per part, valid an hour: PUT
        each part's bytes to its URL, keep the ETag each answers with, then complete.
        The portal never carries the bytes. A portal that keeps files in a local folder
        answers 409: use the direct upload.
        """
        started = start_multipart_upload(
            db(),
            current_actor(),
            current_uploads(),
            slug,
            values["file_name"],
            values["size"],
            values["parts"],
            values["sha256"],
        )
        upload = started.upload
        return {
            "id": started.handle,
            "upload_id": upload.upload_id,
            "key": upload.key,
            "part_size": upload.part_size,
            "expires_at": upload.expires_at,
            "parts": [
                {"number": number, "url": url}
                for number, url in enumerate(upload.part_urls, start=1)
            ],
        }


@blp.route("/<slug>/uploads/multipart/<upload>/complete")
class MultipartComplete(MethodView):
    @blp.arguments(MultipartCompleteSchema)
    @blp.response(201, ProposalSchema)
    @blp.doc(**WRITE)
    def post(self, values, slug: str, upload: str):
        """Complete a multipart upload and get the proposal, as a direct upload does.

        The portal joins the parts, reads the object once to check its size (and the
        sha256 given here or at the start) and to read the table; a file refused is
        deleted from the store.
        """
        parts = [(part["number"], part["etag"]) for part in values["parts"]]
        return complete_multipart_upload(
            db(), current_actor(), current_uploads(), slug, upload, parts, values["sha256"]
        )


@blp.route("/<slug>/uploads/multipart/<upload>")
class MultipartUpload(MethodView):
    @blp.response(204)
    @blp.doc(**WRITE)
    def delete(self, slug: str, upload: str):
        """Abort a multipart upload: its parts are dropped from the store."""
        abort_multipart_upload(db(), current_actor(), current_uploads(), slug, upload)


def _confirmation(values: dict) -> Confirmation:
    return Confirmation(
        token=values["token"],
        name=values["name"],
        description=values["description"],
        fields=values["fields_"],
        skip_ragged_rows=values["skip_ragged_rows"],
    )


@blp.route("/<slug>/resources")
class NewResource(MethodView):
    @blp.arguments(ConfirmInputSchema)
    @blp.response(201, ConfirmedSchema)
    @blp.doc(**WRITE)
    def post(self, values, slug: str):
        """Confirm a staged upload as a new resource of the dataset.

        Its records are loaded with the fields as confirmed (titles, types, sensitive
        flags; fields left out are not loaded). A table with ragged rows needs
        `skip_ragged_rows`. The dataset changes only if everything succeeds.
        """
        return confirm_upload(db(), current_actor(), current_uploads(), slug, _confirmation(values))


@blp.route("/<slug>/resources/<resource_id>/versions")
class NewVersion(MethodView):
    @blp.arguments(ConfirmInputSchema)
    @blp.response(201, ConfirmedSchema)
    @blp.doc(**WRITE)
    def post(self, values, slug: str, resource_id: str):
        """Confirm a staged upload as the next version of a resource's file.

        The earlier versions stay downloadable (GET …/versions). The records are loaded
        again from the new file; if that fails, the old records and version stay.
        """
        return confirm_upload(
            db(), current_actor(), current_uploads(), slug, _confirmation(values), resource_id
        )


@blp.route("/<slug>/resources/<resource_id>")
class ResourceMetadata(MethodView):
    @blp.response(200, ResourceSchema)
    def get(self, slug: str, resource_id: str):
        """A resource's metadata: name, format, media type, size, sha256, version, its
        fields (信息项, with their sensitive flags) and row count, for those who may see the
        dataset (404 otherwise)."""
        return get_dataset_resource(db(), current_actor(), slug, resource_id)[1]

    @blp.arguments(ResourcePatchSchema)
    @blp.response(200, ResourceSchema)
    @blp.doc(**WRITE)
    def patch(self, values, slug: str, resource_id: str):
        """Change a resource's name, description, field titles or sensitive flags.

        A field's type changes only with a new upload, which reads the values again.
        Sensitive flags decide what is masked for those outside the department, in the
        records as in the file's download; changing fields loads the records again.
        """
        changes = ResourceChanges(
            name=values.get("name"),
            description=values.get("description"),
            fields=values.get("fields_"),
        )
        return update_resource(db(), current_actor(), current_uploads(), slug, resource_id, changes)
