"""Users, department memberships, API tokens and the actor a request runs as."""

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from catalog.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from catalog.models import ApiToken, Dataset, Department, Grant, Membership, User, utcnow
from catalog.policy import Actor, can_manage_catalog, can_manage_department, may_be_granted
from catalog.services.audit import record_event
from catalog.vocab import Role, TokenScope

TOKEN_PREFIX = "odp_"  # noqa: S105 - a public marker that makes leaked tokens findable


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is safe; no salt or stretching needed.
    return hashlib.sha256(token.encode()).hexdigest()


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"No user named {name!r}.")
    return user


def create_user(
    session: Session,
    actor: Actor,
    name: str,
    display_name: str = "",
    email: str = "",
    password: str | None = None,
    sysadmin: bool = False,
) -> User:
    if not can_manage_catalog(actor):
        raise Forbidden("Only sysadmins create users.")
    if not name or not name.replace("-", "").replace("_", "").isalnum() or not name.isascii():
        raise InvalidInput({"name": ["Use letters, digits, '-' and '_' only."]})
    if session.scalar(select(User.id).where(User.name == name)):
        raise InvalidInput({"name": [f"The user name {name!r} is taken."]})
    user = User(name=name, display_name=display_name, email=email, sysadmin=sysadmin)
    if password is not None:
        user.password_hash = generate_password_hash(password)
    session.add(user)
    session.flush()
    after = {"name": name, "display_name": display_name, "email": email, "sysadmin": sysadmin}
    record_event(session, actor, "user.create", "user", user.id, None, after)
    session.commit()
    return user


# Checked against when the user does not exist, so that a wrong name costs as much time
# as a wrong password and response times do not tell which names exist.
@cache
def _dummy_password_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def check_password(session: Session, name: str, password: str) -> User:
    user = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
    stored = user.password_hash if user is not None and user.password_hash else None
    if not check_password_hash(stored or _dummy_password_hash(), password) or stored is None:
        raise Unauthorized("Unknown user name or wrong password.")
    return user


def set_password(session: Session, actor: Actor, user: User, password: str) -> None:
    """Set a user's portal password (sysadmins, or the user themself)."""
    if actor.user_id != user.id and not can_manage_catalog(actor):
        raise Forbidden("Only sysadmins set other users' passwords.")
    if len(password) < 10:
        raise InvalidInput({"password": ["Use at least 10 characters."]})
    user.password_hash = generate_password_hash(password)
    record_event(session, actor, "user.password", "user", user.id, None, None)
    session.commit()


def set_membership(
    session: Session, actor: Actor, user: User, department: Department, role: Role
) -> Membership:
    """Give the user a role in the department (its admins and sysadmins decide)."""
    if not can_manage_department(actor, department.id):
        raise Forbidden("Only admins of the department change its members.")
    role = Role(role)
    membership = session.get(Membership, (user.id, department.id))
    before = {"role": membership.role} if membership else None
    if membership is None:
        membership = Membership(user_id=user.id, department_id=department.id)
        session.add(membership)
    membership.role = role.value
    record_event(
        session,
        actor,
        "membership.set",
        "user",
        user.id,
        before,
        {"department": department.slug, "role": role.value},
    )
    session.commit()
    return membership


def _require_caller(actor: Actor) -> None:
    # The command line acts as a sysadmin without a user; anyone else must be someone.
    if not actor.is_authenticated and not actor.sysadmin:
        raise Unauthorized("Send a bearer token to manage API tokens.")


def _may_manage_tokens_of(actor: Actor, user_id: str) -> None:
    """A user manages their own tokens, and sysadmins everyone's, with a write-scoped
    credential: a leaked read-only token must not mint or revoke tokens."""
    _require_caller(actor)
    if "write" not in actor.scopes:
        raise Forbidden("This token may only read; use a token with the write scope.")
    if actor.user_id != user_id and not can_manage_catalog(actor):
        raise Forbidden("Only sysadmins manage other users' tokens.")


def token_owner(session: Session, actor: Actor, name: str | None = None) -> User:
    """The user whose tokens a call manages: the caller, or for sysadmins the named user.

    Others naming someone else are refused before the name is looked up, so the answer
    never tells them which user names exist.
    """
    _require_caller(actor)
    if name is None or name == actor.name:
        user = session.get(User, actor.user_id) if actor.user_id else None
        if user is None:
            raise InvalidInput({"user": ["Name the user whose tokens to manage."]})
        return user
    if not actor.sysadmin:
        raise Forbidden("Only sysadmins manage other users' tokens.")
    return get_user(session, name)


def create_token(
    session: Session,
    actor: Actor,
    user: User,
    name: str = "",
    scopes: frozenset[TokenScope] = frozenset({TokenScope.READ, TokenScope.WRITE}),
    expires_in: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the stored row and the token text, which is never kept."""
    _may_manage_tokens_of(actor, user.id)
    if not scopes:
        raise InvalidInput({"scopes": ["Give at least one scope: read, write."]})
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput({"expires_in": ["The expiry must lie in the future."]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(token),
        prefix=token[:10],
        scopes=sorted(TokenScope(scope).value for scope in scopes),
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(row)
    session.flush()
    record_event(session, actor, "token.create", "user", user.id, None, {"token": row.prefix + "…"})
    session.commit()
    return row, token


def list_tokens(session: Session, actor: Actor, user: User) -> list[ApiToken]:
    """The user's tokens that are not revoked (expired ones included), newest first.

    Users list their own tokens, sysadmins anyone's; reading needs no write scope.
    """
    _require_caller(actor)
    if actor.user_id != user.id and not actor.sysadmin:
        raise Forbidden("Only sysadmins list other users' tokens.")
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc(), ApiToken.id)
        )
    )


def revoke_token(session: Session, actor: Actor, token_id: str) -> None:
    """Revoke a token at once: the next request that sends it answers 401.

    Revoking a revoked token changes nothing; a token of another user is NotFound to
    all but sysadmins, so token ids cannot be probed.
    """
    _require_caller(actor)
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.user_id and not actor.sysadmin):
        raise NotFound("No such token.")
    _may_manage_tokens_of(actor, row.user_id)
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    record_event(session, actor, "token.revoke", "user", row.user_id, None, {"token": row.prefix})
    session.commit()


def token_id_for(session: Session, token: str) -> str | None:
    """The id of the token row a bearer token text stands for, spent or not (None if
    unknown): what rate limits count a caller by, without keeping the token itself."""
    return session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token)))


def actor_for_token(session: Session, token: str) -> Actor:
    """The actor a bearer token stands for, or Unauthorized if it is unknown or spent."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("Unknown or revoked API token.")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("This API token has expired.")
    if not row.user.active:
        raise Unauthorized("This user is deactivated.")
    row.last_used_at = now
    session.commit()
    return actor_for_user(session, row.user, scopes=frozenset(row.scopes), now=now)


def actor_for_user(
    session: Session,
    user: User,
    scopes: frozenset[str] = frozenset({"read", "write"}),
    now: datetime | None = None,
) -> Actor:
    """Build the actor: the user's roles by department and the grants alive right now."""
    now = now or utcnow()
    memberships = session.execute(
        select(Membership.department_id, Membership.role).where(Membership.user_id == user.id)
    ).all()
    roles = {department_id: Role(role) for department_id, role in memberships}
    grantees = [Grant.user_id == user.id]
    if roles:
        grantees.append(Grant.department_id.in_(roles))
    live_grants = session.execute(
        select(Grant.dataset_id, Dataset.open_type, Dataset.share_type)
        .join(Dataset, Dataset.id == Grant.dataset_id)
        .where(or_(*grantees), or_(Grant.expires_at.is_(None), Grant.expires_at > now))
    ).all()
    # A user with a role anywhere is a government user, and so are grants to departments.
    granted = [row.dataset_id for row in live_grants if may_be_granted(row, bool(roles))]
    return Actor(
        user_id=user.id,
        name=user.name,
        sysadmin=user.sysadmin,
        roles=roles,
        granted_dataset_ids=frozenset(granted),
        scopes=scopes,
    )
