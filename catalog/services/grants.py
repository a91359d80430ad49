"""Grants: access to a dataset's data given to a department or a user, until they expire."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import Forbidden, InvalidInput, NotFound
from catalog.models import Grant, utcnow
from catalog.policy import Actor, can_manage_department
from catalog.services.audit import record_event
from catalog.services.datasets import get_dataset
from catalog.services.departments import get_department
from catalog.services.users import get_user


def _snapshot(grant: Grant) -> dict:
    return {
        "dataset_id": grant.dataset_id,
        "department_id": grant.department_id,
        "user_id": grant.user_id,
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        "reason": grant.reason,
    }


def create_grant(
    session: Session,
    actor: Actor,
    dataset_slug: str,
    *,
    department: str | None = None,
    user: str | None = None,
    expires_at: datetime | None = None,
    reason: str = "",
) -> Grant:
    """Give a department (by slug) or a user (by name) access to the dataset's data.

    Only admins of the owning department (and sysadmins) give grants.
    """
    dataset = get_dataset(session, actor, dataset_slug)
    if not can_manage_department(actor, dataset.department_id):
        raise Forbidden("Only admins of the owning department give access to its data.")
    if (department is None) == (user is None):
        raise InvalidInput({"grantee": ["Name either a department or a user."]})
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput({"expires_at": ["The expiry must lie in the future."]})
    grant = Grant(
        dataset_id=dataset.id,
        department_id=get_department(session, department).id if department else None,
        user_id=get_user(session, user).id if user else None,
        expires_at=expires_at,
        reason=reason,
        created_by_id=actor.user_id,
    )
    session.add(grant)
    session.flush()
    record_event(session, actor, "grant.create", "grant", grant.id, None, _snapshot(grant))
    session.commit()
    return grant


def revoke_grant(session: Session, actor: Actor, grant_id: str) -> None:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("No such grant.")
    dataset = get_dataset(session, actor, grant.dataset_id)
    if not can_manage_department(actor, dataset.department_id):
        raise Forbidden("Only admins of the owning department revoke its grants.")
    record_event(session, actor, "grant.revoke", "grant", grant.id, _snapshot(grant), None)
    session.delete(grant)
    session.commit()


def list_grants(session: Session, actor: Actor, dataset_slug: str) -> list[Grant]:
    dataset = get_dataset(session, actor, dataset_slug)
    if not can_manage_department(actor, dataset.department_id):
        raise Forbidden("Only admins of the owning department see its grants.")
    return list(session.scalars(select(Grant).where(Grant.dataset_id == dataset.id)))
