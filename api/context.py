"""The request's database session and acting user, shared by the API and the pages."""

from flask import current_app, g, request, session

from catalog.backends import Backends
from catalog.errors import Unauthorized
from catalog.models import User
from catalog.policy import Actor
from catalog.services.users import actor_for_token, actor_for_user

SESSION_USER_KEY = "user_id"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def backends() -> Backends:
    return current_app.extensions["opendata"]


def db():
    """The request's session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = backends().sessions()
    return g.db_session


def close_db(_exception=None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


def current_actor() -> Actor:
    """Who is asking: a bearer token, else the logged-in user of the session, else anonymous."""
    if "actor" not in g:
        g.actor = _resolve_actor()
    return g.actor


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header; None without the header, and
    Unauthorized for any other kind of credentials."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'.")
    return token.strip()


def _resolve_actor() -> Actor:
    token = bearer_token()
    if token is not None:
        return actor_for_token(db(), token)
    # The API is exempt from CSRF tokens, so its writes must not ride on a session cookie
    # that another site could make the browser send: they need a bearer token.
    if request.path.startswith("/api/") and request.method not in SAFE_METHODS:
        return Actor.anonymous()
    user_id = session.get(SESSION_USER_KEY)
    if user_id:
        user = db().get(User, user_id)
        if user is not None and user.active:
            return actor_for_user(db(), user)
        session.pop(SESSION_USER_KEY, None)
    return Actor.anonymous()
