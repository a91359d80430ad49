"""The job queue: huey on a SQLite file and on Redis, the harvest task and its retries,
schedules, lost-job reaping and cancelling, with jobs run by real worker threads."""

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from huey import PriorityRedisHuey, SqliteHuey
from sqlalchemy import func, select, update

from catalog.models import Dataset, HarvestJob, HarvestSource
from catalog.services import harvest as harvest_service
from catalog.services.harvest import SourceValues, create_source, get_job, request_job
from harvesters.fetch import HttpFetcher
from harvesters.interfaces import FetchError
from harvesters.specs import check_spec
from harvesters.tasks import (
    RETRY_DELAYS,
    JobQueue,
    QueueSettingsError,
    QueueWorker,
    huey_from_settings,
    is_unreachable,
    last_due_minute,
)
from tests.factories import SYSTEM, make_department
from tests.unit.harvesters.http_server import LocalHttpServer, Reply
from tests.unit.harvesters.sample_source import GATES, register_sample_type

REDIS_URL = os.environ.get("OPENDATA_TEST_REDIS_URL")
WAIT_SECONDS = 30


@pytest.fixture(autouse=True)
def sample_type(monkeypatch):
    register_sample_type(monkeypatch)


@pytest.fixture
def queue_settings(settings):
    # Loopback allowed for the local HTTP server; a short lease so a lost job shows soon.
    return replace(settings, harvest_allow_private_addresses=True, harvest_lease_seconds=5)


@pytest.fixture
def queue(queue_settings, backends):
    """A JobQueue on a SQLite file of the test's own; tests send and run tasks by hand."""
    return JobQueue.from_settings(queue_settings, backends)


def add_source(session, department=None, url="sample:", schedule=None, **config) -> str:
    department = department or make_department(session)
    values = SourceValues(
        name=f"测试采集源 {uuid.uuid4().hex[:6]}",
        kind="sample",
        url=url,
        config={"titles": ["禅城区学校名录", "禅城区公园"], **config},
        schedule=schedule,
    )
    return create_source(session, SYSTEM, department.slug, values, check_spec).id


def job_status(backends, job_id: str) -> HarvestJob:
    with backends.sessions() as session:
        return get_job(session, SYSTEM, job_id)


def wait_for(backends, job_id: str, *statuses: str) -> HarvestJob:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        job = job_status(backends, job_id)
        if job.status in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is {job.status}, never {statuses}")


def run_pending(queue: JobQueue) -> None:
    """Run every message waiting in the queue in this thread, as a worker would."""
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)


# The queue built from settings --------------------------------------------------------


def test_the_queue_url_chooses_sqlite_or_redis(settings, tmp_path):
    on_file = huey_from_settings(replace(settings, queue_url=f"sqlite:///{tmp_path}/q/jobs.db"))
    assert isinstance(on_file, SqliteHuey)
    assert (tmp_path / "q" / "jobs.db").exists()
    on_redis = huey_from_settings(replace(settings, queue_url="redis://127.0.0.1:1/0"))
    assert isinstance(on_redis, PriorityRedisHuey)
    with pytest.raises(QueueSettingsError, match="names no file"):
        huey_from_settings(replace(settings, queue_url="sqlite://"))


def test_check_spec_asks_the_source_type():
    assert check_spec("sample", "sample:", {"titles": ["a"]}) == {}
    assert "url" in check_spec("sample", "ftp://x", {})
    unknown = check_spec("nope", "http://example.org/", {})
    assert list(unknown) == ["kind"] and "sample" in unknown["kind"][0]


# One job, queued -> running -> succeeded ------------------------------------------------


def test_a_worker_thread_runs_a_job_from_the_sqlite_queue(queue, backends, session):
    gate_name = f"gate-{uuid.uuid4().hex}"
    gate = GATES[gate_name] = threading.Event()
    source_id = add_source(session, gate=gate_name)
    job = queue.request_harvest(session, SYSTEM, source_id)
    assert job_status(backends, job.id).status == "queued"
    assert queue.huey.pending_count() == 1

    worker = QueueWorker(queue, workers=1, periodic=False, poll=0.1)
    worker.start()
    try:
        running = wait_for(backends, job.id, "running")
        assert running.worker and running.lease_expires_at > datetime.now(UTC)
        gate.set()
        done = wait_for(backends, job.id, "succeeded", "failed")
    finally:
        gate.set()
        assert worker.stop(grace=WAIT_SECONDS)
    assert (done.status, done.created, done.failed) == ("succeeded", 2, 0), done.error
    assert queue.huey.pending_count() == 0


@pytest.mark.skipif(
    not REDIS_URL, reason="OPENDATA_TEST_REDIS_URL is not set (scripts/services.sh start redis)"
)
def test_a_worker_thread_runs_a_job_from_redis(queue_settings, backends, session):
    # A queue name of the test's own, so runs in parallel never share messages.
    huey = PriorityRedisHuey(f"opendata-test-{uuid.uuid4().hex}", url=REDIS_URL, results=False)
    queue = JobQueue(huey, queue_settings, backends)
    source_id = add_source(session)
    job = queue.request_harvest(session, SYSTEM, source_id)
    assert huey.pending_count() == 1
    worker = QueueWorker(queue, workers=1, periodic=False, poll=0.1)
    worker.start()
    try:
        done = wait_for(backends, job.id, "succeeded", "failed")
    finally:
        assert worker.stop(grace=WAIT_SECONDS)
        huey.storage.flush_all()
    assert (done.status, done.created) == ("succeeded", 2), done.error


def test_in_immediate_mode_a_request_runs_at_once(queue, backends, session):
    queue.huey.immediate = True
    job = queue.request_harvest(session, SYSTEM, add_source(session))
    assert job_status(backends, job.id).status == "succeeded"


def test_a_message_delivered_twice_runs_the_job_once(queue, backends, session):
    job = queue.request_harvest(session, SYSTEM, add_source(session))
    queue.enqueue_harvest(job.id)
    run_pending(queue)
    done = job_status(backends, job.id)
    assert (done.status, done.created) == ("succeeded", 2)
    with backends.sessions() as check:
        assert check.scalar(select(func.count()).select_from(Dataset)) == 2


def test_a_job_is_not_left_queued_when_the_queue_does_not_answer(queue, backends, session):
    source_id = add_source(session)

    def refuse(_task):
        raise OSError("disk full")

    queue.huey.storage.enqueue = lambda data, priority=None: refuse(data)
    with pytest.raises(ConnectionError, match="disk full"):
        queue.request_harvest(session, SYSTEM, source_id)
    with backends.sessions() as check:
        statuses = check.scalars(select(HarvestJob.status)).all()
    # The source is free for the next request.
    assert statuses == ["cancelled"]


# Cancelling ----------------------------------------------------------------------------


def test_a_job_cancelled_while_queued_does_not_run(queue, backends, session):
    job = queue.request_harvest(session, SYSTEM, add_source(session))
    harvest_service.cancel_job(session, SYSTEM, job.id)
    run_pending(queue)
    cancelled = job_status(backends, job.id)
    assert (cancelled.status, cancelled.created, cancelled.started_at) == ("cancelled", 0, None)
    assert queue.huey.scheduled_count() == 0  # not retried


def test_a_running_job_stops_when_cancelled(queue, backends, session):
    gate = threading.Event()
    GATES["cancel-gate"] = gate
    source_id = add_source(session, gate="cancel-gate", titles=[f"数据集{n}" for n in range(5)])
    job = queue.request_harvest(session, SYSTEM, source_id)
    worker = QueueWorker(queue, workers=1, periodic=False, poll=0.1)
    worker.start()
    try:
        wait_for(backends, job.id, "running")
        with backends.sessions() as other:
            asked = harvest_service.cancel_job(other, SYSTEM, job.id)
        assert asked.cancel_requested
        gate.set()
        done = wait_for(backends, job.id, "cancelled", "succeeded", "failed")
    finally:
        gate.set()
        assert worker.stop(grace=WAIT_SECONDS)
    assert done.status == "cancelled"
    assert done.created < 5
    assert queue.huey.scheduled_count() == 0


# Retries ---------------------------------------------------------------------------------


def test_a_source_that_does_not_answer_is_retried_with_growing_delays(queue, backends, session):
    answers = iter([503, 503, 200])

    def catalog(_request):
        status = next(answers)
        body = json.dumps(["禅城区学校名录"], ensure_ascii=False).encode()
        return Reply(status, body if status == 200 else b"busy")

    with LocalHttpServer() as server:
        server.add("/titles.json", catalog)
        source_id = add_source(session, url=server.url("/titles.json"))
        first = queue.request_harvest(session, SYSTEM, source_id)
        delays = []
        for _attempt in range(3):
            run_pending(queue)
            [retry] = queue.huey.scheduled()
            delays.append(
                round((retry.eta - datetime.now(UTC).replace(tzinfo=None)).total_seconds())
            )
            queue.huey.storage.flush_schedule()
            retry.eta = None  # as the scheduler does once the delay is over
            queue.huey.execute(retry)
            if not queue.huey.scheduled():
                break
    assert len(delays) == 2
    assert RETRY_DELAYS[0] - 5 <= delays[0] <= RETRY_DELAYS[0]
    assert RETRY_DELAYS[1] - 5 <= delays[1] <= RETRY_DELAYS[1]
    with backends.sessions() as check:
        jobs = check.scalars(select(HarvestJob).order_by(HarvestJob.created_at)).all()
    # Each attempt is a job with its own report; the third one found the source up.
    assert [j.status for j in jobs] == ["failed", "failed", "succeeded"]
    assert jobs[0].id == first.id and "503" in jobs[0].error
    assert jobs[2].created == 1


def test_a_source_that_answers_wrongly_is_not_retried(queue, backends, session):
    with LocalHttpServer() as server:
        source_id = add_source(session, url=server.url("/missing.json"))  # answers 404
        job = queue.request_harvest(session, SYSTEM, source_id)
        run_pending(queue)
    failed = job_status(backends, job.id)
    assert failed.status == "failed" and "404" in failed.error
    assert queue.huey.scheduled_count() == 0


def test_what_counts_as_a_source_that_does_not_answer():
    with LocalHttpServer() as server:
        server.add("/busy", lambda _request: Reply(503, b"busy"))
        closed = _free_port()
        allowed = HttpFetcher(allow_private=True, timeout=5)
        refusing = HttpFetcher(allow_private=False, timeout=5)
        outcomes = {}
        for name, fetcher, url in (
            ("no connection", allowed, f"http://127.0.0.1:{closed}/"),
            ("503", allowed, server.url("/busy")),
            ("404", allowed, server.url("/missing")),
            ("refused address", refusing, server.url("/busy")),
        ):
            with pytest.raises(FetchError) as raised:
                fetcher.get(url)
            outcomes[name] = is_unreachable(raised.value)
    assert outcomes == {"no connection": True, "503": True, "404": False, "refused address": False}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Schedules -------------------------------------------------------------------------------


def test_last_due_minute():
    now = datetime(2026, 3, 2, 2, 0, 40, tzinfo=UTC)  # a Monday
    since = now - timedelta(hours=1)
    assert last_due_minute("0 2 * * *", now, since) == now.replace(second=0)
    assert last_due_minute("30 1 * * *", now, since) == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    assert last_due_minute("*/15 * * * 1", now, since) == now.replace(second=0)
    assert last_due_minute("0 2 * * 0", now, since) is None  # Sundays only
    assert last_due_minute("0 3 * * *", now, since) is None
    # The window is open at its start: a minute already served is not due again.
    assert last_due_minute("0 2 * * *", now, now.replace(second=0)) is None


def test_due_sources_get_one_scheduled_job(queue, backends, session):
    department = make_department(session)
    daily = add_source(session, department, schedule="0 2 * * *")
    later = add_source(session, department, schedule="45 2 * * *")
    add_source(session, department, schedule="0 1 * * *")  # an hour before: too old
    add_source(session, department)  # manual only
    with backends.sessions() as writer:
        # The sources were set up the day before the minutes in question.
        writer.execute(update(HarvestSource).values(modified_at=datetime(2026, 3, 1, tzinfo=UTC)))
        writer.commit()

    def schedule_at(now: datetime) -> list[str]:
        requested = queue.schedule_due_sources.call_local(now=now)
        with backends.sessions() as writer:
            # As if the jobs had been made at that moment, not at the test's.
            writer.execute(
                update(HarvestJob).where(HarvestJob.id.in_(requested)).values(created_at=now)
            )
            writer.commit()
        return [job_status(backends, job_id).source_id for job_id in requested]

    at_two = datetime(2026, 3, 2, 2, 0, 5, tzinfo=UTC)
    assert schedule_at(at_two) == [daily]
    [job] = harvest_service.list_jobs(session, SYSTEM, source_id=daily)
    assert (job.trigger, job.status) == ("schedule", "queued")
    assert queue.huey.pending_count() == 1
    # Again in the same minute (another worker's scheduler): nothing new, whether the
    # job is still queued or has already ended.
    assert schedule_at(at_two + timedelta(seconds=20)) == []
    run_pending(queue)
    assert schedule_at(at_two + timedelta(seconds=40)) == []
    # A minute missed while the workers were busy still fires once.
    assert schedule_at(datetime(2026, 3, 2, 2, 50, tzinfo=UTC)) == [later]
    assert schedule_at(datetime(2026, 3, 2, 2, 51, tzinfo=UTC)) == []


def test_a_switched_off_source_is_not_scheduled(queue, backends, session):
    source_id = add_source(session, schedule="* * * * *")
    harvest_service.delete_source(session, SYSTEM, source_id)
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert queue.schedule_due_sources.call_local(now=later) == []


# Lost jobs -------------------------------------------------------------------------------


def _abandon(backends, job_id: str, worker: str = "dead-host:1:Worker-1") -> None:
    """Make the job look like one whose worker died half way: running, lease lapsed."""
    past = datetime.now(UTC) - timedelta(minutes=5)
    with backends.sessions() as writer:
        writer.execute(
            update(HarvestJob)
            .where(HarvestJob.id == job_id)
            .values(
                status="running",
                worker=worker,
                started_at=past,
                heartbeat_at=past,
                lease_expires_at=past + timedelta(seconds=5),
            )
        )
        writer.commit()


def test_a_lost_job_is_resumed_once_to_the_same_end(queue, backends, session):
    # The same source run cleanly, for the state a resumed job must reach.
    source_id = add_source(session)
    job = request_job(session, SYSTEM, source_id)
    _abandon(backends, job.id)

    resumed = queue.reap_lost_jobs.call_local()
    assert resumed == [job.id]
    lost = job_status(backends, job.id)
    assert lost.status == "lost" and "stopped answering" in lost.error
    run_pending(queue)
    done = job_status(backends, job.id)
    assert (done.status, done.created, done.failed) == ("succeeded", 2, 0), done.error
    with backends.sessions() as check:
        assert check.scalar(select(func.count()).select_from(Dataset)) == 2
        titles = set(check.scalars(select(Dataset.title)))
    assert titles == {"禅城区学校名录", "禅城区公园"}

    # Lost a second time, it stays lost for a person to read.
    _abandon(backends, job.id, worker="dead-host:2:Worker-1")
    assert queue.reap_lost_jobs.call_local() == []
    assert job_status(backends, job.id).status == "lost"
    assert queue.huey.pending_count() == 0


def test_a_stuck_job_that_was_asked_to_cancel_is_not_resumed(queue, backends, session):
    job = request_job(session, SYSTEM, add_source(session))
    _abandon(backends, job.id)
    with backends.sessions() as writer:
        writer.execute(update(HarvestJob).values(cancel_requested=True))
        writer.commit()
    assert queue.reap_lost_jobs.call_local() == []
    assert job_status(backends, job.id).status == "lost"


def test_the_worker_runs_the_reaper_every_minute(queue, backends, session):
    job = request_job(session, SYSTEM, add_source(session))
    _abandon(backends, job.id)
    worker = QueueWorker(queue, workers=1, periodic=True, poll=0.1)
    worker.start()
    try:
        done = wait_for(backends, job.id, "succeeded", "failed")
    finally:
        assert worker.stop(grace=WAIT_SECONDS)
    assert done.status == "succeeded", done.error
    with backends.sessions() as check:
        assert check.scalar(select(func.count()).select_from(Dataset)) == 2
