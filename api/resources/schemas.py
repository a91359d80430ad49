from marshmallow import Schema, fields


class DownloadArgsSchema(Schema):
    redirect = fields.Boolean(
        load_default=False,
        metadata={
            "description": "On an S3 object store, answer 302 with a short-lived link "
            "straight to the store (counted and audited first) instead of streaming "
            "through the portal; elsewhere the file streams as usual."
        },
    )


class ResourceVersionSchema(Schema):
    version = fields.Integer()
    current = fields.Boolean(metadata={"description": "The resource's current file."})
    size = fields.Integer(metadata={"description": "In bytes."})
    sha256 = fields.String()
    media_type = fields.String()
    created_at = fields.DateTime(metadata={"description": "When this version was stored."})
    download_url = fields.String()
