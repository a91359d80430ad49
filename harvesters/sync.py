"""The import step every source type shares: one remote dataset into the catalog, the object
store and the record store, incrementally and one object at a time.

The ``HarvestObject`` row (source, remote id) is the object's identity: it is committed in
the same transaction as the dataset, so a run resumed after a crash finds what the crashed
one finished and never makes a second dataset. It remembers a hash of the metadata and,
per resource, the content's sha256 and the validators the source or server gave (stated
ETag, Last-Modified or content hash; the server's ETag and Last-Modified for a conditional
GET). An object whose metadata hash and every resource are unchanged is not written at all:
no dataset write, upload, audit event or search outbox row.

One object's import is all or nothing. Files are fetched, stored and loaded into the
record store first, while the session holds no write transaction (on SQLite the record
store writes the same database file); the dataset, its resources, their versions, the
harvest object, the bad-row reports and the job's count are then committed together. When
anything fails, the transaction is rolled back, the objects stored and record tables made
in this attempt are removed, and the failure is recorded with the raw payload. Records
replaced for an existing resource cannot be taken back; its object then stays remembered
as before, so the next run imports it again.
"""

import logging
from contextlib import ExitStack
from enum import StrEnum

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from catalog.backends import Backends
from catalog.errors import CatalogError, Forbidden, InvalidInput
from catalog.models import (
    Dataset,
    Department,
    HarvestError,
    HarvestJob,
    HarvestObject,
    HarvestSource,
    utcnow,
)
from catalog.policy import Action, Actor, can, can_create_dataset
from catalog.services.audit import dataset_snapshot, record_dataset_change
from catalog.services.datasets import apply_values as apply_dataset_values
from catalog.services.datasets import dataset_load_options
from catalog.vocab import DatasetState, Role
from harvesters.interfaces import Fetcher, HarvestSourceError, RemoteDataset
from harvesters.mapping import dataset_values, metadata_hash, new_dataset_slug
from harvesters.resource_sync import (
    Attempt,
    KeyOwner,
    ObjectImport,
    drop_stale_records,
    link_resource,
    row_errors,
    take_resource,
    unique_resources,
    write_resources,
)
from harvesters.transfer import is_tabular, load_records

log = logging.getLogger(__name__)


# An object's harvest object and dataset with its resources, in one statement built once;
# the dataset's other relationships load only when read. An unchanged object, most of them
# on most runs, then reads nothing more (bench/harvest_ckan.py measures it).
_REMEMBERED = (
    select(HarvestObject, Dataset)
    .outerjoin(Dataset, Dataset.id == HarvestObject.dataset_id)
    .where(
        HarvestObject.source_id == bindparam("source_id"),
        HarvestObject.remote_id == bindparam("remote_id"),
    )
    .options(joinedload(Dataset.resources))
)


class Outcome(StrEnum):
    """What ``sync_dataset`` did with one remote dataset."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


def harvest_actor(source: HarvestSource) -> Actor:
    """Who a harvest acts as: an editor of its source's department, and nothing more."""
    return Actor(name=f"harvest:{source.name}"[:100], roles={source.department_id: Role.EDITOR})


def sync_dataset(
    session: Session,
    backends: Backends,
    source: HarvestSource,
    job: HarvestJob,
    remote: RemoteDataset,
    fetcher: Fetcher,
    *,
    max_file_bytes: int,
) -> Outcome:
    """Import one remote dataset of ``source`` for ``job``; see the module docstring.

    Resource files (``store`` true) are copied into the object store as a new version when
    their content changed, and tabular ones loaded into the record store; a file larger than
    ``max_file_bytes`` is kept as a link to its http(s) URL. The job's count of the outcome
    is committed with the object; UNCHANGED writes nothing, so the caller counts those.
    ``source`` and ``job`` may belong to another session: only their columns are read.

    A failure is recorded as a HarvestError (stage "fetch" when the source could not be
    read, else "import") and returns FAILED; exceptions that stop the process
    (KeyboardInterrupt, SystemExit) still take back this attempt's files and propagate."""
    attempt = Attempt(backends)
    try:
        with ExitStack() as stack:
            outcome = _sync(session, attempt, stack, source, job, remote, fetcher, max_file_bytes)
    except Exception as error:  # noqa: BLE001 - reported in the job report; the job goes on
        session.rollback()
        attempt.undo()
        stage = "fetch" if isinstance(error, HarvestSourceError) else "import"
        log.info("harvest job %s: %s failed at %s: %s", job.id, remote.remote_id, stage, error)
        record_failure(session, job.id, remote.remote_id, stage, describe(error), remote.raw)
        return Outcome.FAILED
    except BaseException:
        session.rollback()
        attempt.undo()
        raise
    return outcome


def record_failure(
    session: Session, job_id: str, remote_id: str, stage: str, message: str, payload: str
) -> None:
    """Commit a HarvestError for an object the job could not take, with its failed count."""
    session.add(
        HarvestError(
            job_id=job_id, remote_id=remote_id[:1000], stage=stage, message=message, payload=payload
        )
    )
    _count(session, job_id, "failed")
    session.commit()


def describe(error: Exception) -> str:
    """An error as a steward reads it in a job report."""
    if isinstance(error, InvalidInput):
        details = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in error.fields.items())
        return f"{error.message} {details}"
    if isinstance(error, CatalogError | HarvestSourceError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _count(session: Session, job_id: str, count: str) -> None:
    """Add one to a count of the job (created, updated, withdrawn or failed), in the
    transaction of the change it counts."""
    column = getattr(HarvestJob, count)
    session.execute(
        update(HarvestJob)
        .where(HarvestJob.id == job_id)
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )


def _sync(
    session: Session,
    attempt: Attempt,
    stack: ExitStack,
    source: HarvestSource,
    job: HarvestJob,
    remote: RemoteDataset,
    fetcher: Fetcher,
    max_file_bytes: int,
) -> Outcome:
    found = (
        session.execute(_REMEMBERED, {"source_id": source.id, "remote_id": remote.remote_id})
        .unique()
        .one_or_none()
    )
    harvest_object, dataset = found if found is not None else (None, None)
    actor = harvest_actor(source)
    department = None  # the source's, read only to make a dataset: one made keeps its own
    if dataset is None:
        department = session.get(Department, source.department_id)
        if not can_create_dataset(actor, department.id):
            raise Forbidden("The harvest source may not create datasets in its department.")
    elif not can(actor, Action.EDIT, dataset):
        raise Forbidden(
            "The dataset was moved to another department; this source no longer changes it."
        )
    remembered = harvest_object.resources if harvest_object is not None else {}
    metadata = metadata_hash(remote, source.dataset_defaults)
    current = ObjectImport(
        session=session,
        attempt=attempt,
        stack=stack,
        source=source,
        job=job,
        remote=remote,
        fetcher=fetcher,
        max_file_bytes=max_file_bytes,
        owner=dataset or KeyOwner(new_dataset_slug(session, source.id, remote), department),
        remembered=remembered,
        rows={row.id: row for row in dataset.resources} if dataset is not None else {},
    )
    harvested = {memory["resource_id"] for memory in remembered.values()} & current.rows.keys()

    # Files first, with no write transaction open (see the module docstring).
    taken = [
        take_resource(current, resource)
        if resource.store
        else link_resource(current, resource, "is a link")
        for resource in unique_resources(remote.resources)
    ]
    for item in taken:
        if item.stored is not None and is_tabular(item.remote, item.file_name):
            if item.row is None:
                attempt.record_tables.append(item.resource_id)
            item.records = load_records(
                item.spooled,
                attempt.backends.record_store,
                item.resource_id,
                file_name=item.file_name,
                media_type=item.media_type,
                earlier_fields=item.row.fields if item.row is not None else [],
            )
    memory = {item.remote.remote_id: item.memory for item in taken}
    kept = {item.resource_id for item in taken}
    if (
        harvest_object is not None
        and dataset is not None
        and harvest_object.withdrawn_at is None
        and harvest_object.metadata_hash == metadata
        and harvested == kept
        and not any(item.changed for item in taken)
    ):
        if memory != remembered:  # new validators for the same bytes
            harvest_object.resources = memory
            session.commit()
        return Outcome.UNCHANGED
    gone = harvested - kept
    drop_stale_records(attempt, taken, gone)

    creating = dataset is None
    values = dataset_values(
        session, source, department or dataset.department, remote, creating=creating
    )
    if creating:
        values["slug"] = current.owner.slug
        # By id: through the relationship the backref would queue the dataset on the
        # department before it is complete.
        dataset = Dataset(department_id=department.id)
        before = None
    else:
        before = dataset_snapshot(dataset)
        if harvest_object.withdrawn_at is not None:
            # It was withdrawn because it had gone from the source; it is back.
            values["state"] = source.dataset_defaults.get("state", DatasetState.PUBLISHED.value)
    apply_dataset_values(session, dataset, values)
    if creating:
        session.add(dataset)
    now = utcnow()
    write_resources(session, dataset, taken, gone, now)
    after = dataset_snapshot(dataset)
    if creating:
        outcome = Outcome.CREATED
        record_dataset_change(session, actor, "dataset.create", dataset.id, None, after)
    elif after != before:
        outcome = Outcome.UPDATED
        dataset.revision += 1
        dataset.modified_at = now
        record_dataset_change(session, actor, "dataset.update", dataset.id, before, after)
    else:
        outcome = Outcome.UNCHANGED
    if harvest_object is None:
        harvest_object = HarvestObject(
            source_id=source.id, remote_id=remote.remote_id, first_seen_at=now
        )
        session.add(harvest_object)
    harvest_object.dataset_id = dataset.id
    harvest_object.metadata_hash = metadata
    harvest_object.resources = memory
    harvest_object.withdrawn_at = None
    if outcome is not Outcome.UNCHANGED:
        harvest_object.last_job_id = job.id
        harvest_object.last_seen_at = now
        _count(session, job.id, outcome.value)
        for item in taken:
            session.add_all(row_errors(job.id, remote.remote_id, item))
    session.commit()
    return outcome


def withdraw_missing(
    session: Session,
    backends: Backends,
    source: HarvestSource,
    job: HarvestJob,
    seen_remote_ids: set[str],
) -> int:
    """After a complete gather: the source's objects not seen in it are gone from the source.
    With ``on_missing`` "withdraw" their datasets are withdrawn (audit event and search
    outbox row, as a steward's withdrawal) and the objects marked withdrawn; with "keep"
    nothing changes. Nothing is deleted, and an object seen again later is republished.
    Each withdrawal commits with the job's count; returns how many datasets were withdrawn.
    ``backends`` is the same as for ``sync_dataset``; a withdrawn dataset keeps its files
    and records, for its department."""
    if source.on_missing != "withdraw":
        return 0
    objects = session.execute(
        select(HarvestObject.id, HarvestObject.remote_id).where(
            HarvestObject.source_id == source.id, HarvestObject.withdrawn_at.is_(None)
        )
    ).all()
    actor = harvest_actor(source)
    withdrawn = 0
    for object_id, remote_id in objects:
        if remote_id in seen_remote_ids:
            continue
        harvest_object = session.get(HarvestObject, object_id)
        dataset = None
        if harvest_object.dataset_id is not None:
            dataset = session.scalar(
                select(Dataset)
                .where(Dataset.id == harvest_object.dataset_id)
                .options(*dataset_load_options())
            )
        if dataset is not None and not can(actor, Action.DELETE, dataset):
            log.info("harvest job %s: %s moved to another department", job.id, remote_id)
            continue
        now = utcnow()
        harvest_object.withdrawn_at = now
        if dataset is not None and dataset.state != DatasetState.WITHDRAWN:
            before = dataset_snapshot(dataset)
            dataset.state = DatasetState.WITHDRAWN.value
            dataset.revision += 1
            dataset.modified_at = now
            record_dataset_change(
                session, actor, "dataset.withdraw", dataset.id, before, dataset_snapshot(dataset)
            )
            _count(session, job.id, "withdrawn")
            withdrawn += 1
        session.commit()
    return withdrawn
