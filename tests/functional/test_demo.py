"""The demo catalog: loaded once through the services, idempotent, and searchable well."""

import json
import os
import re
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event, func, select

from catalog.demo import timeline
from catalog.demo.loader import DATA, Site, load_demo
from catalog.demo.relevance import judge_searches
from catalog.interfaces import RecordQuery
from catalog.models import (
    AuditEvent,
    Dataset,
    Department,
    Grant,
    Resource,
    ResourceVersion,
    SearchOutbox,
    User,
)
from catalog.policy import Actor, visible_clause
from catalog.services.datasets import DatasetValues, update_dataset
from catalog.services.search import reindex_catalog
from portal.views import LATEST_ON_HOME
from tests.factories import bearer, make_user, token_for
from tests.functional.demo_instance import load_demo_instance

OPERATOR = Actor(name="tests", sysadmin=True)
SITE = Site.read()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    demo = load_demo_instance(tmp_path_factory.mktemp("demo"), OPERATOR)
    yield demo
    demo.backends.engine.dispose()


def test_the_demo_has_the_district_in_it(demo):
    report = demo.report
    assert (report.departments, report.datasets) == (23, 301)
    assert report.files > 100
    with demo.backends.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Department)) == 23
        assert session.scalar(select(User).where(User.name == "admin")).sysadmin
        stewards = session.scalar(select(func.count()).where(User.name.like("%-steward")))
        assert stewards == 23
        stored = session.scalars(select(Resource).where(Resource.storage_key.is_not(None))).all()
        assert len(stored) == report.files
        for resource in stored[:20]:
            assert demo.backends.object_store.exists(resource.storage_key)
            assert len(resource.sha256) == 64 and resource.size > 0
            # Tabular files have their rows in the record store.
            page = demo.backends.record_store.query(resource.id, RecordQuery(limit=1))
            assert page.total == resource.row_count
        open_types = dict(
            session.execute(
                select(Dataset.open_type, func.count()).group_by(Dataset.open_type)
            ).all()
        )
        assert set(open_types) == {"unconditional", "conditional", "not_open"}


def _load_again(demo):
    """Load the demo again; the SQL statements that wrote, and the report."""
    writes = []

    def record(_connection, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(demo.backends.engine, "before_cursor_execute", record)
    try:
        with demo.backends.sessions() as session:
            report = load_demo(
                session, demo.backends.object_store, demo.backends.record_store, OPERATOR
            )
    finally:
        event.remove(demo.backends.engine, "before_cursor_execute", record)
    return writes, report


def test_loading_it_again_writes_nothing(demo):
    with demo.backends.sessions() as session:
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        times = session.execute(
            select(Dataset.slug, Dataset.created_at, Dataset.modified_at, Dataset.revision)
        ).all()
    writes, report = _load_again(demo)
    assert not any(vars(report).values()), report
    assert writes == []
    with demo.backends.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
        assert session.scalar(select(func.count()).select_from(SearchOutbox)) == 0
        again = session.execute(
            select(Dataset.slug, Dataset.created_at, Dataset.modified_at, Dataset.revision)
        ).all()
    assert sorted(again) == sorted(times)


def test_datasets_carry_the_demos_times_not_the_loading_time(demo):
    specs = json.loads((DATA / "datasets.json").read_text(encoding="utf-8"))
    release_dates = {spec["slug"]: date.fromisoformat(spec["release_date"]) for spec in specs}
    with demo.backends.sessions() as session:
        datasets = session.scalars(select(Dataset)).all()
        for dataset in datasets:
            release = release_dates[dataset.slug]
            created = timeline.created_at(dataset.slug, release, SITE.reference_time)
            assert dataset.created_at == created
            assert dataset.modified_at == timeline.modified_at(
                dataset.slug, dataset.update_frequency, created, SITE.reference_time
            )
            for resource in dataset.resources:
                assert (resource.created_at, resource.modified_at) == (created, dataset.modified_at)
        versions = session.scalars(select(ResourceVersion)).all()
        assert versions
        latest = {d.id: d.modified_at for d in datasets}
        by_resource = {r.id: r.dataset_id for r in session.scalars(select(Resource))}
        assert all(v.created_at == latest[by_resource[v.resource_id]] for v in versions)
    assert max(latest.values()) <= SITE.reference_time < datetime.now(UTC)


def test_the_home_page_lists_the_latest_datasets_by_their_demo_times(demo):
    with demo.backends.sessions() as session:
        expected = session.scalars(
            select(Dataset.slug)
            .where(visible_clause(Actor.anonymous(), Dataset))
            .order_by(Dataset.modified_at.desc())
            .limit(LATEST_ON_HOME)
        ).all()
    html = demo.client.get("/").get_data(as_text=True)
    latest = html[html.index("最新数据集") :]
    assert re.findall(r'result__title"><a href="/datasets/([^"]+)"', latest) == expected
    shown = re.findall(r'更新于 <time datetime="([\d-]+)"', latest)
    assert shown and all(day <= SITE.reference_time.date().isoformat() for day in shown)


def test_api_links_are_dataset_paths_this_portal_serves(demo):
    adapter = demo.app.url_map.bind("data.chancheng.gov.cn")
    with demo.backends.sessions() as session:
        links = session.execute(
            select(Dataset.slug, Department.slug, Resource.format, Resource.url)
            .add_columns(visible_clause(Actor.anonymous(), Dataset))
            .join(Resource.dataset)
            .join(Dataset.department)
            .where(Resource.url.is_not(None))
        ).all()
    assert len(links) > 150
    for slug, department, file_format, url, public in links:
        if file_format == "API":
            assert url == f"{SITE.portal_url}/api/v1/datasets/{slug}"
            endpoint, arguments = adapter.match(urlsplit(url).path)
            assert arguments == {"slug": slug}, endpoint
            if public:
                assert demo.client.get(urlsplit(url).path).status_code == 200
        else:
            assert url.startswith(SITE.department_sites[department] + "/")


def test_demo_grants_open_conditional_data_to_their_grantees(demo):
    with demo.backends.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Grant)) == 6
        citizen = session.scalar(select(User).where(User.name == "citizen"))
        assert not citizen.sysadmin
        tokens = {
            name: token_for(session, session.scalar(select(User).where(User.name == name)))
            for name in ("citizen", "edu-steward", "health-steward")
        }
        tokens["other citizen"] = token_for(session, make_user(session))

    def fetch(slug, name=None):
        headers = bearer(tokens[name]) if name else {}
        dataset = demo.client.get(f"/api/v1/datasets/{slug}", headers=headers)
        if dataset.status_code != 200:
            return dataset.status_code
        stored = next(r for r in dataset.get_json()["resources"] if r.get("size"))
        url = f"/api/v1/datasets/{slug}/resources/{stored['id']}/download"
        return demo.client.get(url, headers=headers, follow_redirects=True).status_code

    # 有条件开放: the citizen holds a grant, the public does not.
    assert fetch("civil-address-codes", "citizen") == 200
    assert fetch("civil-address-codes") == 403
    assert fetch("civil-address-codes", "other citizen") == 403
    # 不予开放 + 有条件共享: 教育局 holds a grant on 民政局's 低保 list, 卫健局 does not.
    assert fetch("civil-minimum-living", "edu-steward") == 200
    assert fetch("civil-minimum-living", "health-steward") == 403
    assert fetch("civil-minimum-living", "citizen") == 404


def test_every_judged_search_finds_its_dataset_first(demo):
    with demo.backends.sessions() as session:
        judged = judge_searches(session, demo.backends.catalog_index)
    assert len(judged) >= 30
    misses = [
        f"{j.q} ({j.kind}): got {j.first}, wanted {sorted(j.expected)}" for j in judged if not j.ok
    ]
    assert not misses, "\n".join(misses)


@pytest.mark.parametrize(
    "engine",
    [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                not os.environ.get(f"OPENDATA_TEST_{name.upper()}_URL"),
                reason=f"OPENDATA_TEST_{name.upper()}_URL is not set",
            ),
        )
        for name in ("opensearch", "elasticsearch")
    ],
)
def test_judged_searches_on_the_engines(demo, engine):
    from catalog.search import catalog_index_from_settings

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    index = catalog_index_from_settings(
        SimpleNamespace(
            search_url=os.environ[f"OPENDATA_TEST_{engine.upper()}_URL"],
            search_index_prefix=prefix,
        )
    )
    try:
        with demo.backends.sessions() as session:
            assert reindex_catalog(session, index) == 301
            judged = judge_searches(session, index)
        misses = [f"{j.q}: got {j.first}" for j in judged if not j.ok]
        assert not misses, "\n".join(misses)
    finally:
        index.delete_indices()


def test_a_dataset_its_steward_changed_keeps_its_own_times_when_loaded_again(demo):
    slug = "police-hotel-registrations"  # hidden from the public, so searches keep their order
    with demo.backends.sessions() as session:
        modified = update_dataset(session, OPERATOR, slug, DatasetValues(version="1.1")).modified_at
    writes, report = _load_again(demo)
    assert writes == [] and not any(vars(report).values())
    with demo.backends.sessions() as session:
        assert session.scalar(select(Dataset.modified_at).where(Dataset.slug == slug)) == modified
