from marshmallow import Schema, fields, validate

from catalog.vocab import TokenScope

SCOPE_CODES = TokenScope.codes()
# Ten years: long enough for any system account, short enough to stay a real date.
MAX_EXPIRY_DAYS = 3650


class TokenSchema(Schema):
    """An API token as its owner sees it: never the token itself, nor its hash."""

    id = fields.String(metadata={"description": "Identifies the token, e.g. to revoke it."})
    name = fields.String(metadata={"description": "The owner's note to tell tokens apart."})
    prefix = fields.String(metadata={"description": "The token's first characters."})
    scopes = fields.List(fields.String(), metadata={"description": "read, write."})
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True, metadata={"description": "null: never."})
    last_used_at = fields.DateTime(allow_none=True)


class CreatedTokenSchema(TokenSchema):
    token = fields.String(
        metadata={
            "description": "The token, shown this once: only its hash is kept. Send it as "
            "`Authorization: Bearer <token>`."
        }
    )


class TokenInputSchema(Schema):
    class Meta:
        unknown = "raise"

    name = fields.String(load_default="", validate=validate.Length(max=200))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPE_CODES)),
        load_default=lambda: ["read"],
        validate=validate.Length(min=1),
        metadata={"description": "read, and write to change the catalog (default: read)."},
    )
    expires_in_days = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_EXPIRY_DAYS),
        metadata={"description": "Days until the token expires; null: never."},
    )
    user = fields.String(
        load_default=None,
        metadata={"description": "Sysadmins: the name of the user to create the token for."},
    )


class TokenListArgsSchema(Schema):
    user = fields.String(
        load_default=None,
        metadata={"description": "Sysadmins: the name of the user whose tokens to list."},
    )
