from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields
from marshmallow.utils import get_value

from api.context import current_actor
from catalog.policy import Action, can


class FileFact(fields.String):
    """What lets a caller fetch or verify a resource's file (its address, its checksum):
    given only to those the policy lets fetch the dataset's data, null to everyone else,
    whose download answers 403. Every view of a resource's file serialises through it (the
    dataset's resources, an upload's resource, the versions listing), so all withhold alike.
    The object serialised names its dataset as ``dataset``.
    """

    def __init__(self, value: Callable[[Any], str | None], **kwargs):
        super().__init__(dump_only=True, allow_none=True, **kwargs)
        self.value = value

    def serialize(self, attr, obj, accessor=None, **kwargs):
        if not can(current_actor(), Action.READ_DATA, get_value(obj, "dataset")):
            return None
        return self._serialize(self.value(obj), attr, obj, **kwargs)


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
    sha256 = FileFact(
        lambda listed: listed["sha256"],
        metadata={"description": "Null when the caller may not fetch the data."},
    )
    media_type = fields.String()
    created_at = fields.DateTime(metadata={"description": "When this version was stored."})
    download_url = FileFact(
        lambda listed: listed["download_url"],
        metadata={"description": "Null when the caller may not fetch the data."},
    )
