"""Downloads of resource files: which stored file a caller may have, its bytes (whole or a
range) or a short-lived link straight to the store, and the counting and auditing of each.

The policy decides as on every read: a hidden dataset is NotFound, a conditional one
Forbidden with how to apply. A file with sensitive fields reaches those outside the owning
department only as its records, masked (``ResourceFile.masked_only``), never as the
original bytes.

Counting: a download counts once, when its bytes start to flow from byte 0 (a whole file,
or the first range of a resumable download); the later ranges of a resumed download, HEAD
requests and 304 answers do not count. Counts are per resource and UTC day, added by an
upsert (INSERT … ON CONFLICT DO UPDATE SET count = count + 1) that concurrent requests
cannot lose, on SQLite and PostgreSQL alike. Record exports count as downloads of their
resource too.

Audit: every request that is sent bytes, or a link to them, writes a ``resource.download``
event with the actor (no actor for anonymous callers), the version and the range. Client
addresses are not recorded at all, neither raw nor hashed: a hash of an IPv4 address is
undone by trying them all, and the audit needs no personal data to say what was taken.

Search: the catalog index's ``downloads`` figure (a dataset's total, behind sort=downloads)
is refreshed through the search outbox, yet not on every download: only when a resource's
count for the day reaches a power of two (1, 2, 4, 8, …). A resource downloaded n times a
day writes about log2(n) outbox rows, and the index trails the day's count by at most half;
any later change of the dataset brings it up to date.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from catalog.errors import Forbidden, NotFound
from catalog.interfaces import ObjectStore
from catalog.models import (
    Dataset,
    DownloadCount,
    Resource,
    ResourceVersion,
    SearchOutbox,
    utcnow,
)
from catalog.policy import Action, Actor, can, require
from catalog.services.audit import record_event
from catalog.services.datasets import get_dataset_resource

MASKED_ONLY = (
    "This file holds sensitive fields, so only the owning department may download the "
    "original; export its records instead, masked. 该文件含敏感字段，仅数据提供部门可下载原件，"
    "请使用脱敏的记录导出。"
)
# Each backend's upsert: the catalog runs on SQLite or PostgreSQL.
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class ResourceFile:
    """One stored version of a resource's file, as a download serves it."""

    dataset: Dataset
    resource: Resource
    version: int
    current: bool  # the resource's current version
    storage_key: str
    # Both known for every file stored since versions are kept; None only for an older
    # file whose size or checksum was never recorded.
    size: int | None
    sha256: str | None
    media_type: str
    modified_at: datetime  # when this version was stored
    file_name: str  # what the user's browser saves it as
    # The caller may have only the records, masked: the file holds sensitive fields.
    masked_only: bool


def extension_of(file_format: str) -> str:
    """The file name extension of a resource format: CSV -> csv, GeoJSON -> geojson; none
    for a format that is not one plain word."""
    return file_format.lower() if file_format.isalnum() and len(file_format) <= 10 else ""


def _file_name(resource: Resource, version: int, current: bool) -> str:
    extension = extension_of(resource.format)
    stem = resource.name
    if extension and stem.lower().endswith(f".{extension}"):
        stem = stem[: -len(extension) - 1]
    if not current:
        stem = f"{stem}_v{version}"
    return f"{stem}.{extension}" if extension else stem


def resource_file(
    session: Session,
    actor: Actor,
    dataset_slug: str,
    resource_id: str,
    version: int | None = None,
) -> ResourceFile:
    """The stored file of a resource, its current version or an earlier one, for those who
    may fetch the dataset's data. NotFound for a link, an unknown version or a hidden
    dataset; Forbidden, with how to apply, for conditional data."""
    dataset, resource = get_dataset_resource(session, actor, dataset_slug, resource_id)
    require(actor, Action.READ_DATA, dataset)
    if resource.storage_key is None:
        raise NotFound("This resource is a link to an outside address, not a stored file.")
    wanted = resource.version if version is None else version
    stored = session.get(ResourceVersion, (resource.id, wanted))
    if stored is None and wanted != resource.version:
        raise NotFound(f"This resource has no version {wanted}.")
    current = wanted == resource.version
    # The sensitive flags describe the current file only. An earlier version's columns are
    # not known, so to those outside the owning department an earlier table is refused.
    may_hold_sensitive = (
        any(f.get("sensitive") for f in resource.fields)
        if current
        else bool(resource.fields) or _looks_tabular(stored, resource)
    )
    masked_only = may_hold_sensitive and not can(actor, Action.READ_SENSITIVE, dataset)
    if stored is None:
        # A file stored before versions were kept: the resource row holds it.
        key, size, sha256 = resource.storage_key, resource.size, resource.sha256
        media_type, modified_at = resource.media_type, resource.modified_at
    else:
        key, size, sha256 = stored.storage_key, stored.size, stored.sha256
        media_type, modified_at = stored.media_type or resource.media_type, stored.created_at
    return ResourceFile(
        dataset=dataset,
        resource=resource,
        version=wanted,
        current=current,
        storage_key=key,
        size=size,
        sha256=sha256,
        media_type=media_type or "application/octet-stream",
        modified_at=modified_at,
        file_name=_file_name(resource, wanted, current),
        masked_only=masked_only,
    )


TABLE_MEDIA_TYPES = ("csv", "excel", "spreadsheet", "json", "geo")
TABLE_SUFFIXES = (".csv", ".xlsx", ".xls", ".json", ".geojson", ".jsonl")


def _looks_tabular(stored: ResourceVersion | None, resource: Resource) -> bool:
    media_type = ((stored.media_type if stored else "") or resource.media_type).lower()
    key = (stored.storage_key if stored else resource.storage_key or "").lower()
    return any(word in media_type for word in TABLE_MEDIA_TYPES) or key.endswith(TABLE_SUFFIXES)


def resource_versions(
    session: Session, actor: Actor, dataset_slug: str, resource_id: str
) -> tuple[Resource, list[ResourceVersion]]:
    """Every stored version of a resource's file, newest first. Metadata: whoever sees the
    dataset sees them; downloading one asks the policy as ``resource_file`` does."""
    _dataset, resource = get_dataset_resource(session, actor, dataset_slug, resource_id)
    versions = session.scalars(
        select(ResourceVersion)
        .where(ResourceVersion.resource_id == resource.id)
        .order_by(ResourceVersion.version.desc())
    )
    return resource, list(versions)


def open_resource_file(
    session: Session,
    actor: Actor,
    object_store: ObjectStore,
    file: ResourceFile,
    start: int | None = None,
    end: int | None = None,
) -> Iterator[bytes]:
    """The file's bytes from ``start`` up to, not including, ``end`` (the object store's
    half-open range), once the download is counted and audited. NotFound when the store
    has lost the object; nothing is counted then."""
    if file.masked_only:
        raise Forbidden(MASKED_ONLY)
    try:
        chunks = object_store.open(file.storage_key, start, end)
    except KeyError as error:
        raise NotFound("The file of this resource is missing from the store.") from error
    try:
        _record_download(session, actor, file, start, end, "portal")
    except BaseException:
        _close(chunks)
        raise
    return chunks


def presigned_resource_file(
    session: Session,
    actor: Actor,
    object_store: ObjectStore,
    file: ResourceFile,
    expires_seconds: int,
    start: int | None = None,
) -> str | None:
    """A link that fetches the file straight from the store for ``expires_seconds``, saved
    under its Chinese name; counted (when the caller's range, if any, starts at ``start``
    0) and audited before it is handed out. None where the store has no such links."""
    if file.masked_only:
        raise Forbidden(MASKED_ONLY)
    url = object_store.presigned_url(
        file.storage_key, expires_seconds, file.file_name, file.media_type
    )
    if url is not None:
        _record_download(session, actor, file, start, None, "presigned")
    return url


def count_download(session: Session, resource_id: str, dataset_id: str) -> int:
    """Add one to the resource's downloads today (UTC) and return today's count; on the
    day's 1st, 2nd, 4th, 8th … download, ask the search index for the dataset's new total.
    The caller commits."""
    table = DownloadCount.__table__
    count_column = table.c["count"]
    statement = (
        _INSERTS[session.get_bind().dialect.name](table)
        .values(resource_id=resource_id, day=utcnow().date(), count=1)
        .on_conflict_do_update(
            index_elements=[table.c.resource_id, table.c.day],
            set_={"count": count_column + 1},
        )
        .returning(count_column)
    )
    count = session.execute(statement).scalar_one()
    if count & (count - 1) == 0:
        session.add(SearchOutbox(dataset_id=dataset_id))
    return count


def _record_download(
    session: Session,
    actor: Actor,
    file: ResourceFile,
    start: int | None,
    end: int | None,
    via: str,
) -> None:
    after: dict = {"dataset": file.dataset.slug, "version": file.version, "via": via}
    if start or end is not None:
        after["range"] = [start or 0, end]  # half-open, in bytes
    record_event(session, actor, "resource.download", "resource", file.resource.id, None, after)
    if not start:
        count_download(session, file.resource.id, file.dataset.id)
    session.commit()


def _close(chunks: Iterator[bytes]) -> None:
    # Lets go of the open file or S3 body now, not whenever the iterator is collected.
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
