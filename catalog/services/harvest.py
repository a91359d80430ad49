"""Harvest sources and jobs: stewards add their department's source systems, run and cancel
harvests and read the job reports, each through the access policy.

Stewards (editors and admins) of a department and sysadmins manage its sources and jobs;
its members read them; to everyone else they do not exist (NotFound). The catalog knows
nothing of the source types: whether a kind exists and takes a URL and options is asked of
the ``CheckSpec`` the caller passes (the portal's is harvesters.specs.check_spec).

A job is a row: ``request_job`` commits it queued, and the database keeps one queued or
running job per source (the partial unique index uq_harvest_jobs_active_source). The
runner (harvesters.runner) claims it with a lease; ``mark_lost_jobs`` finds the jobs whose
worker stopped renewing it.
"""

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from catalog.errors import Conflict, Forbidden, InvalidInput, NotFound
from catalog.models import Department, HarvestError, HarvestJob, HarvestSource, utcnow
from catalog.policy import Actor, can_manage_harvests, harvest_clause, require_harvests
from catalog.services.audit import record_event
from catalog.services.departments import get_department
from catalog.services.harvest_checks import (
    SOURCE_FIELDS,
    CheckSpec,
    SourceValues,
    validated_source,
)

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")
ACTIVE_STATUSES = ("queued", "running")
TRIGGERS = ("manual", "schedule")
MAX_JOBS = 1000
MAX_ERRORS = 1000


def source_snapshot(source: HarvestSource) -> dict[str, Any]:
    """The source's settings as plain JSON values, for before/after in audit events."""
    snapshot = {name: getattr(source, name) for name in SOURCE_FIELDS}
    snapshot["department_id"] = source.department_id
    return snapshot


def create_source(
    session: Session,
    actor: Actor,
    department_slug: str,
    values: SourceValues,
    check_spec: CheckSpec,
) -> HarvestSource:
    """Add a harvest source to a department (its editors and admins, and sysadmins). The
    kind, URL and options are checked by ``check_spec`` before anything is saved."""
    department = get_department(session, department_slug)
    if not can_manage_harvests(actor, department.id):
        raise Forbidden("Only editors and admins of a department add its harvest sources.")
    cleaned = validated_source(session, department.id, None, values, check_spec, check_kind=True)
    source = HarvestSource(department_id=department.id, created_by_id=actor.user_id, **cleaned)
    session.add(source)
    session.flush()
    record_event(
        session,
        actor,
        "harvest_source.create",
        "harvest_source",
        source.id,
        None,
        source_snapshot(source),
    )
    session.commit()
    return source


def update_source(
    session: Session,
    actor: Actor,
    source_id: str,
    changes: Mapping[str, Any],
    check_spec: CheckSpec,
) -> HarvestSource:
    """Change some fields of a source (the names of SourceValues). The kind, URL and
    options are checked again when one of them changes."""
    source = _load_source(session, source_id)
    require_harvests(actor, source.department_id, manage=True)
    unknown = sorted(set(changes) - set(SOURCE_FIELDS))
    if unknown:
        known = ", ".join(SOURCE_FIELDS)
        message = f"Not a field of a harvest source ({known})."
        raise InvalidInput({name: [message] for name in unknown})
    current = SourceValues(**{name: getattr(source, name) for name in SOURCE_FIELDS})
    merged = replace(current, **changes)
    check_kind = bool({"kind", "url", "config"} & set(changes))
    cleaned = validated_source(
        session, source.department_id, source.id, merged, check_spec, check_kind
    )
    before = source_snapshot(source)
    for name, value in cleaned.items():
        setattr(source, name, value)
    after = source_snapshot(source)
    if after == before:
        return source
    source.modified_at = utcnow()
    record_event(
        session, actor, "harvest_source.update", "harvest_source", source.id, before, after
    )
    session.commit()
    return source


def delete_source(session: Session, actor: Actor, source_id: str) -> None:
    """Switch a source off: it is no longer scheduled or run, its queued job is cancelled
    and its running one asked to stop. The datasets it made and its job reports stay."""
    source = _load_source(session, source_id)
    require_harvests(actor, source.department_id, manage=True)
    if not source.active:
        return
    before = source_snapshot(source)
    source.active = False
    source.modified_at = utcnow()
    now = utcnow()
    session.execute(
        update(HarvestJob)
        .where(HarvestJob.source_id == source.id, HarvestJob.status == "queued")
        .values(status="cancelled", finished_at=now, error="The harvest source was switched off.")
    )
    session.execute(
        update(HarvestJob)
        .where(HarvestJob.source_id == source.id, HarvestJob.status == "running")
        .values(cancel_requested=True)
    )
    record_event(
        session,
        actor,
        "harvest_source.delete",
        "harvest_source",
        source.id,
        before,
        source_snapshot(source),
    )
    session.commit()


def get_source(session: Session, actor: Actor, source_id: str) -> HarvestSource:
    """The source, or NotFound when it does not exist or the actor may not see it."""
    source = _load_source(session, source_id)
    require_harvests(actor, source.department_id)
    return source


def list_sources(
    session: Session, actor: Actor, department_slug: str | None = None
) -> list[HarvestSource]:
    """The sources the actor may see, by department and name; with ``department_slug``
    that department's, or NotFound when the actor may not see them."""
    query = (
        select(HarvestSource)
        .join(Department)
        .where(harvest_clause(actor, HarvestSource.department_id))
        .options(selectinload(HarvestSource.department))
        .order_by(Department.slug, HarvestSource.name, HarvestSource.id)
    )
    if department_slug is not None:
        department = get_department(session, department_slug)
        require_harvests(actor, department.id)
        query = query.where(HarvestSource.department_id == department.id)
    return list(session.scalars(query))


def request_job(
    session: Session, actor: Actor, source_id: str, trigger: str = "manual"
) -> HarvestJob:
    """Commit a queued job for the source (its stewards; the job queue for schedules).
    Conflict when the source is switched off or already has a queued or running job."""
    if trigger not in TRIGGERS:
        raise InvalidInput({"trigger": [f"Use one of {', '.join(TRIGGERS)}."]})
    source = _load_source(session, source_id)
    require_harvests(actor, source.department_id, manage=True)
    if not source.active:
        raise Conflict("The harvest source is switched off; switch it on to run it.")
    job = HarvestJob(
        source_id=source.id, status="queued", trigger=trigger, triggered_by_id=actor.user_id
    )
    session.add(job)
    try:
        session.commit()
    except IntegrityError:
        # The partial unique index keeps one queued or running job per source, also
        # against a request made at the same moment by another process.
        session.rollback()
        active = session.scalar(
            select(HarvestJob.id).where(
                HarvestJob.source_id == source_id, HarvestJob.status.in_(ACTIVE_STATUSES)
            )
        )
        raise Conflict(
            f"The harvest source already has a queued or running job ({active})."
        ) from None
    return job


def list_jobs(
    session: Session,
    actor: Actor,
    source_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[HarvestJob]:
    """Jobs the actor may see, newest first: of one source, or of every source."""
    errors = {}
    if status is not None and status not in JOB_STATUSES:
        errors["status"] = [f"Use one of {', '.join(JOB_STATUSES)}."]
    if not 1 <= limit <= MAX_JOBS:
        errors["limit"] = [f"Give 1 to {MAX_JOBS}."]
    if errors:
        raise InvalidInput(errors)
    query = (
        select(HarvestJob)
        .join(HarvestSource)
        .where(harvest_clause(actor, HarvestSource.department_id))
        .options(selectinload(HarvestJob.source).selectinload(HarvestSource.department))
        .order_by(HarvestJob.created_at.desc(), HarvestJob.id.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if source_id is not None:
        source = get_source(session, actor, source_id)
        query = query.where(HarvestJob.source_id == source.id)
    if status is not None:
        query = query.where(HarvestJob.status == status)
    return list(session.scalars(query))


def get_job(session: Session, actor: Actor, job_id: str) -> HarvestJob:
    """A job's report (status, times, counts, lease), or NotFound when the actor may not
    see its source."""
    job = session.scalar(
        select(HarvestJob)
        .where(HarvestJob.id == job_id)
        .options(selectinload(HarvestJob.source).selectinload(HarvestSource.department))
        .execution_options(populate_existing=True)  # a report is read while its job runs
    )
    if job is None:
        raise NotFound("Harvest job not found.")
    require_harvests(actor, job.source.department_id, thing="Harvest job")
    return job


def job_errors(
    session: Session, actor: Actor, job_id: str, limit: int = 100, offset: int = 0
) -> list[HarvestError]:
    """The objects a job could not take and the bad rows of those it took, in the order
    they happened, each with the raw payload."""
    errors = {}
    if not 1 <= limit <= MAX_ERRORS:
        errors["limit"] = [f"Give 1 to {MAX_ERRORS}."]
    if offset < 0:
        errors["offset"] = ["Give 0 or more."]
    if errors:
        raise InvalidInput(errors)
    job = get_job(session, actor, job_id)
    return list(
        session.scalars(
            select(HarvestError)
            .where(HarvestError.job_id == job.id)
            .order_by(HarvestError.id)
            .limit(limit)
            .offset(offset)
        )
    )


def cancel_job(session: Session, actor: Actor, job_id: str) -> HarvestJob:
    """Cancel a job: a queued or lost one at once, and a running one whose lease has lapsed
    (its worker is gone, so nobody else would end it); a live running one is asked to stop,
    and its runner stops before its next object. Conflict when the job has ended."""
    job = get_job(session, actor, job_id)
    require_harvests(actor, job.source.department_id, manage=True, thing="Harvest job")
    now = utcnow()
    # Conditional updates, so a runner claiming or renewing the job at the same moment
    # cannot be overwritten.
    released = session.execute(
        update(HarvestJob)
        .where(
            HarvestJob.id == job.id,
            (HarvestJob.status.in_(("queued", "lost")))
            | ((HarvestJob.status == "running") & (HarvestJob.lease_expires_at < now)),
        )
        .values(status="cancelled", finished_at=now, cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    after = {"status": "cancelled"}
    if released.rowcount == 0:
        after = {"status": "running", "cancel_requested": True}
        asked = session.execute(
            update(HarvestJob)
            .where(HarvestJob.id == job.id, HarvestJob.status == "running")
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        )
        if asked.rowcount == 0:
            session.rollback()
            raise Conflict(f"The job has already ended ({job.status}).")
    before = {"status": job.status, "cancel_requested": job.cancel_requested}
    record_event(session, actor, "harvest_job.cancel", "harvest_job", job.id, before, after)
    session.commit()
    session.refresh(job)
    return job


def mark_lost_jobs(session: Session, now: datetime) -> list[HarvestJob]:
    """Mark running jobs whose lease expired before ``now`` as lost (their worker stopped
    answering), with the reason as their error; returns them. For the job queue's reaper,
    which acts for no one: it checks no actor."""
    candidates = session.scalars(
        select(HarvestJob)
        .where(HarvestJob.status == "running", HarvestJob.lease_expires_at < now)
        .execution_options(populate_existing=True)
    ).all()
    lost = []
    for job in candidates:
        message = (
            f"The worker {job.worker} stopped answering: its lease expired at "
            f"{job.lease_expires_at.isoformat(timespec='seconds')}. 采集进程已停止响应。"
        )
        # Only if the lease is still the expired one: a worker renewing it just now keeps it.
        marked = session.execute(
            update(HarvestJob)
            .where(
                HarvestJob.id == job.id,
                HarvestJob.status == "running",
                HarvestJob.worker == job.worker,
                HarvestJob.lease_expires_at < now,
            )
            .values(status="lost", finished_at=now, error=message)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount == 1:
            lost.append(job)
    session.commit()
    for job in lost:
        session.refresh(job)
    return lost


def _load_source(session: Session, source_id: str) -> HarvestSource:
    source = session.scalar(
        select(HarvestSource)
        .where(HarvestSource.id == source_id)
        .options(selectinload(HarvestSource.department))
    )
    if source is None:
        raise NotFound("Harvest source not found.")
    return source
