"""Catalog objects as CKAN dicts: package, resource, organization, group and tag.

The government catalog's own fields (resource code, open and share types, update
frequency...) have no place in CKAN's schema, so they travel as ``extras``, where a CKAN
harvester keeps them; ``schemas.py`` takes them back the same way.
"""

import json
from datetime import UTC, datetime
from typing import Any

from flask import g, url_for

from api.context import backends, current_actor
from catalog.models import Dataset, Department, Resource, Theme
from catalog.policy import Action, Actor, can
from catalog.vocab import DatasetState

# Dataset columns carried as extras, by kind: how a value is written and read back.
GOVERNMENT_EXTRAS: dict[str, str] = {
    "title_en": "text",
    "description_en": "text",
    "resource_code": "optional_text",
    "provider": "text",
    "provider_code": "text",
    "open_type": "text",
    "open_condition": "text",
    "share_type": "text",
    "share_condition": "text",
    "share_method": "text",
    "update_frequency": "text",
    "release_date": "date",
    "related_resource_codes": "list",
    "temporal_start": "date",
    "temporal_end": "date",
    "spatial": "text",
    "contact_phone": "text",
}
CKAN_STATE = {
    DatasetState.PUBLISHED.value: "active",
    DatasetState.DRAFT.value: "draft",
    DatasetState.WITHDRAWN.value: "deleted",
}
# How a field type of the record store is named in CKAN's DataStore.
DATASTORE_TYPES = {
    "text": "text",
    "integer": "int",
    "number": "numeric",
    "date": "date",
    "datetime": "timestamp",
    "boolean": "bool",
    "geo_point": "json",
}


def ckan_time(moment: datetime | None) -> str | None:
    """CKAN's timestamps: UTC, ISO 8601 without a zone suffix."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def _extra_value(kind: str, value: Any) -> str:
    if kind == "date":
        return value.isoformat()
    if kind == "list":
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def is_private(dataset: Dataset) -> bool:
    # CKAN's private: seen by some callers, but not by the public.
    return not can(Actor.anonymous(), Action.VIEW, dataset)


def dataset_extras(dataset: Dataset) -> list[dict[str, str]]:
    extras = {
        name: _extra_value(kind, getattr(dataset, name))
        for name, kind in GOVERNMENT_EXTRAS.items()
        if getattr(dataset, name) not in (None, "", [])
    }
    for key, value in (dataset.extras or {}).items():
        if key not in GOVERNMENT_EXTRAS:
            extras[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return [{"key": key, "value": extras[key]} for key in sorted(extras)]


def package_dict(dataset: Dataset) -> dict[str, Any]:
    """A dataset as CKAN's package_show gives it."""
    license_row = dataset.license
    tags = [tag_dict(tag.name) for tag in dataset.tags]
    resources = [resource_dict(resource, dataset) for resource in dataset.resources]
    return {
        "id": dataset.id,
        "name": dataset.slug,
        "title": dataset.title,
        "notes": dataset.description,
        "type": "dataset",
        "owner_org": dataset.department_id,
        "organization": organization_dict(dataset.department),
        "private": is_private(dataset),
        "state": CKAN_STATE.get(dataset.state, dataset.state),
        "license_id": dataset.license_id or "",
        "license_title": license_row.title if license_row else "",
        "license_url": license_row.url if license_row else "",
        "isopen": license_row is not None,
        "metadata_created": ckan_time(dataset.created_at),
        "metadata_modified": ckan_time(dataset.modified_at),
        "tags": tags,
        "num_tags": len(tags),
        "groups": [group_dict(theme) for theme in dataset.themes],
        "extras": dataset_extras(dataset),
        "resources": resources,
        "num_resources": len(resources),
        "url": url_for("pages.dataset", slug=dataset.slug, _external=True),
        "version": dataset.version,
        "author": dataset.contact_name,
        "author_email": dataset.contact_email,
        "maintainer": dataset.contact_name,
        "maintainer_email": dataset.contact_email,
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }


def _may_fetch(dataset: Dataset) -> bool:
    # As REST v1: no address or checksum to those who may not fetch the data (a link may
    # carry a key; a checksum confirms a guess of a small file's content).
    return can(current_actor(), Action.READ_DATA, dataset)


def _resource_url(resource: Resource, dataset: Dataset) -> str:
    if not _may_fetch(dataset):
        return ""
    if resource.storage_key is None:
        return resource.url or ""
    return url_for(
        "resources.ResourceDownload",
        slug=dataset.slug,
        resource_id=resource.id,
        _external=True,
    )


def _datastore_active(resource: Resource) -> bool:
    """Whether the resource's rows are in the record store; asked once per request and
    only for resources that declare fields (only tables can have records)."""
    if not resource.fields:
        return False
    known = g.setdefault("ckan_datastore_active", {})
    if resource.id not in known:
        known[resource.id] = backends().record_store.exists(resource.id)
    return known[resource.id]


def resource_dict(resource: Resource, dataset: Dataset) -> dict[str, Any]:
    return {
        "id": resource.id,
        "package_id": dataset.id,
        "name": resource.name,
        "description": resource.description,
        "format": resource.format,
        "mimetype": resource.media_type or None,
        "mimetype_inner": None,
        "resource_type": None,
        "url": _resource_url(resource, dataset),
        "url_type": "upload" if resource.storage_key is not None else None,
        "size": resource.size,
        "hash": (resource.sha256 or "") if _may_fetch(dataset) else "",
        "created": ckan_time(resource.created_at),
        "last_modified": ckan_time(resource.modified_at),
        "metadata_modified": ckan_time(resource.modified_at),
        "datastore_active": _datastore_active(resource),
        "position": resource.position,
        "state": "active",
    }


def organization_dict(department: Department, package_count: int | None = None) -> dict:
    extras = {"code": department.code, "name_en": department.name_en}
    extras.update(email=department.contact_email, phone=department.contact_phone)
    data = {
        "id": department.id,
        "name": department.slug,
        "title": department.name,
        "display_name": department.name,
        "description": department.description,
        "image_url": "",
        "image_display_url": "",
        "created": ckan_time(department.created_at),
        "is_organization": True,
        "type": "organization",
        "state": "active",
        "approval_status": "approved",
        "extras": [{"key": k, "value": v} for k, v in sorted(extras.items()) if v],
    }
    if package_count is not None:
        data["package_count"] = package_count
    return data


def group_dict(theme: Theme, package_count: int | None = None) -> dict[str, Any]:
    data = {
        "id": theme.id,
        "name": theme.slug,
        "title": theme.name,
        "display_name": theme.name,
        "description": theme.name_en,
        "image_display_url": "",
        "is_organization": False,
        "type": "group",
        "state": "active",
        "approval_status": "approved",
    }
    if package_count is not None:
        data["package_count"] = package_count
    return data


def tag_dict(name: str) -> dict[str, Any]:
    return {"name": name, "display_name": name, "vocabulary_id": None, "state": "active"}
