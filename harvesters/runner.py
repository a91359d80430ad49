"""The lifecycle of a harvest job, the same for every source type: claim, lease, gather,
sync each object, withdraw what is gone, finish with the counts and the error.

A job is claimed with one conditional UPDATE (queued -> running, or lost -> running to
resume one whose worker died), so two workers given the same job cannot both run it. The
claim holds a lease that a background thread renews with its own session every quarter of
the lease (one object can take long: a large file, a slow server); a worker that dies stops
renewing it, ``mark_lost_jobs`` then marks the job lost, and running it again resumes it.

Counts are committed as the job goes, so its report is live. Created, updated, withdrawn
and failed are counted by the sync in the transaction of the change they count. A resumed
job keeps those (the objects its first attempt imported are now unchanged and are not
counted again) and counts its unchanged and failed objects afresh, dropping the first
attempt's error rows of objects it retries: it ends with the counts and report of one
clean run.
"""

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from catalog.backends import Backends
from catalog.errors import NotFound
from catalog.models import HarvestError, HarvestJob, HarvestObject, HarvestSource, utcnow
from harvesters.interfaces import (
    Fetcher,
    GatherFailure,
    HarvestSourceError,
    SourceSpec,
    SourceType,
)
from harvesters.registry import source_type
from harvesters.sync import Outcome, record_failure, sync_dataset, withdraw_missing

log = logging.getLogger(__name__)
# Unchanged objects write nothing of their own, so their count is committed in batches.
UNCHANGED_FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class _Claim:
    job_id: str
    token: str  # the worker column while this run holds the job
    source_id: str
    # Remote ids the job's earlier attempts imported (and counted) already.
    done: frozenset[str]


class _Lease:
    """Renews the job's lease from a thread of its own until stopped; sets ``lost`` when
    the job is no longer this run's (marked lost, cancelled, or taken by another worker)."""

    def __init__(self, backends: Backends, claim: _Claim, seconds: int):
        self.backends = backends
        self.claim = claim
        self.seconds = seconds
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"harvest-lease-{claim.job_id[:8]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            try:
                renewed = self.renew()
            except Exception:  # a database blip: the next beat tries again, within the lease
                log.exception("harvest job %s: could not renew its lease", self.claim.job_id)
                continue
            if not renewed:
                self.lost.set()
                return

    def renew(self) -> bool:
        now = utcnow()
        with self.backends.sessions() as session:
            result = session.execute(
                _held(self.claim).values(
                    heartbeat_at=now, lease_expires_at=now + timedelta(seconds=self.seconds)
                )
            )
            session.commit()
        return result.rowcount == 1


def _held(claim: _Claim):
    """An UPDATE of the job that does nothing unless this run still holds it."""
    return (
        update(HarvestJob)
        .where(
            HarvestJob.id == claim.job_id,
            HarvestJob.worker == claim.token,
            HarvestJob.status == "running",
        )
        .execution_options(synchronize_session=False)
    )


def run_job(
    backends: Backends,
    settings_like,
    job_id: str,
    *,
    fetcher: Fetcher,
    worker_name: str,
    progress: Callable[[int], None] | None = None,
    source_types: Callable[[str], type[SourceType]] = source_type,
) -> HarvestJob:
    """Run a harvest job to its end and return it as it ended.

    ``settings_like`` gives ``harvest_lease_seconds`` and ``harvest_max_file_bytes``;
    ``progress`` is called after each object with the number handled so far;
    ``source_types`` finds the source type of a kind (the installed entry points).

    A job that is not queued or lost (another worker holds it, or it has ended) is left
    alone and returned as it is. The job ends succeeded, cancelled (a steward asked, or the
    source was switched off), or failed: with the message of a HarvestSourceError (the
    source could not be read), or of any other exception, which is then raised again for
    the queue's retry. An exception that stops the process (KeyboardInterrupt, SystemExit)
    leaves the job running with its lease ended, for ``mark_lost_jobs`` to find."""
    lease_seconds = settings_like.harvest_lease_seconds
    claim = _claim(backends, job_id, f"{worker_name[:180]} #{secrets.token_hex(4)}", lease_seconds)
    if claim is None:
        log.info("harvest job %s is not waiting to run; left alone", job_id)
        return _load(backends, job_id)
    lease = _Lease(backends, claim, lease_seconds)
    lease.start()
    try:
        _run(backends, settings_like, claim, lease, fetcher, progress, source_types)
    except BaseException as error:
        lease.stop()
        if not isinstance(error, Exception):
            _end_lease(backends, claim)
        raise
    lease.stop()
    return _load(backends, job_id)


def _load(backends: Backends, job_id: str) -> HarvestJob:
    with backends.sessions() as session:
        job = session.scalar(
            select(HarvestJob)
            .where(HarvestJob.id == job_id)
            .options(selectinload(HarvestJob.source).selectinload(HarvestSource.department))
        )
    if job is None:
        raise NotFound("Harvest job not found.")
    return job


def _claim(backends: Backends, job_id: str, token: str, lease_seconds: int) -> _Claim | None:
    now = utcnow()
    with backends.sessions() as session:
        job = session.get(HarvestJob, job_id)
        if job is None:
            raise NotFound("Harvest job not found.")
        expired = (
            job.status == "running"
            and job.lease_expires_at is not None
            and job.lease_expires_at < now
        )
        resuming = job.status == "lost" or expired
        if job.status != "queued" and not resuming:
            return None
        condition = HarvestJob.status == job.status
        if expired:
            condition &= (HarvestJob.worker == job.worker) & (HarvestJob.lease_expires_at < now)
        values = {
            "status": "running",
            "worker": token,
            "started_at": func.coalesce(HarvestJob.started_at, now),
            "heartbeat_at": now,
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
            "finished_at": None,
            "error": "",
        }
        if resuming:
            values.update(unchanged=0, failed=0)
        try:
            claimed = session.execute(
                update(HarvestJob)
                .where(HarvestJob.id == job_id, condition)
                .values(values)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                session.rollback()
                return None
            done: set[str] = set()
            if resuming:
                done = _forget_retried(session, job)
            session.commit()
        except IntegrityError:
            # A lost job cannot run again while a newer job of its source is queued.
            session.rollback()
            log.warning("harvest job %s: another job of its source is waiting", job_id)
            return None
    log.info("harvest job %s claimed by %s", job_id, token)
    return _Claim(job_id, token, job.source_id, frozenset(done))


def _forget_retried(session, job: HarvestJob) -> set[str]:
    """The remote ids the job's earlier attempts imported; the error rows of the others
    go, since this attempt takes those objects again."""
    done = set(
        session.scalars(
            select(HarvestObject.remote_id).where(
                HarvestObject.source_id == job.source_id, HarvestObject.last_job_id == job.id
            )
        )
    )
    retried = [
        error_id
        for error_id, remote_id in session.execute(
            select(HarvestError.id, HarvestError.remote_id).where(HarvestError.job_id == job.id)
        )
        if remote_id not in done
    ]
    for start in range(0, len(retried), 500):
        session.execute(
            delete(HarvestError).where(HarvestError.id.in_(retried[start : start + 500]))
        )
    return done


def _end_lease(backends: Backends, claim: _Claim) -> None:
    """The process is stopping: end the lease now, so the job is found lost at once rather
    than when the lease would have run out."""
    try:
        with backends.sessions() as session:
            session.execute(_held(claim).values(lease_expires_at=utcnow()))
            session.commit()
    except Exception:  # the lease then runs out by itself; the interruption goes on
        log.exception("harvest job %s: could not end its lease", claim.job_id)


class _Stop(Exception):
    """The job is no longer this run's to go on with."""


class _Progress:
    """Objects handled, and the unchanged ones not yet counted in the database."""

    def __init__(self, backends: Backends, claim: _Claim, report: Callable[[int], None] | None):
        self.backends = backends
        self.claim = claim
        self.report = report
        self.handled = 0
        self.unchanged = 0
        self.flushed_at = time.monotonic()

    def handled_one(self, outcome: Outcome | None, remote_id: str) -> None:
        self.handled += 1
        if outcome is Outcome.UNCHANGED and remote_id not in self.claim.done:
            self.unchanged += 1
        if time.monotonic() - self.flushed_at >= UNCHANGED_FLUSH_SECONDS:
            self.flush()
        if self.report is not None:
            self.report(self.handled)

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.unchanged:
            return
        with self.backends.sessions() as session:
            session.execute(
                _held(self.claim).values(unchanged=HarvestJob.unchanged + self.unchanged)
            )
            session.commit()
        self.unchanged = 0


# What _check reads of the job. Built once: it is asked before every object.
_JOB_STATE = select(HarvestJob.status, HarvestJob.worker, HarvestJob.cancel_requested).where(
    HarvestJob.id == bindparam("job_id")
)


def _check(session: Session, claim: _Claim, lease: _Lease) -> None:
    """Raise _Stop when the job is no longer this run's, or a steward asked to cancel it;
    in the session of the object it comes before, without the ORM."""
    row = session.connection().execute(_JOB_STATE, {"job_id": claim.job_id}).one()
    if lease.lost.is_set() or row.status != "running" or row.worker != claim.token:
        raise _Stop("lost")
    if row.cancel_requested:
        raise _Stop("cancelled")


def _finish(backends: Backends, claim: _Claim, status: str, error: str = "") -> None:
    with backends.sessions() as session:
        ended = session.execute(
            _held(claim).values(status=status, finished_at=utcnow(), error=error)
        )
        session.commit()
    if ended.rowcount != 1:
        log.warning("harvest job %s was taken from this worker before it ended", claim.job_id)
    else:
        log.info("harvest job %s %s", claim.job_id, status)


def _run(
    backends: Backends,
    settings_like,
    claim: _Claim,
    lease: _Lease,
    fetcher: Fetcher,
    report: Callable[[int], None] | None,
    source_types: Callable[[str], type[SourceType]],
) -> None:
    with backends.sessions() as session:
        source = session.get(HarvestSource, claim.source_id)
        job = session.get(HarvestJob, claim.job_id)
    if not source.active:
        _finish(backends, claim, "cancelled", "The harvest source was switched off.")
        return
    progress = _Progress(backends, claim, report)
    try:
        try:
            kind = source_types(source.kind)
        except KeyError as error:
            raise HarvestSourceError(str(error.args[0])) from None
        chosen = kind(SourceSpec(source.url, source.config), fetcher)
        seen: set[str] = set()
        for item in chosen.gather():
            with backends.sessions() as session:
                _check(session, claim, lease)
                seen.add(item.remote_id)
                if isinstance(item, GatherFailure):
                    record_failure(
                        session, job.id, item.remote_id, "gather", item.message, item.raw
                    )
                    outcome = None
                else:
                    outcome = sync_dataset(
                        session,
                        backends,
                        source,
                        job,
                        item,
                        fetcher,
                        max_file_bytes=settings_like.harvest_max_file_bytes,
                    )
            progress.handled_one(outcome, item.remote_id)
        progress.flush()
        with backends.sessions() as session:
            _check(session, claim, lease)
            withdraw_missing(session, backends, source, job, seen)
    except _Stop as stop:
        progress.flush()
        if str(stop) == "cancelled":
            _finish(backends, claim, "cancelled", "Cancelled by request.")
        else:
            log.warning("harvest job %s was taken from this worker; it stops", claim.job_id)
        return
    except HarvestSourceError as error:
        progress.flush()
        _finish(backends, claim, "failed", str(error))
        return
    except Exception as error:
        progress.flush()
        _finish(backends, claim, "failed", f"{type(error).__name__}: {error}")
        raise
    _finish(backends, claim, "succeeded")
