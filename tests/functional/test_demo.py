"""The demo catalog: loaded once through the services, idempotent, and searchable well."""

import os
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from catalog.backends import Backends
from catalog.db import create_database_engine, session_factory, upgrade_database
from catalog.demo.loader import load_demo
from catalog.demo.relevance import judge_searches
from catalog.interfaces import RecordQuery
from catalog.models import AuditEvent, Dataset, Department, Resource, User
from catalog.policy import Actor
from catalog.records.sql import SqlRecordStore
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.services.search import reindex_catalog
from catalog.storage.local import LocalObjectStore
from portal.indexing import drain

OPERATOR = Actor(name="tests", sysadmin=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    engine = create_database_engine(f"sqlite:///{folder / 'catalog.db'}")
    upgrade_database(engine)
    backends = Backends(
        engine=engine,
        sessions=session_factory(engine),
        object_store=LocalObjectStore(folder / "objects"),
        catalog_index=SqliteCatalogIndex(folder / "search.db"),
        record_store=SqlRecordStore(engine),
    )
    backends.catalog_index.ensure()
    with backends.sessions() as session:
        report = load_demo(session, backends.object_store, backends.record_store, OPERATOR)
    drain(backends)
    yield SimpleNamespace(backends=backends, report=report)
    engine.dispose()


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


def test_loading_it_again_changes_nothing(demo):
    with demo.backends.sessions() as session:
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        report = load_demo(
            session, demo.backends.object_store, demo.backends.record_store, OPERATOR
        )
        assert not any(vars(report).values()), report
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events


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
