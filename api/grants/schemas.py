from datetime import UTC

from marshmallow import Schema, fields, validate

from catalog.services.grants import REASON_MAX_LENGTH


class GrantSchema(Schema):
    """A grant: a department or a user given access to one dataset's data."""

    id = fields.String(metadata={"description": "Identifies the grant, e.g. to revoke it."})
    dataset = fields.String(metadata={"description": "Slug of the dataset."})
    department = fields.String(
        allow_none=True, metadata={"description": "Slug of the department given access."}
    )
    department_name = fields.String(allow_none=True)
    user = fields.String(
        allow_none=True, metadata={"description": "Name of the user given access."}
    )
    reason = fields.String(metadata={"description": "Why access was given (e.g. 申请编号)."})
    created_by = fields.String(
        allow_none=True, metadata={"description": "Who gave it; null: the command line."}
    )
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True, metadata={"description": "null: never."})
    active = fields.Boolean(metadata={"description": "false once it has expired."})


class GrantInputSchema(Schema):
    class Meta:
        unknown = "raise"

    department = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Slug of the department to give access; or `user`."},
    )
    user = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Name of the user to give access; or `department`."},
    )
    expires_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        default_timezone=UTC,
        metadata={
            "description": "When access ends (ISO 8601, UTC without an offset); null: never."
        },
    )
    reason = fields.String(
        load_default="",
        validate=validate.Length(max=REASON_MAX_LENGTH),
        metadata={"description": "Why access is given, e.g. the number of the approved request."},
    )
