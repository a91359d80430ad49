"""Resources of a dataset: links to outside files and files kept in the object store."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import InvalidInput
from catalog.interfaces import ObjectStore
from catalog.models import Dataset, Resource, ResourceVersion, new_id, utcnow
from catalog.policy import Action, Actor, require
from catalog.services.audit import dataset_snapshot, record_dataset_change
from catalog.services.datasets import get_dataset
from catalog.services.downloads import open_resource_file, resource_file
from catalog.vocab import FieldType

_UNSAFE_IN_NAME = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class ResourceValues:
    name: str
    format: str = ""
    media_type: str = ""
    description: str = ""
    url: str | None = None  # for a link; None for a stored file
    fields: list[dict[str, Any]] = field(default_factory=list)
    row_count: int | None = None


def object_key(dataset: Dataset, resource_id: str, version: int, file_name: str) -> str:
    """department / dataset / resource / version / file: old versions stay fetchable."""
    safe_name = _UNSAFE_IN_NAME.sub("_", file_name).strip("._") or "data"
    return f"{dataset.department.slug}/{dataset.slug}/{resource_id}/v{version}/{safe_name}"


def _validate(values: ResourceValues) -> None:
    errors: dict[str, list[str]] = {}
    if not values.name.strip():
        errors["name"] = ["A resource needs a name."]
    if values.url is not None and not re.match(r"^https?://", values.url):
        errors["url"] = ["Links must be http:// or https:// URLs."]
    known_types = set(FieldType.codes())
    for position, spec in enumerate(values.fields):
        if not spec.get("name"):
            errors.setdefault("fields", []).append(f"field {position + 1} has no name")
        if spec.get("type", "text") not in known_types:
            errors.setdefault("fields", []).append(
                f"field {spec.get('name')!r} has unknown type {spec.get('type')!r}"
            )
    if errors:
        raise InvalidInput(errors)


def add_resource(
    session: Session,
    actor: Actor,
    object_store: ObjectStore,
    dataset_slug: str,
    values: ResourceValues,
    content: BinaryIO | None = None,
    file_name: str = "data",
) -> Resource:
    """Add a link (values.url) or a file (content, streamed to the object store)."""
    dataset = get_dataset(session, actor, dataset_slug)
    require(actor, Action.EDIT, dataset)
    _validate(values)
    if (values.url is None) == (content is None):
        raise InvalidInput({"url": ["Give either a link or a file, not both or neither."]})
    resource = Resource(
        id=new_id(),
        name=values.name.strip(),
        description=values.description,
        format=values.format.upper(),
        media_type=values.media_type,
        url=values.url,
        fields=values.fields,
        row_count=values.row_count,
        position=len(dataset.resources),
    )
    stored = None
    if content is not None:
        key = object_key(dataset, resource.id, 1, file_name)
        stored = object_store.put(key, content, values.media_type or "application/octet-stream")
        resource.storage_key, resource.size, resource.sha256 = (
            stored.key,
            stored.size,
            stored.sha256,
        )
    before = dataset_snapshot(dataset)
    try:
        dataset.resources.append(resource)
        dataset.revision += 1
        dataset.modified_at = utcnow()
        session.flush()
        if stored is not None:
            session.add(
                ResourceVersion(
                    resource_id=resource.id,
                    version=1,
                    storage_key=stored.key,
                    size=stored.size,
                    sha256=stored.sha256,
                    media_type=values.media_type,
                    created_by_id=actor.user_id,
                )
            )
        record_dataset_change(
            session, actor, "resource.create", dataset.id, before, dataset_snapshot(dataset)
        )
        session.commit()
    except BaseException:
        session.rollback()
        if stored is not None:
            # The row never landed, so its object must not linger unreferenced.
            object_store.delete(stored.key)
        raise
    return resource


def find_resource(session: Session, dataset: Dataset, name: str) -> Resource | None:
    return session.scalar(
        select(Resource).where(Resource.dataset_id == dataset.id, Resource.name == name)
    )


@dataclass(frozen=True)
class ResourceDownload:
    resource: Resource
    # The original bytes; None when the caller may only have the records masked, because
    # the file holds sensitive fields they may not see.
    chunks: Iterator[bytes] | None


def open_resource(
    session: Session, actor: Actor, object_store: ObjectStore, dataset_slug: str, resource_id: str
) -> ResourceDownload:
    """A stored file's bytes, for those who may fetch the dataset's data; for a file with
    sensitive fields, only the owning department gets the original. Counted and audited as
    a download (catalog.services.downloads, which also serves ranges and old versions)."""
    file = resource_file(session, actor, dataset_slug, resource_id)
    if file.masked_only:
        return ResourceDownload(file.resource, None)
    return ResourceDownload(file.resource, open_resource_file(session, actor, object_store, file))
