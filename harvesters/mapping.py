"""How a remote dataset becomes catalog values: its metadata hash, the slug of a new
dataset, licences and themes found in the catalog's own lists, and the dataset fields.

What a source gives that the catalog has no place for is kept, not dropped: an unknown
licence, theme or update frequency goes to the dataset's extras, beside where it came from
(the harvest source, the remote id, the landing page).
"""

import hashlib
import json
import re
from dataclasses import fields
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Dataset, Department, HarvestSource, License, Theme
from catalog.vocab import UpdateFrequency
from harvesters.interfaces import RemoteDataset, RemoteResource

# A resource's content is compared apart (harvesters.sync), so these are not metadata.
CONTENT_FIELDS = frozenset({"opener", "etag", "last_modified", "content_hash", "size"})
SLUG_LIMIT = 100
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Licence ids sources commonly give for the catalog's licences (CKAN's, SPDX's).
LICENSE_ALIASES = {
    "cc-by": "cc-by-4.0",
    "cc-by-4": "cc-by-4.0",
    "ccby4.0": "cc-by-4.0",
    "cc-zero": "cc0-1.0",
    "cc0": "cc0-1.0",
    "cc0-1": "cc0-1.0",
    "odc-by": "odc-by-1.0",
    "odc-by-1": "odc-by-1.0",
}
# Text columns the dataset takes from the source as they are (cut to the column length).
TEXT_FIELDS = (
    "title",
    "title_en",
    "description",
    "description_en",
    "spatial",
    "contact_name",
    "contact_email",
    "contact_phone",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def canonical_json(value: Any) -> str:
    """One text for equal values: sorted keys, no spaces, dates as ISO text."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain
    )


def resource_metadata(resource: RemoteResource) -> dict[str, Any]:
    return {
        f.name: getattr(resource, f.name) for f in fields(resource) if f.name not in CONTENT_FIELDS
    }


def metadata_hash(remote: RemoteDataset, dataset_defaults: dict[str, Any]) -> str:
    """sha256 of the remote dataset's normalised metadata: every field but the raw payload
    and the resources' content, and the source's dataset defaults (a steward changing them
    has every dataset looked at again)."""
    metadata = {f.name: getattr(remote, f.name) for f in fields(remote)}
    del metadata["raw"]
    metadata["resources"] = [resource_metadata(r) for r in remote.resources]
    metadata["dataset_defaults"] = dataset_defaults
    return hashlib.sha256(canonical_json(metadata).encode()).hexdigest()


def identity_hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def new_dataset_slug(session: Session, source_id: str, remote: RemoteDataset) -> str:
    """A slug for the dataset of a new object: ASCII words of its English title, title or
    remote id, and a hash of the source and remote id, so the same object gets the same
    slug in every attempt (a job resumed after a crash included)."""
    words = ""
    for text in (remote.title_en, remote.title, _last_path_part(remote.remote_id)):
        words = _NOT_SLUG.sub("-", text.lower()).strip("-")
        if words:
            break
    digest = identity_hash(source_id, remote.remote_id)
    for length in (8, 12, 16, 32, 64):
        suffix = digest[:length]
        base = (words or "dataset")[: SLUG_LIMIT - length - 1].strip("-")
        slug = f"{base}-{suffix}"
        if session.scalar(select(Dataset.id).where(Dataset.slug == slug)) is None:
            return slug
    raise ValueError(f"no free slug for the remote dataset {remote.remote_id!r}")


def _last_path_part(remote_id: str) -> str:
    return remote_id.rstrip("/").rsplit("/", 1)[-1]


def _url_key(url: str) -> str:
    """A licence URL without what varies between copies of it (scheme, www, the deed or
    legal code page, a trailing slash)."""
    parts = urlsplit(url.strip().lower())
    host = parts.netloc.removeprefix("www.")
    path = re.sub(r"/(legalcode|deed\.[a-z-]+)(\.[a-z-]+)?$", "", parts.path).rstrip("/")
    return host + path


def find_license(licenses: list[License], given: str) -> str | None:
    """The catalog licence a source's licence id or URL names, or None."""
    text = given.strip()
    if not text:
        return None
    if "://" in text:
        key = _url_key(text)
        return next((row.id for row in licenses if row.url and _url_key(row.url) == key), None)
    wanted = text.lower().replace(" ", "-").replace("_", "-")
    wanted = LICENSE_ALIASES.get(wanted, wanted)
    return next((row.id for row in licenses if row.id.lower() == wanted), None)


def find_themes(themes: list[Theme], given: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The slugs of the catalog themes named by slug, name or English name, and the names
    that match none."""
    by_name: dict[str, str] = {}
    for theme in themes:
        for name in (theme.slug, theme.name, theme.name_en):
            if name:
                by_name.setdefault(name.strip().lower(), theme.slug)
    known, unknown = [], []
    for name in given:
        slug = by_name.get(name.strip().lower())
        if slug:
            known.append(slug)
        elif name.strip():
            unknown.append(name.strip())
    return known, unknown


def _clip(column: str, text: str) -> str:
    length = Dataset.__table__.columns[column].type.length
    return text.strip()[:length] if length else text.strip()


def dataset_values(
    session: Session,
    source: HarvestSource,
    department: Department,
    remote: RemoteDataset,
    *,
    creating: bool,
) -> dict[str, Any]:
    """The dataset fields (as datasets.DatasetValues names them) a remote dataset gives.
    The classification (open and share type, state) and the provider are set on creation
    only: a steward may have changed them since."""
    defaults = source.dataset_defaults
    licenses = list(session.scalars(select(License)))
    themes = list(session.scalars(select(Theme)))
    theme_slugs, unknown_themes = find_themes(themes, remote.themes)
    license_id = find_license(licenses, remote.license) or defaults.get("license_id")
    extras: dict[str, Any] = json.loads(canonical_json(dict(remote.extras)))
    # Internal addresses (a database, a folder, a bucket) must not show on public pages.
    if urlsplit(source.url).scheme in ("http", "https"):
        extras["harvest_source_url"] = source.url
    extras["harvest_source_id"] = source.id
    extras["harvest_remote_id"] = remote.remote_id
    if remote.landing_page:
        extras["landing_page"] = remote.landing_page
    if remote.modified:
        extras["harvest_remote_modified"] = remote.modified.isoformat()
    if unknown_themes:
        extras["harvest_themes"] = unknown_themes
    if remote.license and not find_license(licenses, remote.license):
        extras["harvest_license"] = remote.license
    frequency = defaults.get("update_frequency", UpdateFrequency.OTHER.value)
    if remote.update_frequency:
        try:
            frequency = UpdateFrequency.from_code_or_label(remote.update_frequency).value
        except ValueError:
            extras["harvest_update_frequency"] = remote.update_frequency
    values: dict[str, Any] = {name: _clip(name, getattr(remote, name)) for name in TEXT_FIELDS}
    issued = remote.issued
    values.update(
        themes=sorted({*defaults.get("themes", []), *theme_slugs}),
        tags=sorted({tag.strip()[:100] for tag in remote.tags if tag.strip()}),
        license=license_id,
        update_frequency=frequency,
        release_date=issued.date() if isinstance(issued, datetime) else issued,
        temporal_start=remote.temporal_start,
        temporal_end=remote.temporal_end,
        resource_code=_clip("resource_code", remote.resource_code) or None,
        version=_clip("version", remote.version) or "1.0",
        extras=extras,
    )
    if creating:
        values.update(
            open_type=defaults.get("open_type", "unconditional"),
            share_type=defaults.get("share_type", "unconditional"),
            state=defaults.get("state", "published"),
            provider=department.name,
            provider_code=department.code,
        )
    return values
