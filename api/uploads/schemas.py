from marshmallow import Schema, fields, validate

from api.datasets.schemas import FieldSchema, ResourceSchema
from catalog.services.uploads import MAX_PARTS
from catalog.vocab import FieldType

SHA256 = validate.Regexp(r"^[0-9a-fA-F]{64}$", error="A SHA-256 is 64 hexadecimal digits.")


class UploadArgsSchema(Schema):
    file_name = fields.String(
        validate=validate.Length(max=1000),
        metadata={
            "description": "The file's name, with its extension (学校名录.csv): needed for a "
            "raw body; a form's file part carries its own."
        },
    )
    sha256 = fields.String(
        validate=SHA256,
        metadata={
            "description": "The file's SHA-256 in hex, to be verified (or send `Digest: "
            "sha-256=<base64>`, `Content-Digest`, or `Content-MD5`)."
        },
    )


class TableProblemSchema(Schema):
    line = fields.Integer(metadata={"description": "The line (CSV), sheet row or position."})
    field = fields.String(
        allow_none=True, metadata={"description": "null for a ragged row (left out)."}
    )
    raw = fields.String()
    message = fields.String()


class TableSchema(Schema):
    """How the file reads as a table: the whole file was read."""

    format = fields.String()
    encoding = fields.String(allow_none=True)
    delimiter = fields.String(allow_none=True)
    header_line = fields.Integer(allow_none=True)
    sheet = fields.String(allow_none=True)
    fields_ = fields.List(fields.Nested(FieldSchema), attribute="fields", data_key="fields")
    row_count = fields.Integer(attribute="rows_loaded", metadata={"description": "Rows loaded."})
    rows_failed = fields.Integer(
        metadata={
            "description": "Ragged rows (left out) and rows with a value that does not fit "
            "its field's type (loaded with it empty)."
        }
    )
    problems = fields.List(
        fields.Nested(TableProblemSchema), metadata={"description": "The first of them."}
    )
    lines_skipped = fields.Integer(
        metadata={"description": "Notes and lines above the header, not data."}
    )
    notes = fields.List(fields.String())


class ProposalSchema(Schema):
    token = fields.String(
        metadata={
            "description": "Confirm with it (POST …/resources or …/resources/<id>/versions) "
            "before it expires."
        }
    )
    expires_at = fields.DateTime()
    file_name = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    media_type = fields.String()
    format = fields.String()
    tabular = fields.Boolean(
        metadata={"description": "A table, loaded as records; otherwise a plain download."}
    )
    ragged_lines = fields.List(
        fields.Integer(),
        metadata={"description": "Lines of rows with the wrong number of values."},
    )
    table = fields.Nested(TableSchema, allow_none=True)
    preview = fields.List(
        fields.Dict(),
        metadata={"description": "The first rows as they would be loaded, with `_id`."},
    )


class MultipartInputSchema(Schema):
    file_name = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    size = fields.Integer(
        required=True, validate=validate.Range(min=1), metadata={"description": "In bytes."}
    )
    parts = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_PARTS),
        metadata={"description": "How many parts you want (0: the portal chooses)."},
    )
    sha256 = fields.String(validate=SHA256, load_default=None)


class PartUrlSchema(Schema):
    number = fields.Integer()
    url = fields.String(metadata={"description": "PUT the part's bytes here."})


class MultipartSchema(Schema):
    id = fields.String(
        metadata={"description": "Names the upload in …/multipart/<id>/complete and abort."}
    )
    upload_id = fields.String(metadata={"description": "The store's own upload id."})
    key = fields.String()
    part_size = fields.Integer(
        metadata={"description": "Bytes of every part but the last, which has the rest."}
    )
    expires_at = fields.DateTime(metadata={"description": "When the part URLs stop working."})
    parts = fields.List(fields.Nested(PartUrlSchema))


class PartInputSchema(Schema):
    number = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_PARTS))
    etag = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The ETag header the store answered the part's PUT with."},
    )


class MultipartCompleteSchema(Schema):
    parts = fields.List(
        fields.Nested(PartInputSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_PARTS),
    )
    sha256 = fields.String(validate=SHA256, load_default=None)


class FieldInputSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    title = fields.String(load_default="", validate=validate.Length(max=200))
    type = fields.String(load_default="text", validate=validate.OneOf(FieldType.codes()))
    sensitive = fields.Boolean(load_default=False)


class ConfirmInputSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200_000))
    name = fields.String(load_default=None, validate=validate.Length(max=500))
    description = fields.String(load_default=None, validate=validate.Length(max=10_000))
    fields_ = fields.List(
        fields.Nested(FieldInputSchema),
        data_key="fields",
        load_default=None,
        metadata={
            "description": "The proposal's fields as you want them (titles, types, sensitive "
            "flags); a field left out is not loaded. Omit to take the proposal as it is."
        },
    )
    skip_ragged_rows = fields.Boolean(
        load_default=False,
        metadata={"description": "Load a table with ragged rows, leaving them out."},
    )


class ConfirmedSchema(Schema):
    resource = fields.Nested(ResourceSchema)
    version = fields.Integer()
    records = fields.Nested(TableSchema, allow_none=True, attribute="table")


class FieldPatchSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    title = fields.String(validate=validate.Length(max=200))
    type = fields.String(
        metadata={"description": "Must be the field's type: types change with an upload."}
    )
    sensitive = fields.Boolean()


class ResourcePatchSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=500))
    description = fields.String(validate=validate.Length(max=10_000))
    fields_ = fields.List(fields.Nested(FieldPatchSchema), data_key="fields")
