"""Grants: access to a dataset's data given to a department or a user, until they expire.

Admins of the owning department (and sysadmins) give, list and revoke them
(``policy.require_grants``); a grant takes effect with the grantee's next request.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.models import Dataset, Department, Grant, Membership, User, utcnow
from catalog.policy import Actor, may_be_granted, require_grants
from catalog.services.audit import record_event
from catalog.services.datasets import get_dataset
from catalog.vocab import OpenType, ShareType

REASON_MAX_LENGTH = 2000


@dataclass(frozen=True)
class GrantView:
    """A grant as its dataset's admins see it: who holds it, why, and until when."""

    id: str
    dataset: str  # slug
    department: str | None  # slug of the grantee department
    department_name: str | None
    user: str | None  # name of the grantee user
    reason: str
    created_by: str | None  # None when given from the command line
    created_at: datetime
    expires_at: datetime | None
    active: bool


def _snapshot(grant: Grant) -> dict:
    return {
        "dataset_id": grant.dataset_id,
        "department_id": grant.department_id,
        "user_id": grant.user_id,
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        "reason": grant.reason,
    }


def _is_live(grant_expiry: datetime | None, now: datetime) -> bool:
    return grant_expiry is None or grant_expiry > now


def _views_query() -> Select:
    grantee, creator = aliased(User), aliased(User)
    return (
        select(Grant, Dataset.slug, Department.slug, Department.name, grantee.name, creator.name)
        .join(Dataset, Dataset.id == Grant.dataset_id)
        .outerjoin(Department, Department.id == Grant.department_id)
        .outerjoin(grantee, grantee.id == Grant.user_id)
        .outerjoin(creator, creator.id == Grant.created_by_id)
    )


def _views(session: Session, query: Select) -> list[GrantView]:
    now = utcnow()
    return [
        GrantView(
            id=grant.id,
            dataset=dataset_slug,
            department=department_slug,
            department_name=department_name,
            user=user_name,
            reason=grant.reason,
            created_by=creator_name,
            created_at=grant.created_at,
            expires_at=grant.expires_at,
            active=_is_live(grant.expires_at, now),
        )
        for grant, dataset_slug, department_slug, department_name, user_name, creator_name in (
            session.execute(query)
        )
    ]


def _grantee_ids(
    session: Session, dataset: Dataset, department: str | None, user: str | None
) -> tuple[str | None, str | None]:
    """The ids of the named department or user; InvalidInput unless exactly one is named
    and it exists."""
    if bool(department) == bool(user):
        message = "Name either a department or a user."
        raise InvalidInput({"department": [message], "user": [message]})
    if department:
        department_id = session.scalar(select(Department.id).where(Department.slug == department))
        if department_id is None:
            raise InvalidInput({"department": [f"No department {department!r}."]})
        if department_id == dataset.department_id:
            raise InvalidInput(
                {"department": ["The owning department always has its datasets' data."]}
            )
        return department_id, None
    user_id = session.scalar(select(User.id).where(User.name == user))
    if user_id is None:
        raise InvalidInput({"user": [f"No user named {user!r}."]})
    return None, user_id


def _require_grantable(
    session: Session, dataset: Dataset, department_id: str | None, user_id: str | None
) -> None:
    """InvalidInput when the grant would open nothing: the rules leave only 有条件开放 and
    有条件共享 data to grants, and 有条件共享 data only to government users."""
    to_government = department_id is not None or (
        session.scalar(select(Membership.user_id).where(Membership.user_id == user_id).limit(1))
        is not None
    )
    if may_be_granted(dataset, to_government):
        return
    field = "department" if department_id else "user"
    if may_be_granted(dataset, to_government=True):
        message = (
            "This dataset's data is shared on conditions with departments only (有条件共享, "
            "不予开放): give the grant to the user's department."
        )
    else:
        message = (
            "Grants open only 有条件开放 or 有条件共享 data; this dataset is "
            f"{OpenType(dataset.open_type).label} and {ShareType(dataset.share_type).label}."
        )
    raise InvalidInput({field: [message]})


def _live_grant_of(
    session: Session, dataset_id: str, department_id: str | None, user_id: str | None
) -> Grant | None:
    grantee = Grant.department_id == department_id if department_id else Grant.user_id == user_id
    live = or_(Grant.expires_at.is_(None), Grant.expires_at > utcnow())
    return session.scalars(
        select(Grant).where(Grant.dataset_id == dataset_id, grantee, live).limit(1)
    ).first()


def create_grant(
    session: Session,
    actor: Actor,
    dataset_slug: str,
    *,
    department: str | None = None,
    user: str | None = None,
    expires_at: datetime | None = None,
    reason: str = "",
) -> GrantView:
    """Give a department (by slug) or a user (by name) access to the dataset's data.

    InvalidInput for an unknown or missing grantee, both named, the owning department, a
    past expiry or an over-long reason; Conflict while the grantee holds a live grant on
    the dataset (revoke it to give another). Nothing is written then.
    """
    dataset = get_dataset(session, actor, dataset_slug)
    require_grants(actor, dataset, manage=True)
    department_id, user_id = _grantee_ids(session, dataset, department, user)
    _require_grantable(session, dataset, department_id, user_id)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput({"expires_at": ["The expiry must lie in the future."]})
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput({"reason": [f"Use at most {REASON_MAX_LENGTH} characters."]})
    existing = _live_grant_of(session, dataset.id, department_id, user_id)
    if existing is not None:
        raise Conflict(
            f"{department or user} already holds grant {existing.id} on this dataset; "
            "revoke it to give another."
        )
    grant = Grant(
        dataset_id=dataset.id,
        department_id=department_id,
        user_id=user_id,
        expires_at=expires_at,
        reason=reason,
        created_by_id=actor.user_id,
    )
    session.add(grant)
    session.flush()
    record_event(session, actor, "grant.create", "grant", grant.id, None, _snapshot(grant))
    session.commit()
    return _views(session, _views_query().where(Grant.id == grant.id))[0]


def revoke_grant(
    session: Session, actor: Actor, grant_id: str, dataset_slug: str | None = None
) -> None:
    """Delete a grant: the grantee loses access with their next request.

    With ``dataset_slug``, the grant must be one of that dataset's (NotFound otherwise).
    """
    grant = session.get(Grant, grant_id)
    if dataset_slug is None:
        if grant is None:
            raise NotFound("No such grant.")
        dataset_slug = grant.dataset_id
    dataset = get_dataset(session, actor, dataset_slug)
    require_grants(actor, dataset, manage=True)
    if grant is None or grant.dataset_id != dataset.id:
        raise NotFound("No such grant.")
    record_event(session, actor, "grant.revoke", "grant", grant.id, _snapshot(grant), None)
    session.delete(grant)
    session.commit()


def list_grants(session: Session, actor: Actor, dataset_slug: str) -> list[GrantView]:
    """The dataset's grants, live and expired, newest first."""
    dataset = get_dataset(session, actor, dataset_slug)
    require_grants(actor, dataset)
    query = _views_query().where(Grant.dataset_id == dataset.id)
    return _views(session, query.order_by(Grant.created_at.desc(), Grant.id))
