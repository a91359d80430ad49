"""Another instance of this portal harvests this one through its own CKAN harvester.

Portal A is this portal served over real HTTP (waitress on loopback) from backends of its
own: a SQLite catalog, an object store folder and a search index under the test's folder,
filled through the real services with datasets of every access class, stored CSV files
(UTF-8 and GBK) loaded as records, and links. Portal B is the ``backends`` fixture (SQLite,
and PostgreSQL when it is reachable): a steward of B adds a CKAN harvest source pointing at
A's address, and ``run_job`` harvests it through the real ``HttpFetcher`` (loopback allowed
explicitly, as a test must).

B must end with exactly what A shows an anonymous caller: the datasets of A's public
package_search (conditional ones as metadata without their files, hidden and draft ones not
at all), with their Chinese titles, tags, licences and resources, the stored files byte for
byte, and the tables loaded into B's record store with A's row counts. A second run changes
nothing; after one title changes and one dataset is withdrawn on A, a third run updates one
and withdraws one.
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select

from catalog.backends import Backends
from catalog.db import create_database_engine, session_factory, upgrade_database
from catalog.models import Dataset, HarvestObject, HarvestSource
from catalog.policy import Action, Actor, can
from catalog.records.sql import SqlRecordStore
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.services.datasets import (
    DatasetValues,
    dataset_load_options,
    update_dataset,
    withdraw_dataset,
)
from catalog.services.departments import create_theme, ensure_licenses
from catalog.services.harvest import SourceValues, create_source, request_job
from catalog.services.resources import ResourceValues, add_resource
from catalog.services.users import actor_for_user
from catalog.storage.local import LocalObjectStore
from catalog.vocab import Role
from harvesters.fetch import HttpFetcher
from harvesters.runner import run_job
from harvesters.specs import check_spec
from harvesters.tabular import ingest
from portal.app import create_app
from portal.indexing import drain
from portal.settings import Settings
from tests.factories import SYSTEM, make_dataset, make_department, make_user
from tests.functional.live_server import serve
from tests.unit.harvesters.harvest_support import record_count, writes

TABULAR = Path(__file__).parents[1] / "fixtures" / "tabular"
HARVEST_SETTINGS = SimpleNamespace(harvest_lease_seconds=60, harvest_max_file_bytes=10 * 2**20)
# What A's anonymous callers may see: three open datasets and the conditional one's metadata.
PUBLIC_SLUGS = {"schools", "provinces", "jobs", "exam-scores"}
HIDDEN_SLUGS = {"teacher-roster", "pupil-records", "draft-plan", "old-roster"}
# Real files (UTF-8 and GBK) stored as resources and loaded as records: (dataset, name, file).
TABLES = (
    ("schools", "行政区划（省级）", "nbs_division_codes_2023__provinces.csv"),
    ("provinces", "地区生产总值", "nbs_province_annual__gdp__gbk.csv"),
    ("exam-scores", "成绩表", "nbs_division_codes_2023__cities.csv"),
    ("pupil-records", "学籍表", "nbs_division_codes_2023__areas.csv"),
)
NEW_TITLE = "禅城区中小学校名录（2024年）"


@dataclass
class PortalA:
    url: str
    backends: Backends


def _backends_of(folder: Path) -> Backends:
    """A portal's own backends, all under ``folder``."""
    folder.mkdir(parents=True)
    engine = create_database_engine(f"sqlite:///{folder / 'catalog.db'}")
    upgrade_database(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        ensure_licenses(session)
        session.commit()
    catalog_index = SqliteCatalogIndex(folder / "search.db")
    catalog_index.ensure()
    return Backends(
        engine=engine,
        sessions=sessions,
        object_store=LocalObjectStore(folder / "objects"),
        catalog_index=catalog_index,
        record_store=SqlRecordStore(engine),
    )


def _table(session, backends: Backends, slug: str, name: str, file_name: str) -> None:
    """A real CSV file stored as the dataset's resource and loaded as its records."""
    path = TABULAR / file_name
    resource = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        slug,
        ResourceValues(name=name, format="CSV", media_type="text/csv"),
        io.BytesIO(path.read_bytes()),
        file_name,
    )
    with path.open("rb") as stream:
        report = ingest(stream, None, backends.record_store, resource.id, file_name=file_name)
    assert report.rows_loaded > 0 and not report.rows_failed


def _fill(backends: Backends) -> None:
    with backends.sessions() as session:
        edu = make_department(session, slug="edu", name="佛山市禅城区教育局")
        stats = make_department(session, slug="stats", name="佛山市禅城区统计局")
        create_theme(session, SYSTEM, "education", "教育科技", "Education")
        make_dataset(
            session,
            edu,
            slug="schools",
            title="禅城区中小学校名录",
            description="全区公办、民办中小学校的名称与所属镇街。",
            tags=["学校", "名录"],
            themes=["education"],
            license="gov-open",
        )
        make_dataset(
            session,
            stats,
            slug="provinces",
            title="各省地区生产总值（亿元）",
            tags=["统计", "生产总值"],
            license="cc-by-4.0",
        )
        make_dataset(session, stats, slug="jobs", title="招聘岗位信息接口", tags=["就业"])
        make_dataset(
            session,
            edu,
            slug="exam-scores",
            title="中考成绩统计",
            open_type="conditional",
            share_type="conditional",
            tags=["考试"],
        )
        make_dataset(session, edu, slug="teacher-roster", title="教师花名册", open_type="not_open")
        make_dataset(
            session,
            edu,
            slug="pupil-records",
            title="学籍档案",
            open_type="not_open",
            share_type="not_shared",
        )
        make_dataset(session, edu, slug="draft-plan", title="招生计划草稿", state="draft")
        make_dataset(session, edu, slug="old-roster", title="旧名录")
        withdraw_dataset(session, SYSTEM, "old-roster")
        for slug, name, file_name in TABLES:
            _table(session, backends, slug, name, file_name)
        add_resource(
            session,
            SYSTEM,
            backends.object_store,
            "schools",
            ResourceValues(name="学校查询接口", format="API", url="https://edu.example.cn/api"),
        )
        add_resource(
            session,
            SYSTEM,
            backends.object_store,
            "jobs",
            ResourceValues(name="岗位接口", format="API", url="https://jobs.example.cn/api"),
        )
    drain(backends)


@pytest.fixture
def portal_a(tmp_path) -> Iterator[PortalA]:
    """Portal A, filled and served on a loopback port; apart from B in every backend."""
    folder = tmp_path / "portal-a"
    backends = _backends_of(folder)
    _fill(backends)
    settings = Settings.load(
        environ={},
        overrides={
            "instance_path": str(folder / "instance"),
            "database_url": backends.engine.url.render_as_string(hide_password=False),
            "storage_url": (folder / "objects").as_uri(),
            "search_url": f"sqlite:///{folder / 'search.db'}",
            "secret_key": "portal-a-secret",
        },
        testing=True,
    )
    with serve(create_app(settings, backends)) as url:
        yield PortalA(url=url, backends=backends)
    backends.engine.dispose()


@pytest.fixture
def harvest_source(session, portal_a) -> HarvestSource:
    """B's CKAN harvest source of A, added by a steward of B's department."""
    mirror = make_department(session, slug="mirror", name="市级数据共享平台镜像")
    create_theme(session, SYSTEM, "education", "教育科技", "Education")
    steward = make_user(session, name="mirror-steward", department=mirror, role=Role.EDITOR)
    return create_source(
        session,
        actor_for_user(session, steward),
        "mirror",
        SourceValues(name="区级开放平台", kind="ckan", url=portal_a.url),
        check_spec,
    )


def harvest(session, backends: Backends, source: HarvestSource):
    job = request_job(session, SYSTEM, source.id)
    # Loopback is refused by default (no SSRF into the network); the test allows it.
    fetcher = HttpFetcher(allow_private=True, timeout=10.0)
    ended = run_job(backends, HARVEST_SETTINGS, job.id, fetcher=fetcher, worker_name="portal-b")
    assert ended.status == "succeeded", ended.error
    return ended


def counts(job) -> dict[str, int]:
    names = ("created", "updated", "unchanged", "withdrawn", "failed")
    return {name: getattr(job, name) for name in names}


def anonymous_search(url: str) -> list[dict]:
    """A's package_search as any CKAN client without a key sees it."""
    answer = httpx.get(f"{url}/api/3/action/package_search", params={"rows": 1000})
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True and body["result"]["count"] == len(body["result"]["results"])
    return body["result"]["results"]


def a_datasets(backends: Backends) -> dict[str, Dataset]:
    """A's datasets by id, with what the comparisons read."""
    with backends.sessions() as session:
        datasets = session.scalars(select(Dataset).options(*dataset_load_options())).all()
        return {dataset.id: dataset for dataset in datasets}


def mirrored(session, source: HarvestSource) -> dict[str, Dataset]:
    """B's datasets made from A, by A's dataset id (the harvest object's remote id)."""
    session.expire_all()
    objects = session.scalars(select(HarvestObject).where(HarvestObject.source_id == source.id))
    return {item.remote_id: session.get(Dataset, item.dataset_id) for item in objects}


def stored_bytes(backends: Backends, key: str) -> bytes:
    return b"".join(backends.object_store.open(key))


def test_portal_b_harvests_exactly_what_portal_a_shows_the_public(
    session, backends, portal_a, harvest_source
):
    a = portal_a.backends
    everything = a_datasets(a)
    public = {
        dataset_id
        for dataset_id, dataset in everything.items()
        if can(Actor.anonymous(), Action.VIEW, dataset)
    }
    # A's policy and A's anonymous Action API agree on what is public.
    assert {package["id"] for package in anonymous_search(portal_a.url)} == public
    assert {everything[dataset_id].slug for dataset_id in public} == PUBLIC_SLUGS
    assert {dataset.slug for dataset in everything.values()} - PUBLIC_SLUGS == HIDDEN_SLUGS

    first = harvest(session, backends, harvest_source)
    assert counts(first) == {
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "withdrawn": 0,
        "failed": 0,
    }
    copies = mirrored(session, harvest_source)
    assert set(copies) == public
    titles = {copy.title for copy in copies.values()}
    assert not titles & {everything[i].title for i in everything if i not in public}
    for dataset_id, copy in copies.items():
        original = everything[dataset_id]
        assert copy.title == original.title
        assert copy.description == original.description
        assert copy.state == "published"
        assert copy.department.slug == "mirror"
        assert sorted(tag.name for tag in copy.tags) == sorted(tag.name for tag in original.tags)
        assert copy.license_id == original.license_id
        assert [theme.slug for theme in copy.themes] == [t.slug for t in original.themes]
        assert copy.extras["harvest_remote_id"] == dataset_id
    # Conditional data reaches the public as metadata only: B gets no file of it.
    exam = next(copy for copy in copies.values() if copy.title == "中考成绩统计")
    assert exam.resources == []

    for dataset_id in public - {exam.extras["harvest_remote_id"]}:
        original, copy = everything[dataset_id], copies[dataset_id]
        assert [(r.name, r.format) for r in copy.resources] == [
            (r.name, r.format) for r in original.resources
        ]
        for theirs, ours in zip(original.resources, copy.resources, strict=True):
            if theirs.storage_key is None:
                assert ours.storage_key is None and ours.url == theirs.url
                continue
            assert ours.sha256 == theirs.sha256 and ours.size == theirs.size
            assert stored_bytes(backends, ours.storage_key) == stored_bytes(a, theirs.storage_key)
            assert ours.row_count == record_count(a.record_store, theirs.id) > 0
            assert record_count(backends.record_store, ours.id) == ours.row_count
    # Only the public datasets' files were copied: two CSV files, nothing of the others.
    stored = writes(session, backends)["objects in the store"]
    assert len(stored) == 2 and all(key.startswith("mirror/") for key in stored)

    # Again, with nothing changed on A: nothing is written on B.
    before = writes(session, backends)
    second = harvest(session, backends, harvest_source)
    assert counts(second) == {
        "created": 0,
        "updated": 0,
        "unchanged": 4,
        "withdrawn": 0,
        "failed": 0,
    }
    assert writes(session, backends) == before

    # A steward of A retitles one dataset and withdraws another.
    with a.sessions() as a_session:
        update_dataset(a_session, SYSTEM, "schools", DatasetValues(title=NEW_TITLE))
        withdraw_dataset(a_session, SYSTEM, "provinces")
    drain(a)
    third = harvest(session, backends, harvest_source)
    assert counts(third) == {
        "created": 0,
        "updated": 1,
        "unchanged": 2,
        "withdrawn": 1,
        "failed": 0,
    }
    copies = mirrored(session, harvest_source)
    by_slug = {everything[dataset_id].slug: copy for dataset_id, copy in copies.items()}
    assert by_slug["schools"].title == NEW_TITLE
    assert by_slug["provinces"].state == "withdrawn"
    assert by_slug["jobs"].state == by_slug["exam-scores"].state == "published"
    # The withdrawn copy keeps its file and records for its department, as A's does.
    assert writes(session, backends)["objects in the store"] == stored
