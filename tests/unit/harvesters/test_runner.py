"""A harvest job's lifecycle (harvesters.runner) on every database: a clean run, a second
run that writes nothing, a worker killed half way and the job resumed to the state of one
clean run, failures of the source, cancelling, the lease and its heartbeat.

The source type is defined here: it yields remote datasets built from the real fixture
files, and each test scripts what its gather does (stop the process, fail, wait)."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from catalog.models import (
    AuditEvent,
    Dataset,
    HarvestError,
    HarvestJob,
    HarvestObject,
    utcnow,
)
from catalog.services.harvest import cancel_job, delete_source, mark_lost_jobs
from harvesters.interfaces import GatherFailure, HarvestSourceError
from harvesters.runner import run_job
from tests.factories import SYSTEM, make_department
from tests.unit.harvesters.harvest_support import (
    GEO,
    TABULAR,
    file_resource,
    loopback_fetcher,
    make_job,
    make_source,
    record_count,
    remote_dataset,
    writes,
)

SETTINGS = SimpleNamespace(harvest_lease_seconds=60, harvest_max_file_bytes=50 * 1024 * 1024)
FILES = {
    "provinces": TABULAR / "nbs_division_codes_2023__provinces.csv",
    "cities": TABULAR / "nbs_division_codes_2023__cities.csv",
    "gdp": TABULAR / "nbs_province_annual__gdp__gbk.csv",
    "stops": GEO / "shanghai_bus71_stops.geojson",
}
FAILURE = GatherFailure("broken-entry", "the entry has no title", raw='{"id": "broken-entry"}')


class Interrupted(BaseException):
    """Stands for the process being stopped (SIGTERM, Ctrl-C) in the middle of a job."""


def catalog_objects(names=tuple(FILES)):
    """The source's objects: a dataset per fixture file, then one it cannot map."""
    for name in names:
        yield remote_dataset(name, file_resource(FILES[name], name), title=f"{name} 数据")
    yield FAILURE


def source_types(script):
    """A ``source_types`` lookup knowing one kind, "test", whose gather runs ``script``."""

    class ScriptedSource:
        kind = "test"
        label = "测试"

        def __init__(self, spec, fetcher):
            self.spec = spec

        @classmethod
        def check_spec(cls, spec):
            return {}

        def gather(self):
            yield from script()

    def find(kind):
        if kind != "test":
            raise KeyError(f"unknown harvest source type {kind!r}; known: test")
        return ScriptedSource

    return find


def run(harvest, script=catalog_objects, job=None, settings=SETTINGS, **options):
    return run_job(
        harvest.backends,
        settings,
        (job or harvest.job).id,
        fetcher=loopback_fetcher(),
        worker_name="test-host:1:worker",
        source_types=source_types(script),
        **options,
    )


@pytest.fixture
def harvest(session, backends):
    department = make_department(session, slug="stats")
    source = make_source(session, department)
    return SimpleNamespace(source=source, job=make_job(session, source), backends=backends)


def counts(job) -> tuple[int, ...]:
    return job.created, job.updated, job.unchanged, job.withdrawn, job.failed


def state_of(session, backends, source) -> list[tuple]:
    """What a harvest made of a source's objects, without the ids that differ per source."""
    session.expire_all()
    made = []
    for harvest_object in session.scalars(
        select(HarvestObject)
        .where(HarvestObject.source_id == source.id)
        .order_by(HarvestObject.remote_id)
    ):
        dataset = session.get(Dataset, harvest_object.dataset_id)
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_id == dataset.id)
            .order_by(AuditEvent.id)
        ).all()
        resources = [
            (r.name, r.sha256, r.version, r.row_count, record_count(backends.record_store, r.id))
            for r in dataset.resources
        ]
        made.append((harvest_object.remote_id, dataset.title, dataset.state, actions, resources))
    return made


def errors_of(session, job) -> list[tuple[str, str]]:
    return session.execute(
        select(HarvestError.stage, HarvestError.remote_id)
        .where(HarvestError.job_id == job.id)
        .order_by(HarvestError.id)
    ).all()


def test_a_clean_run_imports_every_object_and_reports_what_it_could_not(session, harvest):
    handled = []
    job = run(harvest, progress=handled.append)
    assert job.status == "succeeded" and job.error == ""
    assert job.started_at <= job.finished_at
    assert job.worker.startswith("test-host:1:worker")
    assert counts(job) == (4, 0, 0, 0, 1)
    assert handled == [1, 2, 3, 4, 5]
    # The one object that failed, then the lines of the GBK file that are not data.
    errors = errors_of(session, job)
    assert [error for error in errors if error[0] == "gather"] == [("gather", "broken-entry")]
    assert {error for error in errors if error[0] != "gather"} == {("import", "gdp")}
    failure = session.scalars(select(HarvestError).where(HarvestError.stage == "gather")).one()
    assert failure.message == "the entry has no title"
    assert failure.payload == '{"id": "broken-entry"}'
    made = state_of(session, harvest.backends, harvest.source)
    assert [m[0] for m in made] == ["cities", "gdp", "provinces", "stops"]
    assert all(m[3] == ["dataset.create"] and m[4][0][3] > 0 for m in made)


def test_a_second_run_of_an_unchanged_source_writes_nothing(session, harvest):
    run(harvest)
    before = writes(session, harvest.backends)
    second = run(harvest, job=make_job(session, harvest.source))
    assert second.status == "succeeded"
    assert counts(second) == (0, 0, 4, 0, 1)
    assert writes(session, harvest.backends) == before


def test_a_job_killed_half_way_is_found_lost_and_resumes_to_the_state_of_a_clean_run(
    session, harvest
):
    def killed_after_two():
        for number, item in enumerate(catalog_objects()):
            if number == 2:
                raise Interrupted
            yield item

    with pytest.raises(Interrupted):
        run(harvest, killed_after_two)
    session.expire_all()
    stopped = session.get(HarvestJob, harvest.job.id)
    assert stopped.status == "running" and stopped.created == 2
    assert stopped.lease_expires_at <= utcnow()

    lost = mark_lost_jobs(session, utcnow())
    assert [job.id for job in lost] == [harvest.job.id]
    assert lost[0].status == "lost" and "stopped answering" in lost[0].error

    resumed = run(harvest)
    assert resumed.status == "succeeded" and resumed.error == ""

    twin = make_source(session, make_department(session, slug="twin"), name="同样的源")
    clean = run(harvest, job=make_job(session, twin))
    assert counts(resumed) == counts(clean) == (4, 0, 0, 0, 1)
    assert errors_of(session, resumed) == errors_of(session, clean)
    assert state_of(session, harvest.backends, harvest.source) == state_of(
        session, harvest.backends, twin
    )
    stored = writes(session, harvest.backends)["objects in the store"]
    assert len([key for key in stored if key.startswith("stats/")]) == 4
    assert len(session.scalars(select(Dataset)).all()) == 8


def test_a_job_killed_inside_an_object_leaves_no_file_of_it_behind(session, harvest, tmp_path):
    class Opener:
        """Stops the process while the second resource of the first object is read."""

        armed = True

        def __call__(self):
            if self.armed:
                self.armed = False
                raise Interrupted
            return file_resource(FILES["cities"]).opener()

    opener = Opener()

    def one_object():
        yield remote_dataset(
            "two-files",
            file_resource(FILES["provinces"], "p"),
            file_resource(FILES["cities"], "c", opener=opener),
        )

    with pytest.raises(Interrupted):
        run(harvest, one_object)
    assert writes(session, harvest.backends)["objects in the store"] == []
    assert session.scalars(select(HarvestObject)).all() == []
    mark_lost_jobs(session, utcnow())
    assert counts(run(harvest, one_object)) == (1, 0, 0, 0, 0)
    assert len(writes(session, harvest.backends)["objects in the store"]) == 2


def test_a_source_that_cannot_be_read_fails_the_job_with_its_message(session, harvest):
    run(harvest)

    def unreadable_after_one():
        yield next(catalog_objects())
        raise HarvestSourceError("https://data.example.cn/catalog answered HTTP 503")

    failed = run(harvest, unreadable_after_one, job=make_job(session, harvest.source))
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.error == "https://data.example.cn/catalog answered HTTP 503"
    assert counts(failed) == (0, 0, 1, 0, 0)
    # The gather did not complete: nothing is withdrawn.
    assert {d.state for d in session.scalars(select(Dataset))} == {"published"}


def test_an_unexpected_error_fails_the_job_and_is_raised_for_the_queue(session, harvest):
    def broken():
        yield next(catalog_objects())
        raise RuntimeError("a bug in the source type")

    with pytest.raises(RuntimeError):
        run(harvest, broken)
    session.expire_all()
    job = session.get(HarvestJob, harvest.job.id)
    assert job.status == "failed" and job.error == "RuntimeError: a bug in the source type"
    assert job.created == 1


def test_an_unknown_source_type_fails_the_job(session, harvest):
    # As when the package that registered its kind is uninstalled.
    harvest.source.kind = "gone"
    session.commit()
    job = run(harvest)
    assert job.status == "failed" and "unknown harvest source type 'gone'" in job.error


def test_objects_gone_from_the_source_are_withdrawn_at_the_end_of_a_complete_run(session, harvest):
    run(harvest)
    fewer = run(
        harvest,
        lambda: catalog_objects(("provinces", "cities", "gdp")),
        job=make_job(session, harvest.source),
    )
    assert counts(fewer) == (0, 0, 3, 1, 1)
    states = {m[0]: m[2] for m in state_of(session, harvest.backends, harvest.source)}
    assert states == {
        "cities": "published",
        "gdp": "published",
        "provinces": "published",
        "stops": "withdrawn",
    }
    again = run(harvest, job=make_job(session, harvest.source))
    assert counts(again) == (0, 1, 3, 0, 1)


def test_a_steward_cancels_a_running_job_and_it_stops_before_its_next_object(session, harvest):
    def cancelled_after_one():
        objects = catalog_objects()
        yield next(objects)
        with harvest.backends.sessions() as other:
            assert cancel_job(other, SYSTEM, harvest.job.id).cancel_requested
        yield from objects

    job = run(harvest, cancelled_after_one)
    assert job.status == "cancelled" and job.finished_at is not None
    assert counts(job) == (1, 0, 0, 0, 0)


def test_a_job_another_worker_holds_is_left_alone(session, harvest):
    session.execute(
        update(HarvestJob)
        .where(HarvestJob.id == harvest.job.id)
        .values(
            status="running",
            worker="other-host:9:worker",
            started_at=utcnow(),
            lease_expires_at=utcnow() + timedelta(minutes=5),
        )
    )
    session.commit()
    gathered = []

    def watched():
        gathered.append(True)
        yield from catalog_objects()

    job = run(harvest, watched)
    assert (job.status, job.worker, gathered) == ("running", "other-host:9:worker", [])


def test_a_job_of_a_switched_off_source_does_not_run(session, harvest):
    delete_source(session, SYSTEM, harvest.source.id)
    job = run(harvest)
    assert job.status == "cancelled" and job.created == 0


def test_a_finished_job_is_not_run_again(session, harvest):
    first = run(harvest)
    again = run(harvest)
    assert (again.status, again.finished_at, counts(again)) == (
        "succeeded",
        first.finished_at,
        counts(first),
    )


def test_the_lease_is_renewed_while_one_object_takes_long(session, harvest):
    settings = SimpleNamespace(harvest_lease_seconds=1, harvest_max_file_bytes=1024 * 1024)
    seen = {}

    def slow():
        objects = catalog_objects()
        yield next(objects)
        with harvest.backends.sessions() as other:
            claimed = other.get(HarvestJob, harvest.job.id)
            seen["first"] = claimed.lease_expires_at
            # Wait (up to half a minute on a busy machine) for the heartbeat to renew it
            # past the lease seen now (which may itself come from an earlier beat).
            for _ in range(600):
                other.expire_all()
                if other.get(HarvestJob, harvest.job.id).lease_expires_at > seen["first"]:
                    break
                time.sleep(0.05)
            seen["renewed"] = other.get(HarvestJob, harvest.job.id).lease_expires_at
        yield from objects

    job = run(harvest, slow, settings=settings)
    assert job.status == "succeeded"
    assert seen["renewed"] > seen["first"]


def test_a_lost_job_is_not_resumed_while_a_newer_job_of_its_source_waits(session, harvest):
    with pytest.raises(Interrupted):
        run(harvest, lambda: (_ for _ in ()).throw(Interrupted()))
    assert [job.id for job in mark_lost_jobs(session, utcnow())] == [harvest.job.id]
    newer = make_job(session, harvest.source)
    left = run(harvest)
    assert left.status == "lost" and left.created == 0
    assert run(harvest, job=newer).status == "succeeded"
