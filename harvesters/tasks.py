"""Harvest jobs on the job queue: the queue built from settings, its tasks, and the worker
threads that run them beside the web server (``opendata serve``) or on their own
(``opendata worker``).

The queue is huey. On one machine it keeps its messages in a SQLite file (SqliteHuey), so
the embedded default is persistent and needs no server; with ``OPENDATA_QUEUE_URL=redis://``
the same tasks run on Redis (PriorityRedisHuey) for workers on many machines. It brings
periodic tasks (the schedules below), retries with a delay, priorities and locks, in a
small library. Dramatiq has no SQLite broker, so the embedded default would need a server;
Celery would, too, and weighs far more than this portal needs.

A job is a row first and a message second: ``request_job`` commits a queued
``harvest_jobs`` row, and only then is a message sent, carrying the job's id and nothing
else. The runner claims the row with a lease before it works, so a message delivered
twice, or one for a job cancelled while it waited, does nothing. Each task gets the
portal's backends (built once per worker process) and a session of its own.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from huey import PriorityRedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.consumer import Consumer
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from catalog.backends import Backends
from catalog.errors import Conflict, NotFound
from catalog.models import HarvestJob
from catalog.policy import Actor
from catalog.services import export_jobs as export_service
from catalog.services import harvest as harvest_service
from catalog.services.uploads import remove_stale_uploads
from harvesters.fetch import HttpFetcher
from harvesters.interfaces import FetchedDocument, FetchError
from harvesters.runner import run_job
from harvesters.sources.access import configure_folder_roots

log = logging.getLogger(__name__)

QUEUE_NAME = "opendata"
# Seconds before each retry of a harvest whose source did not answer: the delay grows, so
# a source down for maintenance is tried again within the quarter hour, then left alone.
RETRY_DELAYS = (30, 120, 480)
# Scheduling and reaping are quick and time-bound: they go before waiting harvests.
HOUSEKEEPING_PRIORITY = 10
# A schedule minute missed while every worker was busy or stopped still fires once, if it
# is no older than this; older ones wait for the schedule's next minute.
SCHEDULE_CATCH_UP = timedelta(hours=1)
# What the queue acts as when it requests scheduled jobs and resumes lost ones.
QUEUE_ACTOR = Actor(name="job-queue", sysadmin=True)


class QueueSettingsError(ValueError):
    """OPENDATA_QUEUE_URL names a queue huey cannot open."""


def huey_from_settings(settings) -> Huey:
    """The huey instance ``settings.queue_url`` names: a SQLite file or a Redis server."""
    url = settings.queue_url
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        database = make_url(url).database
        if not database or database == ":memory:":
            raise QueueSettingsError(
                f"OPENDATA_QUEUE_URL {url!r} names no file; a queue in memory would lose "
                "its jobs and is not shared with the worker"
            )
        path = Path(database)
        path.parent.mkdir(parents=True, exist_ok=True)
        # results=False: a job's outcome lives in its harvest_jobs row, not in the queue.
        return SqliteHuey(QUEUE_NAME, filename=str(path), results=False)
    if scheme in ("redis", "rediss"):
        return PriorityRedisHuey(QUEUE_NAME, url=url, results=False)
    raise QueueSettingsError(f"OPENDATA_QUEUE_URL {url!r}: use sqlite:///path or redis://host")


def worker_name() -> str:
    """Who holds a job's lease: host, process and thread, for the job report."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def schedule_test(expression: str) -> Callable[[datetime], bool]:
    """huey's crontab test for a source's five-field schedule (minute hour day month
    weekday, UTC). Both day fields must match, as in huey (cron would take either)."""
    minute, hour, day, month, weekday = expression.split()
    return crontab(minute, hour, day, month, weekday, strict=True)


def last_due_minute(expression: str, now: datetime, after: datetime) -> datetime | None:
    """The latest minute in (after, now] that the schedule names, or None."""
    matches = schedule_test(expression)
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    while minute > after:
        # huey's test reads the wall-clock fields of a naive UTC datetime.
        if matches(minute.replace(tzinfo=None)):
            return minute
        minute -= timedelta(minutes=1)
    return None


class QueueUnavailable(ConnectionError):
    """The job queue did not take a job (its Redis or SQLite file does not answer). A
    ConnectionError, so the web layer answers 503 without knowing this module."""


class SourceUnreachable(Exception):
    """A harvest failed because its source did not answer; the queue tries it again."""


class _WatchingFetcher:
    """Passes every request to the real fetcher and remembers the last failure that says
    the source is down (no connection, a timeout, HTTP 5xx or 429) rather than wrong, so
    the task can tell a harvest worth retrying from one that would fail again."""

    def __init__(self, fetcher: HttpFetcher):
        self.fetcher = fetcher
        self.last_unreachable: FetchError | None = None

    def get(self, url: str, *, accept: str = "*/*") -> FetchedDocument:
        try:
            return self.fetcher.get(url, accept=accept)
        except FetchError as error:
            self._note(error)
            raise

    @contextmanager
    def stream(self, url: str, *, etag: str | None = None, last_modified: str | None = None):
        try:
            with self.fetcher.stream(url, etag=etag, last_modified=last_modified) as fetched:
                yield fetched
        except FetchError as error:
            self._note(error)
            raise

    def _note(self, error: FetchError) -> None:
        if is_unreachable(error):
            self.last_unreachable = error


def _retry_later(task, attempt: int, job_id: str, why: str) -> None:
    """Have huey run the task again after the attempt's delay, if it has tries left."""
    if task is not None and task.retries:
        task.retry_delay = RETRY_DELAYS[attempt]
        log.warning(
            "harvest job %s failed as %s; trying again in %s s", job_id, why, task.retry_delay
        )
    else:
        log.error("harvest job %s failed as %s; no tries left", job_id, why)


def is_unreachable(error: FetchError) -> bool:
    """Whether a fetch failed because the source is down or overloaded, not refused."""
    # The fetcher raises FetchError "from None" to keep messages short; the transport
    # error it replaced (no connection, a timeout, a broken answer) is still its context.
    # An address the fetcher refused is not one: it is refused before any connection.
    if isinstance(error.__context__, httpx.TransportError):
        return True
    message = str(error)
    return any(
        f"answered HTTP {status}" in message for status in ("429", "500", "502", "503", "504")
    )


class JobQueue:
    """The portal's job queue: the huey instance built from settings, with its tasks.

    ``harvest(job_id)`` runs one harvest job; ``schedule_due_sources`` and
    ``reap_lost_jobs`` run every minute on whichever worker takes them.
    ``export_records(job_id)`` runs one record export job; ``expire_exports`` deletes the
    files of expired exports every quarter hour.
    """

    def __init__(self, huey: Huey, settings, backends: Backends | None = None):
        self.huey = huey
        self.settings = settings
        self._backends = backends
        self._backends_lock = threading.Lock()
        self.harvest = huey.task(retries=len(RETRY_DELAYS), context=True, name="harvest")(
            self._harvest
        )
        every_minute = crontab()
        self.schedule_due_sources = huey.periodic_task(
            every_minute, priority=HOUSEKEEPING_PRIORITY, name="schedule_due_sources"
        )(self._schedule_due_sources)
        self.reap_lost_jobs = huey.periodic_task(
            every_minute, priority=HOUSEKEEPING_PRIORITY, name="reap_lost_jobs"
        )(self._reap_lost_jobs)
        # An export that broke is not tried again: its requester asks anew.
        self.export_records = huey.task(name="export_records")(self._export_records)
        self.expire_exports = huey.periodic_task(
            crontab(minute="*/15"), priority=HOUSEKEEPING_PRIORITY, name="expire_exports"
        )(self._expire_exports)
        self.remove_stale_uploads = huey.periodic_task(
            crontab(minute="30", hour="3"), priority=HOUSEKEEPING_PRIORITY, name="stale_uploads"
        )(self._remove_stale_uploads)

    @classmethod
    def from_settings(cls, settings, backends: Backends | None = None) -> "JobQueue":
        # Every process that harvests or checks a source builds its queue here, so this is
        # where the folders a folder source may read are set (none unless configured).
        configure_folder_roots(settings.harvest_folder_roots)
        return cls(huey_from_settings(settings), settings, backends)

    @property
    def backends(self) -> Backends:
        """The backends the tasks use: the app's when it runs the worker, else built once
        for this worker process on its first task."""
        with self._backends_lock:
            if self._backends is None:
                self._backends = Backends.from_settings(self.settings)
            return self._backends

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.backends.sessions() as session:
            yield session

    # Sending --------------------------------------------------------------------------

    def enqueue_harvest(self, job_id: str) -> None:
        """Send a committed job to the workers."""
        self.harvest(job_id)

    def request_harvest(
        self, session: Session, actor: Actor, source_id: str, trigger: str = "manual"
    ) -> HarvestJob:
        """Request a job for a source (the service checks the actor and that no job of the
        source is queued or running), then send it. When the queue cannot take it, the job
        is cancelled again, so the source is not left blocked by a job nobody will run."""
        job = harvest_service.request_job(session, actor, source_id, trigger=trigger)
        try:
            self.enqueue_harvest(job.id)
        except Exception as error:
            harvest_service.cancel_job(session, QUEUE_ACTOR, job.id)
            raise QueueUnavailable(f"任务队列不可用，采集任务已取消：{error}") from error
        return job

    def enqueue_export(self, job_id: str) -> None:
        """Send a committed export job to the workers. When the queue cannot take it, the
        job is failed, so that its requester is not left waiting for it."""
        try:
            self.export_records(job_id)
        except Exception as error:
            with self.session() as session:
                export_service.fail_export_job(session, job_id, f"任务队列不可用：{error}")
            raise QueueUnavailable(f"任务队列不可用，导出任务未能排队：{error}") from error

    # Tasks ----------------------------------------------------------------------------

    def _harvest(self, job_id: str, task=None) -> None:
        """Run one harvest job. Worth another try, after each of RETRY_DELAYS: a source that
        did not answer, and a job that broke (its database or storage did not answer); a
        retry is a new job of the same source, so each attempt keeps its own report. Not
        tried again: a source that answered with something wrong, a cancelled job."""
        attempt = len(RETRY_DELAYS) - task.retries if task is not None else 0
        try:
            if attempt:
                job_id = self._retry_job(job_id)
                if job_id is None:
                    return
                # The next retry follows on from this attempt's job, not the first one.
                task.args = (job_id,)
            watching = _WatchingFetcher(HttpFetcher.from_settings(self.settings))
            try:
                job = run_job(
                    self.backends,
                    self.settings,
                    job_id,
                    fetcher=watching,
                    worker_name=worker_name(),
                )
            finally:
                watching.fetcher.close()
        except NotFound:
            # Its department was deleted with its sources and jobs: nothing left to run.
            log.warning("harvest job %s no longer exists", job_id)
            return
        except Exception:
            _retry_later(task, attempt, job_id, "it broke")
            raise
        unreachable = watching.last_unreachable
        if job.status == "failed" and unreachable is not None and str(unreachable) in job.error:
            _retry_later(task, attempt, job_id, "its source did not answer")
            raise SourceUnreachable(job.error)

    def _retry_job(self, last_job_id: str) -> str | None:
        """The job a retry runs: the same one when it never started (the database did not
        answer), a new one of its source when it failed; none when the source has run
        again since (a steward's run, its schedule) or has been switched off."""
        with self.session() as session:
            last = harvest_service.get_job(session, QUEUE_ACTOR, last_job_id)
            if last.status == "queued":
                return last.id
            if last.status != "failed" or not last.source.active:
                return None
            latest = harvest_service.list_jobs(
                session, QUEUE_ACTOR, source_id=last.source_id, limit=1
            )
            if latest and latest[0].id != last.id:
                log.info("harvest job %s: its source has run again since; no retry", last.id)
                return None
            try:
                job = harvest_service.request_job(
                    session, QUEUE_ACTOR, last.source_id, trigger=last.trigger
                )
            except Conflict:
                return None
            log.info("harvest job %s: retried as job %s", last.id, job.id)
            return job.id

    def _schedule_due_sources(self, now: datetime | None = None) -> list[str]:
        """Request and send a job for every active source whose schedule names a minute
        since its last scheduled job (at most SCHEDULE_CATCH_UP ago); returns the job ids.
        A source whose job is still queued or running is skipped."""
        now = now or datetime.now(UTC)
        requested = []
        with self.session() as session:
            # One query for every source; the queue reads across departments as the
            # system, which the policy lets see everything anyway.
            last_scheduled = dict(
                session.execute(
                    select(HarvestJob.source_id, func.max(HarvestJob.created_at))
                    .where(HarvestJob.trigger == "schedule")
                    .group_by(HarvestJob.source_id)
                ).all()
            )
            for source in harvest_service.list_sources(session, QUEUE_ACTOR):
                if not source.active or not source.schedule:
                    continue
                # Minutes from before the source (or its schedule) was last changed, or
                # already served by a scheduled job, do not count.
                after = max(
                    now - SCHEDULE_CATCH_UP,
                    source.modified_at,
                    last_scheduled.get(source.id) or source.modified_at,
                )
                if last_due_minute(source.schedule, now, after) is None:
                    continue
                try:
                    job = self.request_harvest(session, QUEUE_ACTOR, source.id, "schedule")
                except Conflict:
                    log.info("source %s is due but its last job has not ended", source.id)
                    continue
                requested.append(job.id)
        return requested

    def _reap_lost_jobs(self, now: datetime | None = None) -> list[str]:
        """Mark running jobs whose lease has lapsed as lost (their worker died), and send
        each one once more: the runner resumes it where the harvest objects say it got to.
        A job lost a second time, or one a steward asked to cancel, stays lost for a
        person to read its report: a job that kills its worker must not kill every
        worker in turn. Returns the ids of the jobs resumed."""
        resumed = []
        with self.session() as session:
            lost = harvest_service.mark_lost_jobs(session, now or datetime.now(UTC))
        for job in lost:
            if not job.cancel_requested and self.huey.put_if_empty(f"resumed:{job.id}", "1"):
                log.warning("harvest job %s lost its worker %s; resuming it", job.id, job.worker)
                self.enqueue_harvest(job.id)
                resumed.append(job.id)
            else:
                log.error("harvest job %s lost its worker %s again; left lost", job.id, job.worker)
        return resumed

    def _export_records(self, job_id: str) -> None:
        """Run one export job (its outcome is on its row)."""
        export_service.run_export_job(self.backends, job_id)

    def _expire_exports(self, now: datetime | None = None) -> list[str]:
        """Delete expired export files; returns the ids of their jobs."""
        with self.session() as session:
            return export_service.expire_export_jobs(session, self.backends.object_store, now)

    def _remove_stale_uploads(self, now: datetime | None = None) -> int:
        """Delete the files stewards uploaded and never confirmed (daily, 03:30 UTC)."""
        return remove_stale_uploads(self.backends.object_store, now)


class _ThreadConsumer(Consumer):
    """huey's consumer without its signal handlers: the command that starts it (serve,
    worker) owns Ctrl-C and SIGTERM, and stops it."""

    def _set_signal_handlers(self) -> None:
        pass


class QueueWorker:
    """Worker threads that take tasks off the queue, and huey's scheduler thread that
    sends the periodic tasks, all in this process.

    huey's ``Consumer.run`` is not used: it wants the main thread for its signals, and on
    stopping it forgets the tasks still running, which makes huey retry them. A watcher
    thread does the one other thing it does, replacing a worker thread that died."""

    HEALTH_CHECK_SECONDS = 10.0

    def __init__(self, queue: JobQueue, workers: int = 2, periodic: bool = True, poll: float = 2.0):
        self.queue = queue
        # Two workers by default: the minute's housekeeping does not wait behind a long
        # harvest, and two sources harvest at once.
        self.consumer = _ThreadConsumer(
            queue.huey,
            workers=workers,
            periodic=periodic,
            worker_type="thread",
            max_delay=poll,
            scheduler_interval=1,
        )
        self._watcher = threading.Thread(target=self._watch, name="job-queue-watch", daemon=True)

    def start(self) -> None:
        self.consumer.start()
        self._watcher.start()

    def _watch(self) -> None:
        while not self.consumer.stop_flag.wait(self.HEALTH_CHECK_SECONDS):
            self.consumer.check_worker_health()

    def stop(self, grace: float = 10.0) -> bool:
        """Stop taking tasks and wait up to ``grace`` seconds for running ones; returns
        False when a harvest is still running. Its threads end with the process; the job
        keeps its lease until it lapses, and the reaper then resumes it."""
        self.consumer.stop(graceful=False)
        deadline = time.monotonic() + grace
        threads = [self._watcher, self.consumer.scheduler]
        threads += [thread for _, thread in self.consumer.worker_threads]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)


def init_app(app) -> None:
    """Put the job queue and the source-type check on a Flask app, for the API to reach
    without importing the harvesters (``api`` depends on ``catalog`` alone)."""
    from harvesters.specs import check_spec

    queue = JobQueue.from_settings(app.extensions["opendata.settings"], app.extensions["opendata"])
    app.extensions["opendata.jobs"] = queue
    app.extensions["opendata.check_spec"] = check_spec
