"""Record exports too big to stream in one request: run as jobs that write the file to the
object store, and hand it to their requester.

An export streams directly while its matching records number at most the
``export_direct_max_rows`` setting; beyond, or when the caller asks, ``plan_export`` says
it runs as a job. ``request_export_job`` commits an ``export_jobs`` row, and only then is a
message sent to the queue with the job's id; ``run_export_job`` claims the row and writes
the file through ``export_to_store``, the same code path (policy, masking, counting and
``records.export`` audit event) as a direct export.

The job runs as its requester, rebuilt from ``requested_by_id`` when it starts: with the
memberships and grants alive then, and read access only, so an export never holds more
than its requester could read. An anonymous caller may ask for a big export of open data
too; its job has no owner, and holding its id (a random UUID) is the only key to it. A
user's job is theirs alone: anyone else, sysadmins included, is told it does not exist.

The file is kept for ``EXPORT_LIFETIME`` after it is written; ``expire_export_jobs`` (a
periodic task) deletes the files of older ones, and fails jobs that never finished.
"""

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from catalog.backends import Backends
from catalog.errors import CatalogError, Conflict, Forbidden, InvalidInput, NotFound
from catalog.exports import FORMATS, ExportOptions, check_exportable
from catalog.interfaces import (
    ObjectStore,
    RecordBatch,
    RecordFilter,
    RecordQuery,
    RecordRows,
    RecordStore,
)
from catalog.models import ExportJob, Resource, User, utcnow
from catalog.policy import Action, Actor, require
from catalog.services.audit import record_event
from catalog.services.datasets import get_dataset_resource
from catalog.services.records import RecordsView, export_to_store, open_records, query_records
from catalog.services.users import actor_for_user
from catalog.storage.disposition import with_extension

log = logging.getLogger(__name__)

# How long a finished export's file stays: a day to fetch it, then the store is freed.
EXPORT_LIFETIME = timedelta(hours=24)
# A job still queued or running this long after it was asked for lost its worker.
JOB_DEADLINE = timedelta(hours=24)
# Jobs waiting or running at once: per user, and for all anonymous callers together (the
# rate limit bounds each address; this bounds what anonymous callers can pile on workers).
MAX_ACTIVE_JOBS_PER_USER = 3
MAX_ACTIVE_ANONYMOUS_JOBS = 20
# Rows between two progress updates of a running job: one small UPDATE every few seconds.
PROGRESS_EVERY = 10_000
ACTIVE = ("queued", "running")
FAILED_UNEXPECTEDLY = "The export failed; please ask for it again. 导出失败，请重新申请导出。"
NEVER_FINISHED = (
    "The export did not finish within a day (its worker stopped); please ask for it again. "
    "导出未能在一天内完成，请重新申请导出。"
)


@dataclass(frozen=True)
class ExportPlan:
    """How an export runs: streamed now, or as a job."""

    view: RecordsView
    rows: int  # the matching records (a lower bound when rows_is_lower_bound)
    rows_is_lower_bound: bool
    as_job: bool


@dataclass(frozen=True)
class ExportFile:
    """The stored file of a finished export job, as a download serves it."""

    job: ExportJob
    resource: Resource
    storage_key: str
    size: int
    sha256: str
    media_type: str
    modified_at: datetime
    file_name: str


def plan_export(
    session: Session,
    record_store: RecordStore,
    actor: Actor,
    dataset_slug: str,
    resource_id: str,
    query: RecordQuery,
    *,
    export_format: str,
    max_direct_rows: int,
    as_job: bool | None,
) -> ExportPlan:
    """Whether an export streams now or runs as a job, once the policy, the query and the
    format are checked (so a job is never queued to fail on them).

    It runs as a job when the matching records number more than ``max_direct_rows``, or
    when the record store can only say they are many (a filtered count stops at a lower
    bound), or when the caller asks (``as_job`` True). ``as_job`` False with too many
    records is InvalidInput naming the limit."""
    view, page = query_records(
        session,
        record_store,
        actor,
        dataset_slug,
        resource_id,
        replace(query, limit=1, cursor=None, fields=()),
    )
    check_exportable(export_format, view.fields, view.masked)
    too_many = page.total > max_direct_rows or page.total_is_estimate
    if as_job is False and too_many:
        counted = f"at least {page.total}" if page.total_is_estimate else str(page.total)
        raise InvalidInput(
            {
                "async": [
                    f"This export holds {counted} records, more than the {max_direct_rows} "
                    "that stream directly: leave out async=false to have it written as a "
                    f"file, or narrow the query. 记录数超过直接导出上限（{max_direct_rows} 条），"
                    "请去掉 async=false 以后台生成文件，或缩小查询范围。"
                ]
            }
        )
    chosen = too_many if as_job is None else as_job
    return ExportPlan(view, page.total, page.total_is_estimate, chosen)


def query_json(query: RecordQuery) -> dict:
    """The query's text, filters and sort as JSON, as a job keeps them (and as it reads
    them back from the database, so that two equal queries compare equal)."""
    plain = {
        "q": query.q,
        "filters": [asdict(f) for f in query.filters],
        "sort": [list(order) for order in query.sort],
    }
    return json.loads(json.dumps(plain, ensure_ascii=False, default=str))


def query_from_json(stored: dict) -> RecordQuery:
    filters = tuple(
        RecordFilter(**{**given, "values": tuple(given.get("values") or ())})
        for given in stored.get("filters", [])
    )
    sort = tuple((name, direction) for name, direction in stored.get("sort", []))
    return RecordQuery(q=stored.get("q", ""), filters=filters, sort=sort)


def request_export_job(
    session: Session,
    actor: Actor,
    plan: ExportPlan,
    query: RecordQuery,
    *,
    export_format: str,
    options: ExportOptions,
) -> tuple[ExportJob, bool]:
    """Record a queued export job for the caller of a planned export, and commit; returns
    the job and whether it is new, for the caller to send a new one to the queue.

    The same export asked again while the first is queued or running gets that job back.
    Conflict when the caller already has MAX_ACTIVE_JOBS_PER_USER jobs waiting or running
    (anonymous callers together MAX_ACTIVE_ANONYMOUS_JOBS)."""
    stored_query, stored_options = query_json(query), asdict(options)
    requester = ExportJob.requested_by_id
    mine = requester.is_(None) if actor.user_id is None else requester == actor.user_id
    active = session.scalars(select(ExportJob).where(mine, ExportJob.status.in_(ACTIVE))).all()
    for job in active:
        same = (job.resource_id, job.format, job.query, job.options)
        if same == (plan.view.resource.id, export_format, stored_query, stored_options):
            return job, False
    limit = MAX_ACTIVE_JOBS_PER_USER if actor.user_id else MAX_ACTIVE_ANONYMOUS_JOBS
    if len(active) >= limit and actor.user_id:
        raise Conflict(
            f"{len(active)} of your exports are already waiting or running: ask again when "
            f"one has finished. 您已有 {len(active)} 个导出任务在进行，请待其完成后再申请。"
        )
    if len(active) >= limit:
        raise Conflict(
            "Too many exports asked for without logging in are waiting or running: ask again "
            "later, or log in. 匿名导出任务过多，请稍后再试或登录后导出。"
        )
    job = ExportJob(
        dataset_id=plan.view.dataset.id,
        resource_id=plan.view.resource.id,
        requested_by_id=actor.user_id,
        query=stored_query,
        format=export_format,
        options=stored_options,
        row_estimate=plan.rows,
        masked_fields=sorted(plan.view.masked),
    )
    session.add(job)
    session.commit()
    return job, True


def fail_export_job(session: Session, job_id: str, error: str) -> None:
    """Mark a job that will not run (the queue did not take it) as failed; commits."""
    _set(session, job_id, ACTIVE, status="failed", error=error, finished_at=utcnow())


def get_export_job(session: Session, actor: Actor, job_id: str) -> ExportJob:
    """An export job, for its requester; an anonymous caller's job for whoever holds its
    id. NotFound for anyone else, as if it did not exist."""
    job = session.get(ExportJob, job_id)
    if job is None or (job.requested_by_id is not None and job.requested_by_id != actor.user_id):
        raise NotFound("Export job not found. 未找到该导出任务。")
    return job


def export_job_file(
    session: Session, actor: Actor, job_id: str, now: datetime | None = None
) -> ExportFile:
    """The file of a finished export job, for those ``get_export_job`` lets see the job,
    with the policy asked again: a requester who has lost access to the data since (a
    grant ended, a dataset withdrawn) or may no longer see its sensitive fields in clear
    no longer gets the file. Conflict while the job has not succeeded; NotFound once its
    file has expired."""
    job = get_export_job(session, actor, job_id)
    if job.status in ACTIVE:
        raise Conflict("This export is not finished yet: ask again later. 导出尚未完成，请稍后。")
    if job.status == "failed":
        raise Conflict(f"This export failed: {job.error}")
    if job.status == "expired" or job.expires_at is None or job.expires_at <= (now or utcnow()):
        raise NotFound("This export has expired: export again. 导出文件已过期，请重新导出。")
    # An anonymous job's file is open data for whoever holds the id, as the public sees it.
    reader = actor if job.requested_by_id is not None else Actor.anonymous()
    dataset, resource = get_dataset_resource(session, reader, job.dataset_id, job.resource_id)
    require(reader, Action.READ_DATA, dataset)
    if job.sensitive_unmasked:
        require(reader, Action.READ_SENSITIVE, dataset)
    chosen = FORMATS[job.format]
    return ExportFile(
        job=job,
        resource=resource,
        storage_key=job.storage_key,
        size=job.size,
        sha256=job.sha256,
        media_type=chosen.media_type,
        modified_at=job.finished_at,
        file_name=with_extension(resource.name, chosen.extension),
    )


def open_export_file(
    session: Session,
    actor: Actor,
    object_store: ObjectStore,
    file: ExportFile,
    start: int | None = None,
    end: int | None = None,
) -> Iterator[bytes]:
    """The file's bytes from ``start`` up to, not including, ``end``, once the hand-out is
    audited (``records.export.download``; the export itself was counted and audited when
    it ran). NotFound when the store has lost the file."""
    try:
        chunks = object_store.open(file.storage_key, start, end)
    except KeyError as error:
        raise NotFound("The file of this export is missing from the store.") from error
    try:
        _record_hand_out(session, actor, file, "portal", start, end)
    except BaseException:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        raise
    return chunks


def presigned_export_file(
    session: Session, actor: Actor, object_store: ObjectStore, file: ExportFile, seconds: int
) -> str | None:
    """A link that fetches the file straight from the store for ``seconds``, saved under
    its Chinese name, audited before it is handed out; None where the store has none."""
    url = object_store.presigned_url(file.storage_key, seconds, file.file_name, file.media_type)
    if url is not None:
        _record_hand_out(session, actor, file, "presigned", None, None)
    return url


def _record_hand_out(
    session: Session,
    actor: Actor,
    file: ExportFile,
    via: str,
    start: int | None,
    end: int | None,
) -> None:
    after: dict = {"job": file.job.id, "format": file.job.format, "via": via}
    if start or end is not None:
        after["range"] = [start or 0, end]  # half-open, in bytes
    record_event(
        session, actor, "records.export.download", "resource", file.resource.id, None, after
    )
    session.commit()


# Running and expiring jobs (the queue's tasks) -----------------------------------------


def run_export_job(backends: Backends, job_id: str) -> ExportJob | None:
    """Run one queued export job as its requester and record how it ended; None when the
    job was not queued (a message delivered twice, a job failed meanwhile).

    A refusal of the catalog (the requester lost access, the query no longer fits the
    records) fails the job with its message; any other error fails it too and is raised
    for the worker's log."""
    with backends.sessions() as session:
        claimed = _set(session, job_id, ("queued",), status="running", started_at=utcnow())
    if not claimed:
        log.info("export job %s is not queued; nothing to run", job_id)
        return None
    counter = _CountingRecords(
        backends.record_store, lambda rows: _update(backends, job_id, rows_written=rows)
    )
    try:
        with backends.sessions() as session:
            job = session.get(ExportJob, job_id)
            actor = _requester(session, job)
            view = open_records(
                session, backends.record_store, actor, job.dataset_id, job.resource_id
            )
            stored = export_to_store(
                session,
                counter,
                backends.object_store,
                actor,
                job.dataset_id,
                job.resource_id,
                query_from_json(job.query),
                export_format=job.format,
                options=ExportOptions(**job.options),
            )
    except CatalogError as error:
        _update(backends, job_id, status="failed", error=_message(error), finished_at=utcnow())
        return _load(backends, job_id)
    except Exception:
        _update(backends, job_id, status="failed", error=FAILED_UNEXPECTEDLY, finished_at=utcnow())
        raise
    finished = utcnow()
    done = _update(
        backends,
        job_id,
        status="succeeded",
        rows_written=counter.rows,
        masked_fields=sorted(view.masked),
        sensitive_unmasked=any(f.sensitive for f in view.fields) and not view.masked,
        storage_key=stored.key,
        size=stored.size,
        sha256=stored.sha256,
        finished_at=finished,
        expires_at=finished + EXPORT_LIFETIME,
    )
    if not done:
        # The sweep gave the job up while it ran: nobody will fetch or delete this file.
        backends.object_store.delete(stored.key)
    return _load(backends, job_id)


def expire_export_jobs(
    session: Session, object_store: ObjectStore, now: datetime | None = None
) -> list[str]:
    """Delete the files of finished exports past their expiry (the job becomes expired),
    and fail the jobs still queued or running JOB_DEADLINE after they were asked for (their
    worker died). Returns the ids of the jobs expired. A file is deleted before its job is
    marked, so a store that does not answer leaves the job for the next sweep."""
    now = now or utcnow()
    lapsed = session.scalars(
        select(ExportJob).where(ExportJob.status == "succeeded", ExportJob.expires_at <= now)
    ).all()
    for job in lapsed:
        object_store.delete(job.storage_key)
        job.status = "expired"
        session.commit()
    session.execute(
        update(ExportJob)
        .where(ExportJob.status.in_(ACTIVE), ExportJob.created_at <= now - JOB_DEADLINE)
        .values(status="failed", error=NEVER_FINISHED, finished_at=now)
    )
    session.commit()
    return [job.id for job in lapsed]


def _requester(session: Session, job: ExportJob) -> Actor:
    """Who asked for the job, as they stand now, with read access only."""
    if job.requested_by_id is None:
        return Actor.anonymous()
    user = session.get(User, job.requested_by_id)
    if user is None or not user.active:
        raise Forbidden("The user who asked for this export is no longer active.")
    return actor_for_user(session, user, scopes=frozenset({"read"}))


def _message(error: CatalogError) -> str:
    fields = getattr(error, "fields", None)
    if not fields:
        return error.message
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())


def _set(session: Session, job_id: str, statuses: tuple[str, ...], **values) -> bool:
    """Change a job still in one of ``statuses`` and commit; whether it was."""
    changed = session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status.in_(statuses))
        .values(**values)
    ).rowcount
    session.commit()
    return bool(changed)


def _update(backends: Backends, job_id: str, **values) -> bool:
    # A session of its own: the export's session holds a read snapshot while it streams,
    # which SQLite will not let become a write once another connection has written.
    with backends.sessions() as session:
        return _set(session, job_id, ("running",), **values)


def _load(backends: Backends, job_id: str) -> ExportJob | None:
    with backends.sessions() as session:
        return session.get(ExportJob, job_id)


class _CountingRecords:
    """The record store, counting the rows an export reads and reporting the count every
    PROGRESS_EVERY rows: the job's progress, and its row count at the end."""

    def __init__(self, store: RecordStore, report: Callable[[int], object]):
        self._store = store
        self._report = report
        self.rows = 0

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def export(self, resource_id: str, query: RecordQuery) -> Iterator[dict]:
        # Called at once, so the store's checks still come before the first row.
        rows = self._store.export(resource_id, query)
        if isinstance(rows, RecordRows):
            # Batches stay batches: the export's column-wise masking and CSV writing.
            return RecordRows(self._counted_batches(rows))
        return self._counted(rows)

    def _counted_batches(self, rows: RecordRows) -> Iterator[RecordBatch]:
        try:
            for batch in rows.batches():
                before = self.rows
                self.rows += len(batch.ids)
                if self.rows // PROGRESS_EVERY > before // PROGRESS_EVERY:
                    self._report(self.rows)
                yield batch
        finally:
            rows.close()

    def _counted(self, rows: Iterator[dict]) -> Iterator[dict]:
        try:
            for row in rows:
                self.rows += 1
                if self.rows % PROGRESS_EVERY == 0:
                    self._report(self.rows)
                yield row
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
