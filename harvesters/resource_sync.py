"""One remote dataset's resources in a harvest: which files changed, copying the changed
ones into the object store as new versions, loading tabular ones into the record store,
and writing the resource rows (harvesters.sync calls these, in that order).

A resource is unchanged, without reading it, when the source states the same content
hash, ETag or Last-Modified as last time; else its URL is fetched with a conditional GET on
the server's validators of last time (a 304 means unchanged), or its opener read, and the
bytes compared by sha256. Only different bytes make a new version: old versions keep their
objects and ResourceVersion rows.
"""

import logging
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.backends import Backends
from catalog.interfaces import StoredObject
from catalog.models import (
    Dataset,
    Department,
    HarvestError,
    HarvestJob,
    HarvestSource,
    Resource,
    ResourceVersion,
)
from catalog.services.resources import object_key
from harvesters.interfaces import Fetcher, RemoteDataset, RemoteResource
from harvesters.tabular.model import ignored_sheets_note
from harvesters.transfer import (
    NotModified,
    Records,
    Spooled,
    TooLarge,
    field_dicts,
    file_name_of,
    media_type_of,
    spool,
)

log = logging.getLogger(__name__)
# Resource ids of new resources derive from the object, the resource and the job, so an
# attempt resumed after a crash writes the same object keys again instead of leaving the
# crashed attempt's files behind under other names.
RESOURCE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "opendata-portal:harvest-resource")


@dataclass(frozen=True)
class KeyOwner:
    """What ``object_key`` reads of a dataset, for one not written yet."""

    slug: str
    department: Department


@dataclass
class TakenResource:
    """One remote resource after its file was looked at: unchanged, a link, or a new
    version stored in this attempt."""

    remote: RemoteResource
    resource_id: str
    row: Resource | None
    file_name: str
    memory: dict[str, Any]  # what HarvestObject.resources will remember of it
    link: str | None = None
    stored: StoredObject | None = None
    version: int = 1
    media_type: str = ""
    spooled: Spooled | None = None
    records: Records | None = None

    @property
    def changed(self) -> bool:
        if self.stored is not None:
            return True
        if self.link is not None:
            return self.row is None or self.row.url != self.link
        return False


@dataclass
class Attempt:
    """What an attempt put outside the database: taken back if the object fails."""

    backends: Backends
    keys: list[str] = field(default_factory=list)
    record_tables: list[str] = field(default_factory=list)

    def undo(self) -> None:
        for key in self.keys:
            try:
                self.backends.object_store.delete(key)
            except Exception:  # the object's own failure is what gets reported
                log.exception("could not remove %s after a failed import", key)
        for resource_id in self.record_tables:
            try:
                if self.backends.record_store.exists(resource_id):
                    self.backends.record_store.drop(resource_id)
            except Exception:  # as above
                log.exception("could not drop the records of %s after a failed import", resource_id)


@dataclass
class ObjectImport:
    """One remote dataset being imported, and what is known of it."""

    session: Session
    attempt: Attempt
    stack: ExitStack
    source: HarvestSource
    job: HarvestJob
    remote: RemoteDataset
    fetcher: Fetcher
    max_file_bytes: int
    owner: Dataset | KeyOwner
    remembered: dict[str, Any]
    rows: dict[str, Resource]


def unique_resources(resources: tuple[RemoteResource, ...]) -> tuple[RemoteResource, ...]:
    seen = set()
    for resource in resources:
        if resource.remote_id in seen:
            raise ValueError(f"two resources share the remote id {resource.remote_id!r}")
        seen.add(resource.remote_id)
    return resources


def _resource_id(current: ObjectImport, resource: RemoteResource) -> tuple[str, Resource | None]:
    """The resource's row when an earlier run made it, else the id of a new one."""
    memory = current.remembered.get(resource.remote_id) or {}
    row = current.rows.get(memory.get("resource_id"))
    if row is not None:
        return row.id, row
    parts = (current.source.id, current.remote.remote_id, resource.remote_id, current.job.id)
    return str(uuid.uuid5(RESOURCE_NAMESPACE, "\n".join(parts))), None


def link_resource(current: ObjectImport, resource: RemoteResource, why: str) -> TakenResource:
    url = (resource.url or "").strip()
    # Only web addresses: a file:// or s3:// one would show internal paths on public pages.
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"the resource {resource.name!r} {why}, and has no http(s) URL to link to")
    resource_id, row = _resource_id(current, resource)
    return TakenResource(
        remote=resource,
        resource_id=resource_id,
        row=row,
        file_name=file_name_of(resource),
        memory={"resource_id": resource_id, "link": True},
        link=url[:2000],
    )


def _stated_same(resource: RemoteResource, memory: dict) -> bool:
    """Whether what the source states of the content (hash, else ETag, else Last-Modified)
    equals what it stated last time, so the file need not be read again."""
    if resource.content_hash:
        return memory.get("content_hash") == resource.content_hash
    if resource.etag:
        return memory.get("stated_etag") == resource.etag
    if resource.last_modified:
        return memory.get("stated_last_modified") == resource.last_modified
    return False


def take_resource(current: ObjectImport, resource: RemoteResource) -> TakenResource:
    """Look at one resource's file: unchanged, too large (kept as a link), or a new version
    stored in the object store."""
    too_large = f"is larger than the limit of {current.max_file_bytes} bytes"
    if resource.size is not None and resource.size > current.max_file_bytes:
        return link_resource(current, resource, too_large)
    resource_id, row = _resource_id(current, resource)
    memory = current.remembered.get(resource.remote_id) or {}
    stored_before = row is not None and row.storage_key is not None
    file_name = file_name_of(resource)
    taken = TakenResource(resource, resource_id, row, file_name, memory=dict(memory))
    if stored_before and _stated_same(resource, memory):
        return taken
    # A conditional GET only when the source states nothing of the content that differs.
    validators = memory if stored_before and not resource.content_hash else {}
    try:
        spooled = spool(
            resource,
            current.fetcher,
            current.stack,
            current.max_file_bytes,
            etag=validators.get("etag"),
            last_modified=validators.get("last_modified"),
        )
    except NotModified:
        return taken
    except TooLarge:
        return link_resource(current, resource, too_large)
    taken.memory = {
        "resource_id": resource_id,
        "sha256": spooled.sha256,
        "size": spooled.size,
        "etag": spooled.etag,
        "last_modified": spooled.last_modified,
        "stated_etag": resource.etag,
        "stated_last_modified": resource.last_modified,
        "content_hash": resource.content_hash,
    }
    if stored_before and row.sha256 == spooled.sha256:
        return taken
    taken.version = _next_version(current.session, row)
    taken.media_type = media_type_of(resource, file_name, spooled.content_type)
    key = object_key(current.owner, resource_id, taken.version, file_name)
    spooled.file.seek(0)
    # Noted before the upload: a put that fails half way may still leave a part behind.
    current.attempt.keys.append(key)
    taken.stored = current.attempt.backends.object_store.put(key, spooled.file, taken.media_type)
    taken.spooled = spooled
    return taken


def _next_version(session: Session, row: Resource | None) -> int:
    if row is None:
        return 1
    latest = session.scalar(
        select(func.max(ResourceVersion.version)).where(ResourceVersion.resource_id == row.id)
    )
    return max(latest or 0, row.version if row.storage_key else 0) + 1


def drop_stale_records(attempt: Attempt, taken: list[TakenResource], gone: set[str]) -> None:
    """Drop the records of resources that go, or whose new version is no table (or is a
    link), before the database write (see the module docstring)."""
    stale = set(gone)
    for item in taken:
        loaded = item.records is not None and item.records.report is not None
        if item.row is not None and item.changed and not loaded:
            stale.add(item.resource_id)
    store = attempt.backends.record_store
    for resource_id in sorted(stale):
        if store.exists(resource_id):
            store.drop(resource_id)


def write_resources(
    session: Session, dataset: Dataset, taken: list[TakenResource], gone: set[str], now: datetime
) -> None:
    """Set the dataset's resource rows from the remote resources, in the source's order (a
    resource a steward added by hand keeps its place after them), remove those gone from
    the source, and add a ResourceVersion for each new version. Flushes."""
    versions = []
    for row in [row for row in dataset.resources if row.id in gone]:
        # Its stored versions stay in the object store; the rows go with the resource.
        dataset.resources.remove(row)
    others = [row for row in dataset.resources if row.id not in {t.resource_id for t in taken}]
    for position, item in enumerate(taken):
        row = item.row
        if row is None:
            row = Resource(id=item.resource_id, created_at=now)
            dataset.resources.append(row)
        remote = item.remote
        row.position = position
        row.name = (remote.name.strip() or item.file_name)[:500]
        row.description = remote.description
        row.format = remote.format.strip().upper()[:50]
        if item.link is not None:
            row.url, row.storage_key, row.sha256 = item.link, None, None
            row.size = remote.size
            row.media_type = remote.media_type[:200]
            row.fields, row.row_count = [], None
        elif item.stored is not None:
            stored = item.stored
            row.url, row.storage_key = None, stored.key
            row.size, row.sha256, row.version = stored.size, stored.sha256, item.version
            row.media_type = item.media_type[:200]
            report = item.records.report if item.records is not None else None
            row.fields = field_dicts(report) if report is not None else []
            row.row_count = report.rows_loaded if report is not None else None
            versions.append(
                ResourceVersion(
                    resource_id=item.resource_id,
                    version=item.version,
                    storage_key=stored.key,
                    size=stored.size,
                    sha256=stored.sha256,
                    media_type=row.media_type,
                )
            )
        if item.changed:
            row.modified_at = now
    for offset, row in enumerate(others, start=len(taken)):
        row.position = offset
    # The versions name their resource by id only, without a relationship to order the
    # inserts by: the resources are written first.
    session.flush()
    session.add_all(versions)


def row_errors(job_id: str, remote_id: str, item: TakenResource) -> list[HarvestError]:
    """The job report's lines for a file loaded with bad rows, or not loaded at all."""
    if item.records is None:
        return []
    name = item.remote.name or item.file_name

    def error(message: str, payload: str = "") -> HarvestError:
        return HarvestError(
            job_id=job_id,
            remote_id=remote_id[:1000],
            stage="import",
            message=message,
            payload=payload,
        )

    report = item.records.report
    if report is None:
        return [
            error(f"{name}: stored as a file but not loaded as records: {item.records.refusal}")
        ]
    lines = []
    if report.sheets_ignored:
        note = ignored_sheets_note(report.sheet or "", report.sheets_ignored)
        lines.append(error(f"{name}: {note}"))
    if report.rows_failed:
        lines.append(
            error(
                f"{name}: {report.rows_failed} rows did not fit their fields "
                f"({report.values_failed} values); rows with a bad value are loaded with it "
                f"empty, ragged rows are left out. The first {len(report.failures)} follow."
            )
        )
        for failure in report.failures:
            where = f"line {failure.line}" + (f", field {failure.field}" if failure.field else "")
            lines.append(error(f"{name}: {where}: {failure.message}", failure.raw))
    if report.lines_skipped:
        # Titles above the header and notes below the data are not records, but a steward
        # must be able to see that they were left out (a short data row can look like one).
        lines.append(
            error(
                f"{name}: {report.lines_skipped} lines were not loaded as records (before the "
                f"header, or notes after the data). The first {len(report.skipped_lines)} "
                "follow."
            )
        )
        for skipped in report.skipped_lines:
            lines.append(error(f"{name}: line {skipped.line}: {skipped.reason}", skipped.text))
    return lines
