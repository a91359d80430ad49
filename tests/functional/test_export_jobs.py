"""Record exports run as jobs, through HTTP: above export_direct_max_rows (set to ten here)
an export answers 202 with the job's status, a worker writes the file to the object store,
and its requester downloads it (through the portal with ranges, or by a presigned link on
S3); the job runs with its requester's access, a user's job is theirs alone, and files
expire. Jobs run from the app's own SQLite huey queue: by hand in this thread, or by a real
worker thread."""

import csv
import dataclasses
import io
import json
import os
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import select, update

from catalog.interfaces import RecordField
from catalog.models import AuditEvent, ExportJob, Grant, User, utcnow
from catalog.services.export_jobs import JOB_DEADLINE, run_export_job
from harvesters.tasks import QueueWorker
from tests.factories import (
    add_table,
    bearer,
    grant_to_user,
    make_dataset,
    make_department,
    make_user,
    token_for,
)

S3_ENDPOINT_URL = os.environ.get("OPENDATA_TEST_S3_ENDPOINT_URL")
DIRECT_MAX_ROWS = 10
ROWS = 60
WAIT_SECONDS = 30
FIELDS = [
    RecordField("name", "text", "姓名", sensitive=True),
    RecordField("id_card", "text", "身份证号", sensitive=True),
    RecordField("school", "text", "学校名称"),
    RecordField("street", "text", "所属镇街"),
    RecordField("students", "integer", "在校学生数"),
]
STREETS = ["祖庙街道", "石湾镇街道", "张槎街道", "南庄镇"]
FILTERED = "&filters=" + json.dumps({"street": "祖庙街道"}) + "&sort=-students"


def rows():
    for number in range(1, ROWS + 1):
        yield {
            "_id": number,
            "name": "张三丰" if number % 2 else "李四",
            "id_card": f"44060419900101{number:04d}",
            "school": f"禅城区第{number}小学",
            "street": STREETS[number % 4],
            "students": number * 10,
        }


def make_app(settings, backends):
    from portal.app import create_app

    return create_app(
        dataclasses.replace(settings, export_direct_max_rows=DIRECT_MAX_ROWS), backends
    )


@pytest.fixture
def world(session, backends, settings):
    department = make_department(session, slug="edu", name="佛山市禅城区教育局")
    steward = make_user(session, department=department, role="editor")
    stranger = make_user(session)
    grantee = make_user(session)
    open_data = make_dataset(session, department, slug="pupils")
    conditional = make_dataset(session, department, slug="pupils-c", open_type="conditional")
    grant_to_user(session, conditional, grantee)
    resource = add_table(session, backends, open_data, FIELDS, rows())
    granted = add_table(session, backends, conditional, FIELDS, rows())
    app = make_app(settings, backends)
    return SimpleNamespace(
        app=app,
        client=app.test_client(),
        queue=app.extensions["opendata.jobs"],
        resource=resource,
        steward=steward,
        owner=bearer(token_for(session, steward)),
        stranger=bearer(token_for(session, stranger)),
        grantee_user=grantee,
        grantee=bearer(token_for(session, grantee)),
        url=f"/api/v1/datasets/pupils/resources/{resource.id}/records/export",
        granted_url=f"/api/v1/datasets/pupils-c/resources/{granted.id}/records/export",
    )


def run_pending(queue) -> None:
    """Run every message waiting in the queue in this thread, as a worker would."""
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)


def ask(world, query="?format=csv", headers=None):
    response = world.client.get(world.url + query, headers=headers or {})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response


def finished(world, job_url, headers=None) -> dict:
    run_pending(world.queue)
    status = world.client.get(job_url, headers=headers or {})
    assert status.status_code == 200
    return status.get_json()


def job_row(backends, job_id) -> ExportJob:
    with backends.sessions() as fresh:
        return fresh.get(ExportJob, job_id)


def file_name(response) -> str:
    return unquote(response.headers["Content-Disposition"].split("filename*=UTF-8''")[1])


def text_of(response) -> str:
    return response.get_data().decode("utf-8-sig")


# -- 202, the job, its file ------------------------------------------------------------------------


def test_a_big_export_runs_as_a_job_whose_file_is_the_direct_export(client, world, backends):
    response = ask(world, "?format=csv&bom=true" + FILTERED)
    job_url = response.headers["Location"]
    queued = response.get_json()
    assert job_url == f"/api/v1/export-jobs/{queued['id']}"
    assert (queued["status"], queued["row_estimate"], queued["progress"]) == ("queued", 15, None)
    assert "download" not in queued["links"]
    assert world.queue.huey.pending_count() == 1
    assert world.client.get(job_url).get_json()["status"] == "queued"

    done = finished(world, job_url)
    assert (done["status"], done["status_label"]) == ("succeeded", "已完成")
    assert (done["rows_written"], done["progress"]) == (15, 1.0)
    assert done["masked_fields"] == ["id_card", "name"]
    assert done["expires_at"] > done["finished_at"]
    download = world.client.get(done["links"]["download"])
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert file_name(download) == "禅城区学生名册.csv"
    assert download.headers["ETag"] == f'"{done["sha256"]}"'
    assert int(download.headers["Content-Length"]) == done["size"]
    # The default limit streams the same query directly: the same bytes.
    direct = client.get(world.url + "?format=csv&bom=true" + FILTERED)
    assert direct.status_code == 200
    assert download.get_data() == direct.get_data()
    table = list(csv.reader(io.StringIO(text_of(download))))
    assert len(table) == 16 and table[1][3:] == ["祖庙街道", "600"]
    assert table[1][1] == "440604********0060"  # masked for an anonymous requester


def test_a_job_file_downloads_with_ranges_and_conditions(world):
    done = finished(world, ask(world, "?format=jsonl").headers["Location"])
    url = done["links"]["download"]
    whole = world.client.get(url).get_data()
    assert len(whole.splitlines()) == ROWS
    part = world.client.get(url, headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.get_data()) == (206, whole[10:20])
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    past = world.client.get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert past.status_code == 416
    again = world.client.get(url, headers={"If-None-Match": f'"{done["sha256"]}"'})
    assert again.status_code == 304
    # A store without links streams instead of redirecting.
    assert world.client.get(url + "?redirect=true").get_data() == whole


def test_async_asks_for_a_job_or_refuses_one(world, backends):
    refused = world.client.get(world.url + "?async=false")
    assert refused.status_code == 422
    message = refused.get_json()["errors"]["async"][0]
    assert f"{ROWS} records" in message and str(DIRECT_MAX_ROWS) in message
    filtered = world.client.get(world.url + "?async=false" + FILTERED)
    assert filtered.status_code == 422
    assert "15 records" in filtered.get_json()["errors"]["async"][0]
    small = "?format=jsonl&filters=" + json.dumps({"students": {"lte": 30}})
    assert world.client.get(world.url + small).status_code == 200
    assert world.client.get(world.url + small + "&async=false").status_code == 200
    with backends.sessions() as fresh:
        assert fresh.scalars(select(ExportJob)).all() == []
    forced = ask(world, small + "&async=true")
    done = finished(world, forced.headers["Location"])
    assert done["rows_written"] == 3


def test_bad_exports_are_refused_before_any_job(world, backends):
    sensitive_filter = world.client.get(world.url + "?filters=" + json.dumps({"id_card": "x"}))
    assert sensitive_filter.status_code == 422
    no_location = world.client.get(world.url + "?format=geojson")
    assert no_location.status_code == 422
    assert world.client.get(world.granted_url).status_code == 403  # conditional data
    assert world.client.head(world.url).status_code == 202  # says so, queues nothing
    with backends.sessions() as fresh:
        assert fresh.scalars(select(ExportJob)).all() == []
    assert world.queue.huey.pending_count() == 0


def test_the_same_export_asked_twice_is_one_job(world):
    first = ask(world).get_json()
    second = ask(world).get_json()
    assert first["id"] == second["id"]
    assert world.queue.huey.pending_count() == 1
    other = ask(world, "?format=jsonl").get_json()
    assert other["id"] != first["id"]
    filtered = ask(world, "?format=csv" + FILTERED).get_json()
    assert ask(world, "?format=csv" + FILTERED).get_json()["id"] == filtered["id"]
    assert world.queue.huey.pending_count() == 3
    # Another requester's same export is a job of its own.
    assert ask(world, headers=world.stranger).get_json()["id"] != first["id"]


def test_a_user_has_at_most_three_jobs_under_way(world):
    for query in ("?format=csv", "?format=jsonl", "?format=xlsx"):
        ask(world, query, world.owner)
    too_many = world.client.get(world.url + "?format=csv&header=name", headers=world.owner)
    assert too_many.status_code == 409
    ask(world, "?format=csv&header=name", world.stranger)  # others are not held up
    run_pending(world.queue)
    ask(world, "?format=csv&header=name", world.owner)


def test_a_queue_that_does_not_answer_fails_the_job(world, backends):
    def refuse(_data, priority=None):
        raise ConnectionError("queue down")

    world.queue.huey.storage.enqueue = refuse
    response = world.client.get(world.url)
    assert response.status_code == 503
    with backends.sessions() as fresh:
        [job] = fresh.scalars(select(ExportJob)).all()
    assert job.status == "failed" and "queue down" in job.error


# -- whose job it is, and with whose access it runs ---------------------------------------------


def test_a_users_job_is_theirs_alone(world):
    job_url = ask(world, headers=world.owner).headers["Location"]
    done = finished(world, job_url, world.owner)
    download = done["links"]["download"]
    for someone_else in ({}, world.stranger):
        assert world.client.get(job_url, headers=someone_else).status_code == 404
        assert world.client.get(download, headers=someone_else).status_code == 404
    assert world.client.get(download, headers=world.owner).status_code == 200
    unknown = world.client.get(f"/api/v1/export-jobs/{uuid.uuid4()}", headers=world.owner)
    assert unknown.status_code == 404


def test_an_anonymous_job_is_for_whoever_holds_its_id(world):
    done = finished(world, ask(world).headers["Location"])
    for holder in ({}, world.stranger, world.owner):
        assert world.client.get(done["links"]["download"], headers=holder).status_code == 200


def test_the_owning_department_gets_its_file_unmasked(world):
    done = finished(
        world, ask(world, "?format=jsonl", world.owner).headers["Location"], world.owner
    )
    assert done["masked_fields"] == []
    data = text_of(world.client.get(done["links"]["download"], headers=world.owner))
    assert "440604199001010001" in data and "张三丰" in data


def test_a_job_runs_with_its_requesters_access_when_it_starts(world, backends):
    job_url = world.client.get(world.granted_url, headers=world.grantee).headers["Location"]
    with backends.sessions() as fresh:
        fresh.execute(update(Grant).values(expires_at=utcnow() - timedelta(seconds=1)))
        fresh.commit()
    failed = finished(world, job_url, world.grantee)
    assert failed["status"] == "failed"
    assert "apply" in failed["error"]
    refused = world.client.get(job_url + "/download", headers=world.grantee)
    assert refused.status_code == 409


def test_a_requester_who_lost_access_no_longer_gets_the_file(world, backends):
    granted = world.client.get(world.granted_url, headers=world.grantee)
    assert granted.status_code == 202
    done = finished(world, granted.headers["Location"], world.grantee)
    download = done["links"]["download"]
    assert world.client.get(download, headers=world.grantee).status_code == 200
    with backends.sessions() as fresh:
        fresh.execute(update(Grant).values(expires_at=utcnow() - timedelta(seconds=1)))
        fresh.commit()
    assert world.client.get(download, headers=world.grantee).status_code == 403


def test_a_file_with_sensitive_fields_in_clear_needs_them_still_visible(world, backends):
    done = finished(world, ask(world, headers=world.owner).headers["Location"], world.owner)
    with backends.sessions() as fresh:
        steward = fresh.get(User, world.steward.id)
        steward.memberships.clear()
        fresh.commit()
    refused = world.client.get(done["links"]["download"], headers=world.owner)
    assert refused.status_code == 403
    assert "sensitive" in refused.get_json()["detail"]


def test_a_deactivated_requesters_job_fails(world, backends):
    job_url = ask(world, headers=world.owner).headers["Location"]
    with backends.sessions() as fresh:
        fresh.get(User, world.steward.id).active = False
        fresh.commit()
    job_id = job_url.rsplit("/", 1)[1]
    run_pending(world.queue)
    job = job_row(backends, job_id)
    assert (job.status, job.storage_key) == ("failed", None)
    assert "no longer active" in job.error


# -- counting, auditing, running twice -----------------------------------------------------------


def test_a_job_is_audited_once_as_its_requesters_export(world, backends):
    done = finished(world, ask(world, "?format=csv", world.owner).headers["Location"], world.owner)
    world.client.get(done["links"]["download"], headers=world.owner)
    with backends.sessions() as fresh:
        events = fresh.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.startswith("records.export"))
            .order_by(AuditEvent.id)
        ).all()
    assert [e.action for e in events] == ["records.export", "records.export.download"]
    assert {e.actor_id for e in events} == {world.steward.id}
    assert {e.object_id for e in events} == {world.resource.id}
    assert events[0].after["format"] == "csv"
    assert events[1].after == {"job": done["id"], "format": "csv", "via": "portal"}


def test_a_message_delivered_twice_runs_the_job_once(world, backends):
    job_id = ask(world).get_json()["id"]
    run_pending(world.queue)
    assert run_export_job(backends, job_id) is None
    with backends.sessions() as fresh:
        exports = fresh.scalars(select(AuditEvent).where(AuditEvent.action == "records.export"))
        assert len(exports.all()) == 1


def test_a_real_worker_thread_runs_the_job(world, backends):
    job_url = ask(world, "?format=xlsx", world.owner).headers["Location"]
    worker = QueueWorker(world.queue, workers=1, periodic=False, poll=0.1)
    worker.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while (status := world.client.get(job_url, headers=world.owner).get_json())["status"] in (
            "queued",
            "running",
        ) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert worker.stop(grace=WAIT_SECONDS)
    assert status["status"] == "succeeded", status["error"]
    download = world.client.get(status["links"]["download"], headers=world.owner)
    assert file_name(download) == "禅城区学生名册.xlsx"
    assert download.get_data().startswith(b"PK")


class PeekingRecords:
    """The real record store, reading the job's row as the export reaches each row."""

    def __init__(self, store, backends):
        self._store, self._backends = store, backends
        self.seen: list[int] = []

    def __getattr__(self, name):
        return getattr(self._store, name)

    def export(self, resource_id, query):
        rows = self._store.export(resource_id, query)

        def peeking():
            for row in rows:
                with self._backends.sessions() as fresh:
                    self.seen.append(fresh.scalar(select(ExportJob.rows_written)))
                yield row

        return peeking()


def test_a_running_job_shows_its_progress(world, backends, monkeypatch):
    monkeypatch.setattr("catalog.services.export_jobs.PROGRESS_EVERY", 20)
    job_id = ask(world).get_json()["id"]
    peeking = PeekingRecords(backends.record_store, backends)
    run_export_job(dataclasses.replace(backends, record_store=peeking), job_id)
    # The count written after each 20 rows, seen as the next row is read.
    assert peeking.seen[0] == 0 and peeking.seen[20] == 20 and peeking.seen[59] == 40
    assert job_row(backends, job_id).rows_written == ROWS


# -- expiry ----------------------------------------------------------------------------------------


def test_expired_files_are_deleted_and_stale_jobs_failed(world, backends):
    done = finished(world, ask(world).headers["Location"])
    stale_id = ask(world, "?format=jsonl").get_json()["id"]
    key = job_row(backends, done["id"]).storage_key
    assert backends.object_store.exists(key)
    # Before its time the sweep leaves it.
    assert world.queue.expire_exports.call_local() == []
    # A day on, the file has expired, and the job still queued never will finish.
    later = job_row(backends, done["id"]).expires_at + timedelta(seconds=1)
    assert later - JOB_DEADLINE >= job_row(backends, stale_id).created_at
    assert world.queue.expire_exports.call_local(later) == [done["id"]]
    assert not backends.object_store.exists(key)
    assert world.client.get(done["links"]["self"]).get_json()["status"] == "expired"
    gone = world.client.get(done["links"]["self"] + "/download")
    assert gone.status_code == 404 and "expired" in gone.get_json()["detail"]
    stale = job_row(backends, stale_id)
    assert stale.status == "failed" and "within a day" in stale.error


# -- S3: presigned links --------------------------------------------------------------------------


@pytest.fixture
def s3_world(world, settings, s3_backends, s3_store):
    app = make_app(settings, s3_backends)
    on_s3_world = SimpleNamespace(
        **{**vars(world), "client": app.test_client(), "queue": app.extensions["opendata.jobs"]}
    )
    return SimpleNamespace(world=on_s3_world, store=s3_store, backends=s3_backends)


def test_on_s3_a_job_file_is_handed_out_by_a_presigned_link(s3_world):
    world = s3_world.world
    done = finished(world, ask(world, "?format=csv", world.owner).headers["Location"], world.owner)
    streamed = world.client.get(done["links"]["download"], headers=world.owner)
    assert streamed.status_code == 200
    response = world.client.get(done["links"]["download"] + "?redirect=true", headers=world.owner)
    assert response.status_code == 302
    assert "no-store" in response.headers["Cache-Control"]
    location = response.headers["Location"]
    assert location.startswith(f"{S3_ENDPOINT_URL}/")
    fetched = httpx.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == streamed.get_data()
    assert file_name(fetched) == "禅城区学生名册.csv"
    # The sweep deletes the file from the bucket.
    key = job_row(s3_world.backends, done["id"]).storage_key
    assert s3_world.store.exists(key)
    later = job_row(s3_world.backends, done["id"]).expires_at + timedelta(seconds=1)
    assert world.queue.expire_exports.call_local(later) == [done["id"]]
    assert not s3_world.store.exists(key)
