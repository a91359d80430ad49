"""Grants: the owning department's admins (and sysadmins) give a department or a user
access to a dataset's data, list and revoke it. Others who see the dataset get 403, those
who may not know it exists 404."""

from uuid import UUID

from flask.views import MethodView

from api import Blueprint
from api.context import current_actor, db
from api.grants.schemas import GrantInputSchema, GrantSchema
from catalog.services.grants import create_grant, list_grants, revoke_grant

blp = Blueprint("grants", __name__, url_prefix="/datasets", description="Access to datasets' data")
BEARER = {"security": [{"bearerAuth": []}]}


@blp.route("/<slug>/grants")
class DatasetGrants(MethodView):
    @blp.response(200, GrantSchema(many=True))
    @blp.doc(**BEARER)
    def get(self, slug: str):
        """List a dataset's grants, live and expired, newest first (admins of its
        department)."""
        return list_grants(db(), current_actor(), slug)

    @blp.arguments(GrantInputSchema)
    @blp.response(201, GrantSchema)
    @blp.alt_response(409, description="The grantee already holds a live grant on it.")
    @blp.doc(**BEARER)
    def post(self, values, slug: str):
        """Give a department (`department`, its slug) or a user (`user`, their name) access
        to the dataset's data, until `expires_at` if given (admins of its department, with
        a write token).

        This opens 有条件开放 and 有条件共享 data to the grantee from their next request.
        An unknown grantee, both or neither named, the owning department or a past expiry
        answer 422; a grantee who already holds a live grant on the dataset, 409.
        Audited."""
        return create_grant(db(), current_actor(), slug, **values)


@blp.route("/<slug>/grants/<uuid:grant_id>")
class DatasetGrantById(MethodView):
    @blp.response(204)
    @blp.doc(**BEARER)
    def delete(self, slug: str, grant_id: UUID):
        """Revoke a grant: the grantee loses access with their next request (admins of the
        dataset's department, with a write token). Audited."""
        revoke_grant(db(), current_actor(), str(grant_id), dataset_slug=slug)
