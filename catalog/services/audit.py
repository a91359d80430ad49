"""Audit events: every create, update and delete leaves who, when, what, before and after."""

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from catalog.models import AuditEvent, Dataset, Department, Resource, SearchOutbox
from catalog.policy import Actor


def record_event(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEvent:
    """Add an audit event to the session; it commits with the change it describes."""
    event = AuditEvent(
        actor_id=actor.user_id,
        actor_name=actor.name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )
    session.add(event)
    return event


def record_dataset_change(
    session: Session,
    actor: Actor,
    action: str,
    dataset_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """A dataset changed: its audit event, and its search outbox entry, in one transaction
    with the change itself, so the index can never miss it."""
    record_event(session, actor, action, "dataset", dataset_id, before, after)
    session.add(SearchOutbox(dataset_id=dataset_id))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def department_snapshot(department: Department) -> dict[str, Any]:
    columns = ("slug", "name", "name_en", "code", "description", "contact_email", "contact_phone")
    return {name: getattr(department, name) for name in columns}


def resource_snapshot(resource: Resource) -> dict[str, Any]:
    columns = ("id", "name", "format", "media_type", "url", "storage_key", "size", "sha256")
    snapshot = {name: getattr(resource, name) for name in columns}
    snapshot["fields"] = resource.fields
    snapshot["row_count"] = resource.row_count
    return snapshot


def dataset_snapshot(dataset: Dataset) -> dict[str, Any]:
    """The dataset's metadata as plain JSON values, for before/after in audit events."""
    skipped = {"created_at", "modified_at", "revision"}
    snapshot = {
        column.key: _plain(getattr(dataset, column.key))
        for column in Dataset.__table__.columns
        if column.key not in skipped
    }
    snapshot["themes"] = [theme.slug for theme in dataset.themes]
    snapshot["tags"] = [tag.name for tag in dataset.tags]
    snapshot["resources"] = [resource_snapshot(r) for r in dataset.resources]
    return snapshot
