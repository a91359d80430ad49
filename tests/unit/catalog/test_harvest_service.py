"""Harvest sources and jobs through the catalog services: validation, the access policy,
one job per source, cancelling, and finding jobs whose worker died. On every database."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from catalog.errors import Conflict, Forbidden, InvalidInput, NotFound
from catalog.models import AuditEvent, HarvestError, HarvestJob, utcnow
from catalog.policy import Actor
from catalog.services.departments import create_theme
from catalog.services.harvest import (
    SourceValues,
    cancel_job,
    create_source,
    delete_source,
    get_job,
    get_source,
    job_errors,
    list_jobs,
    list_sources,
    mark_lost_jobs,
    request_job,
    update_source,
)
from catalog.services.harvest_checks import check_schedule
from catalog.services.users import actor_for_user
from catalog.vocab import Role
from tests.factories import SYSTEM, make_department, make_user

KINDS = ("ckan", "url")


def check_spec(kind, url, config):
    """The portal passes one built from the registry; this one knows two kinds and wants an
    http URL, which is all these tests need of it."""
    if kind not in KINDS:
        return {"kind": [f"unknown kind {kind!r}"]}
    if not url.startswith("http"):
        return {"url": ["use an http URL"]}
    return {}


def values(**changes) -> SourceValues:
    given = {"name": "区统计局CKAN", "kind": "ckan", "url": "https://data.example.cn/"}
    return SourceValues(**(given | changes))


@pytest.fixture
def world(session):
    department = make_department(session, slug="stats")
    other = make_department(session, slug="health")
    people = {
        "admin": make_user(session, department=department, role=Role.ADMIN),
        "editor": make_user(session, department=department, role=Role.EDITOR),
        "member": make_user(session, department=department, role=Role.MEMBER),
        "outsider": make_user(session, department=other, role=Role.ADMIN),
        "public": make_user(session),
    }
    actors = {name: actor_for_user(session, user) for name, user in people.items()}
    actors["anonymous"] = Actor.anonymous()
    actors["sysadmin"] = SYSTEM
    actors["read_only_editor"] = actor_for_user(
        session, people["editor"], scopes=frozenset({"read"})
    )
    return department, other, actors


def test_a_steward_adds_a_source_and_an_audit_event_records_it(session, world):
    department, _other, actors = world
    source = create_source(
        session,
        actors["editor"],
        "stats",
        values(
            schedule="  0   2 * * 1-5 ",
            dataset_defaults={"open_type": "有条件开放", "state": "draft"},
            config={"page_size": 100},
        ),
        check_spec,
    )
    assert source.department_id == department.id
    assert source.schedule == "0 2 * * 1-5"
    assert source.dataset_defaults == {"open_type": "conditional", "state": "draft"}
    assert source.on_missing == "withdraw" and source.active
    event = session.scalar(select(AuditEvent).where(AuditEvent.object_id == source.id))
    assert event.action == "harvest_source.create" and event.before is None
    assert event.after["url"] == "https://data.example.cn/"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "ftp"}, "kind"),
        ({"url": "file:///etc"}, "url"),
        ({"url": "https://user:secret@data.example.cn/"}, "url"),
        ({"name": "  "}, "name"),
        ({"on_missing": "delete"}, "on_missing"),
        ({"schedule": "every night"}, "schedule"),
        ({"schedule": "0 2 * *"}, "schedule"),
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"schedule": "0 5-2 * * *"}, "schedule"),
        ({"schedule": "0 2 * * */2"}, "schedule"),
        ({"config": ["not", "an", "object"]}, "config"),
        ({"dataset_defaults": {"colour": "red"}}, "dataset_defaults.colour"),
        ({"dataset_defaults": {"open_type": "sometimes"}}, "dataset_defaults.open_type"),
        ({"dataset_defaults": {"license_id": "wtfpl"}}, "dataset_defaults.license_id"),
        ({"dataset_defaults": {"themes": ["no-such-theme"]}}, "dataset_defaults.themes"),
        ({"dataset_defaults": {"update_frequency": "hourly"}}, "dataset_defaults.update_frequency"),
    ],
)
def test_bad_values_are_refused_field_by_field_and_nothing_is_saved(session, world, changes, field):
    _department, _other, actors = world
    with pytest.raises(InvalidInput) as refused:
        create_source(session, actors["editor"], "stats", values(**changes), check_spec)
    assert field in refused.value.fields
    assert list_sources(session, SYSTEM) == []


def test_defaults_name_known_licences_and_themes(session, world):
    _department, _other, actors = world
    create_theme(session, SYSTEM, "economy", "经济建设")
    source = create_source(
        session,
        actors["admin"],
        "stats",
        values(dataset_defaults={"license_id": "cc-by-4.0", "themes": ["economy"]}),
        check_spec,
    )
    assert source.dataset_defaults == {"license_id": "cc-by-4.0", "themes": ["economy"]}


def test_names_are_unique_within_a_department(session, world):
    _department, _other, actors = world
    create_source(session, actors["editor"], "stats", values(), check_spec)
    with pytest.raises(InvalidInput) as refused:
        create_source(session, actors["editor"], "stats", values(), check_spec)
    assert "name" in refused.value.fields
    create_source(session, SYSTEM, "health", values(), check_spec)


@pytest.mark.parametrize("caller", ["member", "outsider", "public", "read_only_editor"])
def test_only_stewards_and_sysadmins_add_sources(session, world, caller):
    _department, _other, actors = world
    with pytest.raises(Forbidden):
        create_source(session, actors[caller], "stats", values(), check_spec)


def test_an_unknown_department_is_not_found(session, world):
    with pytest.raises(NotFound):
        create_source(session, SYSTEM, "no-such-department", values(), check_spec)


def reads(source, job):
    """Each read of a source or job, as (service, arguments after the session and actor)."""
    return [
        (get_source, source.id),
        (list_sources, "stats"),
        (get_job, job.id),
        (job_errors, job.id),
        (list_jobs, source.id),
    ]


def changes(source, job):
    """Each change of a source or job, as ``reads`` gives them."""
    return [
        (update_source, source.id, {"name": "x"}, check_spec),
        (delete_source, source.id),
        (request_job, source.id),
        (cancel_job, job.id),
    ]


def test_members_read_sources_and_everyone_else_is_told_they_do_not_exist(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    job = request_job(session, actors["editor"], source.id)
    for caller in ("admin", "editor", "member", "sysadmin", "read_only_editor"):
        assert get_source(session, actors[caller], source.id).id == source.id
        assert [s.id for s in list_sources(session, actors[caller])] == [source.id]
        assert [s.id for s in list_sources(session, actors[caller], "stats")] == [source.id]
        assert get_job(session, actors[caller], job.id).id == job.id
        assert [j.id for j in list_jobs(session, actors[caller])] == [job.id]
        assert job_errors(session, actors[caller], job.id) == []
    for caller in ("outsider", "public", "anonymous"):
        actor = actors[caller]
        assert list_sources(session, actor) == []
        assert list_jobs(session, actor) == []
        for call, *arguments in reads(source, job) + changes(source, job):
            with pytest.raises(NotFound):
                call(session, actor, *arguments)


def test_members_may_not_change_sources_or_run_jobs(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    job = request_job(session, actors["editor"], source.id)
    for caller in ("member", "read_only_editor"):
        for call, *arguments in changes(source, job):
            with pytest.raises(Forbidden):
                call(session, actors[caller], *arguments)


def test_update_changes_the_given_fields_and_checks_them_again(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    changed = update_source(
        session,
        actors["admin"],
        source.id,
        {"schedule": "*/15 * * * *", "on_missing": "keep", "url": "https://ckan.example.cn/"},
        check_spec,
    )
    assert (changed.schedule, changed.on_missing, changed.url) == (
        "*/15 * * * *",
        "keep",
        "https://ckan.example.cn/",
    )
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "harvest_source.update")
    ).one()
    assert event.before["on_missing"] == "withdraw" and event.after["on_missing"] == "keep"
    with pytest.raises(InvalidInput) as refused:
        update_source(session, actors["admin"], source.id, {"kind": "ftp"}, check_spec)
    assert "kind" in refused.value.fields
    with pytest.raises(InvalidInput) as refused:
        update_source(session, actors["admin"], source.id, {"department": "health"}, check_spec)
    assert "department" in refused.value.fields
    session.expire_all()
    assert get_source(session, SYSTEM, source.id).kind == "ckan"


def test_an_update_that_changes_nothing_writes_no_audit_event(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    update_source(session, actors["editor"], source.id, {"name": source.name}, check_spec)
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.object_id == source.id)
        )
        == 1
    )


def test_one_job_per_source_at_a_time(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    first = request_job(session, actors["editor"], source.id)
    assert (first.status, first.trigger) == ("queued", "manual")
    with pytest.raises(Conflict) as refused:
        request_job(session, SYSTEM, source.id, trigger="schedule")
    assert first.id in refused.value.message
    session.execute(update(HarvestJob).where(HarvestJob.id == first.id).values(status="running"))
    session.commit()
    with pytest.raises(Conflict):
        request_job(session, actors["admin"], source.id)
    session.execute(update(HarvestJob).where(HarvestJob.id == first.id).values(status="succeeded"))
    session.commit()
    second = request_job(session, actors["admin"], source.id, trigger="schedule")
    assert [j.id for j in list_jobs(session, actors["member"], source_id=source.id)] == [
        second.id,
        first.id,
    ]
    assert [j.id for j in list_jobs(session, SYSTEM, status="succeeded")] == [first.id]
    with pytest.raises(InvalidInput):
        request_job(session, SYSTEM, source.id, trigger="whenever")
    with pytest.raises(InvalidInput):
        list_jobs(session, SYSTEM, status="sleeping")


def test_a_switched_off_source_stays_with_its_history_and_runs_no_more(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    queued = request_job(session, actors["editor"], source.id)
    delete_source(session, actors["editor"], source.id)
    session.expire_all()
    assert get_source(session, actors["member"], source.id).active is False
    assert get_job(session, actors["member"], queued.id).status == "cancelled"
    with pytest.raises(Conflict):
        request_job(session, actors["editor"], source.id)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == source.id).order_by(AuditEvent.id)
    ).all()
    assert actions == ["harvest_source.create", "harvest_source.delete"]


def _running(session, job, lease_expires_at, worker="host:1:worker"):
    session.execute(
        update(HarvestJob)
        .where(HarvestJob.id == job.id)
        .values(
            status="running",
            worker=worker,
            started_at=utcnow(),
            heartbeat_at=utcnow(),
            lease_expires_at=lease_expires_at,
        )
    )
    session.commit()


def test_cancelling_a_queued_job_ends_it_and_a_running_one_is_asked_to_stop(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    queued = request_job(session, actors["editor"], source.id)
    cancelled = cancel_job(session, actors["editor"], queued.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    with pytest.raises(Conflict):
        cancel_job(session, actors["editor"], queued.id)
    running = request_job(session, actors["editor"], source.id)
    _running(session, running, utcnow() + timedelta(minutes=1))
    asked = cancel_job(session, actors["admin"], running.id)
    assert (asked.status, asked.cancel_requested) == ("running", True)
    audit = session.scalars(
        select(AuditEvent.object_id).where(AuditEvent.action == "harvest_job.cancel")
    ).all()
    assert sorted(audit) == sorted([queued.id, running.id])


def test_a_stuck_job_is_released_by_cancelling_it(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    job = request_job(session, actors["editor"], source.id)
    _running(session, job, utcnow() - timedelta(seconds=5))
    assert cancel_job(session, actors["editor"], job.id).status == "cancelled"
    request_job(session, actors["editor"], source.id)


def test_jobs_whose_lease_expired_are_marked_lost_and_live_ones_are_left(session, world):
    _department, _other, actors = world
    dead_source = create_source(session, actors["editor"], "stats", values(), check_spec)
    live_source = create_source(
        session, actors["editor"], "stats", values(name="另一个"), check_spec
    )
    dead = request_job(session, actors["editor"], dead_source.id)
    live = request_job(session, actors["editor"], live_source.id)
    now = utcnow()
    _running(session, dead, now - timedelta(seconds=1), worker="host-a:12:harvest")
    _running(session, live, now + timedelta(seconds=60))
    lost = mark_lost_jobs(session, now)
    assert [job.id for job in lost] == [dead.id]
    assert lost[0].status == "lost" and lost[0].finished_at is not None
    assert "host-a:12:harvest" in lost[0].error
    assert get_job(session, SYSTEM, live.id).status == "running"
    assert mark_lost_jobs(session, now) == []
    # A lost job no longer blocks its source.
    request_job(session, actors["editor"], dead_source.id)


def test_job_errors_page_in_order(session, world):
    _department, _other, actors = world
    source = create_source(session, actors["editor"], "stats", values(), check_spec)
    job = request_job(session, actors["editor"], source.id)
    for number in range(5):
        session.add(
            HarvestError(job_id=job.id, remote_id=f"r{number}", stage="import", message="bad")
        )
    session.commit()
    page = job_errors(session, actors["member"], job.id, limit=2, offset=2)
    assert [error.remote_id for error in page] == ["r2", "r3"]
    with pytest.raises(InvalidInput):
        job_errors(session, actors["member"], job.id, limit=0)
    with pytest.raises(InvalidInput):
        job_errors(session, actors["member"], job.id, offset=-1)


@pytest.mark.parametrize(
    ("expression", "normalised"),
    [
        ("* * * * *", "* * * * *"),
        ("0  2 * *  *", "0 2 * * *"),
        ("*/15 8-18 1,15 1-12 0-6", "*/15 8-18 1,15 1-12 0-6"),
        ("30 23 * 12 7", "30 23 * 12 7"),
    ],
)
def test_schedules_huey_can_run_are_taken(expression, normalised):
    assert check_schedule(expression) == normalised


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "*/0 * * * *",
        "a b c d e",
        "5-1 * * * *",
    ],
)
def test_schedules_huey_cannot_run_are_refused(expression):
    with pytest.raises(ValueError):
        check_schedule(expression)
