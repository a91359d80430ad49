from datetime import timedelta

from flask.views import MethodView

from api import Blueprint
from api.context import current_actor, db
from api.tokens.schemas import (
    CreatedTokenSchema,
    TokenInputSchema,
    TokenListArgsSchema,
    TokenSchema,
)
from catalog.services.users import create_token, list_tokens, revoke_token, token_owner
from catalog.vocab import TokenScope

blp = Blueprint("tokens", __name__, url_prefix="/tokens", description="Your API tokens")

# The token is in the body: no cache or proxy may keep a copy.
NO_STORE = {"Cache-Control": "no-store"}


@blp.route("")
class Tokens(MethodView):
    @blp.arguments(TokenListArgsSchema, location="query")
    @blp.response(200, TokenSchema(many=True))
    @blp.doc(security=[{"bearerAuth": []}])
    def get(self, args):
        """List your tokens that are not revoked (expired ones included), newest first.

        Shows each token's name, first characters, scopes and dates, never the token.
        Sysadmins may pass `user` to list another user's tokens.
        """
        session, actor = db(), current_actor()
        return list_tokens(session, actor, token_owner(session, actor, args["user"]))

    @blp.arguments(TokenInputSchema)
    @blp.response(201, CreatedTokenSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def post(self, values):
        """Create a token. The answer holds the token itself, shown this once.

        Needs a token with the write scope: a session cookie or a read-only token cannot
        make tokens. Sysadmins may pass `user` to create a token for another user.
        """
        session, actor = db(), current_actor()
        owner = token_owner(session, actor, values["user"])
        days = values["expires_in_days"]
        row, token = create_token(
            session,
            actor,
            owner,
            name=values["name"],
            scopes=frozenset(TokenScope(scope) for scope in values["scopes"]),
            expires_in=timedelta(days=days) if days else None,
        )
        shown = {name: getattr(row, name) for name in TokenSchema().fields}
        return {**shown, "token": token}, 201, NO_STORE


@blp.route("/<token_id>")
class TokenById(MethodView):
    @blp.response(204)
    @blp.doc(security=[{"bearerAuth": []}])
    def delete(self, token_id: str):
        """Revoke a token: from now on it answers 401. Sysadmins may revoke anyone's."""
        revoke_token(db(), current_actor(), token_id)
