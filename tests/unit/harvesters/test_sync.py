"""The import step (harvesters.sync) on every database, with real fixture files, a real
object store (the local folder; S3 on MinIO once) and the record store: new, unchanged and
changed objects, conditional GETs against a local HTTP server, bad rows, atomic failure,
withdrawal and republishing."""

import hashlib
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from catalog.backends import Backends
from catalog.models import (
    AuditEvent,
    Dataset,
    HarvestError,
    HarvestJob,
    HarvestObject,
    Resource,
    ResourceVersion,
    SearchOutbox,
)
from catalog.services.departments import create_theme
from harvesters.fetch import HttpFetcher
from harvesters.interfaces import RemoteResource
from harvesters.sync import Outcome, sync_dataset, withdraw_missing
from tests.factories import SYSTEM, make_department
from tests.unit.harvesters.harvest_support import (
    GEO,
    TABULAR,
    ServedFile,
    file_resource,
    loopback_fetcher,
    make_job,
    make_source,
    record_count,
    remote_dataset,
    stored_keys,
    writes,
)
from tests.unit.harvesters.http_server import LocalHttpServer

GDP = TABULAR / "nbs_province_annual__gdp__gbk.csv"
PROVINCES = TABULAR / "nbs_division_codes_2023__provinces.csv"
CITIES = TABULAR / "nbs_division_codes_2023__cities.csv"
WELLS = TABULAR / "acumar_monitoring_wells__semicolon.csv"
GDP_GBK = TABULAR / "nbs_province_annual__gdp__gbk.csv"
NOT_A_TABLE = TABULAR / "semic_dcat-ap_3.0.1__bee-population-series-combined__INVALID.ttl"
BUS_STOPS = GEO / "shanghai_bus71_stops.geojson"
LIMIT = 50 * 1024 * 1024


@pytest.fixture
def harvest(session, backends):
    department = make_department(session, slug="stats", name="区统计局")
    create_theme(session, SYSTEM, "economy", "经济建设", "Economy")
    source = make_source(session, department)
    return SimpleNamespace(
        department=department, source=source, job=make_job(session, source), backends=backends
    )


def run(session, harvest, remote, fetcher=None, max_file_bytes=LIMIT, job=None):
    return sync_dataset(
        session,
        harvest.backends,
        harvest.source,
        job or harvest.job,
        remote,
        fetcher or loopback_fetcher(),
        max_file_bytes=max_file_bytes,
    )


def dataset_of(session, source, remote_id) -> Dataset:
    harvest_object = session.scalar(
        select(HarvestObject).where(
            HarvestObject.source_id == source.id, HarvestObject.remote_id == remote_id
        )
    )
    session.expire_all()
    return session.get(Dataset, harvest_object.dataset_id)


def counts(session, job) -> tuple[int, ...]:
    session.expire_all()
    row = session.get(HarvestJob, job.id)
    return row.created, row.updated, row.unchanged, row.withdrawn, row.failed


def gdp_dataset(**values):
    resources = (
        file_resource(GDP, "gdp", name="地区生产总值"),
        file_resource(BUS_STOPS, "stops", name="71路公交站点", format="GEOJSON"),
        RemoteResource(
            remote_id="api", name="接口", url="https://data.example.cn/api/gdp", store=False
        ),
    )
    given = {
        "title": "分省年度数据 GDP",
        "title_en": "Provincial GDP, yearly",
        "tags": ("统计", "GDP", "  "),
        "themes": ("Economy", "未知主题"),
        "license": "https://creativecommons.org/licenses/by/4.0/legalcode",
        "landing_page": "https://data.example.cn/dataset/gdp",
        "update_frequency": "annual",
        "extras": {"publisher": "国家统计局"},
    } | values
    return remote_dataset("gdp-2023", *resources, **given)


def test_a_new_object_becomes_a_dataset_with_its_files_and_records(session, harvest):
    assert run(session, harvest, gdp_dataset()) is Outcome.CREATED
    dataset = dataset_of(session, harvest.source, "gdp-2023")
    assert dataset.slug.startswith("provincial-gdp-yearly-") and len(dataset.slug) <= 100
    assert dataset.department.slug == "stats"
    assert (dataset.open_type, dataset.share_type, dataset.state) == (
        "unconditional",
        "unconditional",
        "published",
    )
    assert dataset.license_id == "cc-by-4.0"
    assert [t.slug for t in dataset.themes] == ["economy"]
    assert sorted(t.name for t in dataset.tags) == ["GDP", "统计"]
    assert dataset.update_frequency == "annual"
    assert dataset.provider == "区统计局"
    assert dataset.extras["harvest_themes"] == ["未知主题"]
    assert dataset.extras["harvest_remote_id"] == "gdp-2023"
    assert dataset.extras["landing_page"] == "https://data.example.cn/dataset/gdp"
    assert dataset.extras["harvest_source_url"] == "https://data.example.cn/catalog"
    assert dataset.extras["publisher"] == "国家统计局"

    gdp, stops, api = dataset.resources
    assert (gdp.name, stops.name, api.name) == ("地区生产总值", "71路公交站点", "接口")
    assert gdp.storage_key.startswith(f"stats/{dataset.slug}/{gdp.id}/v1/")
    assert gdp.sha256 == hashlib.sha256(GDP.read_bytes()).hexdigest()
    assert gdp.size == GDP.stat().st_size and gdp.version == 1
    assert b"".join(harvest.backends.object_store.open(gdp.storage_key)) == GDP.read_bytes()
    assert gdp.row_count == record_count(harvest.backends.record_store, gdp.id) > 0
    assert gdp.fields and all(f["type"] for f in gdp.fields)
    assert stops.row_count == record_count(harvest.backends.record_store, stops.id) > 0
    assert (api.url, api.storage_key) == ("https://data.example.cn/api/gdp", None)
    versions = session.scalars(select(ResourceVersion.resource_id)).all()
    assert sorted(versions) == sorted([gdp.id, stops.id])

    events = session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == dataset.id).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.actor_name) for e in events] == [("dataset.create", "harvest:测试采集源")]
    assert session.scalars(select(SearchOutbox.dataset_id)).all() == [dataset.id]
    assert counts(session, harvest.job) == (1, 0, 0, 0, 0)


def test_the_same_object_again_is_unchanged_and_writes_nothing(session, harvest):
    run(session, harvest, gdp_dataset())
    before = writes(session, harvest.backends)
    assert run(session, harvest, gdp_dataset()) is Outcome.UNCHANGED
    assert writes(session, harvest.backends) == before
    assert counts(session, harvest.job) == (1, 0, 0, 0, 0)


def test_changed_metadata_and_content_update_the_dataset_and_keep_old_versions(
    session, harvest, tmp_path
):
    changing = tmp_path / "gdp.csv"
    changing.write_bytes(GDP.read_bytes())
    resource = file_resource(changing, "gdp", name="地区生产总值")
    run(session, harvest, remote_dataset("gdp", resource, title="GDP"))
    first = dataset_of(session, harvest.source, "gdp").resources[0]
    first_key, first_rows = first.storage_key, first.row_count

    changing.write_bytes(CITIES.read_bytes())
    assert run(session, harvest, remote_dataset("gdp", resource, title="GDP 与就业")) is (
        Outcome.UPDATED
    )
    dataset = dataset_of(session, harvest.source, "gdp")
    second = dataset.resources[0]
    assert (dataset.title, dataset.revision) == ("GDP 与就业", 2)
    assert second.id == first.id and second.version == 2
    assert second.storage_key != first_key and "/v2/" in second.storage_key
    assert harvest.backends.object_store.exists(first_key)
    assert second.sha256 == hashlib.sha256(CITIES.read_bytes()).hexdigest()
    assert second.row_count == record_count(harvest.backends.record_store, second.id)
    assert second.row_count != first_rows
    versions = session.scalars(
        select(ResourceVersion.version).where(ResourceVersion.resource_id == second.id)
    ).all()
    assert sorted(versions) == [1, 2]
    update = session.scalars(select(AuditEvent).where(AuditEvent.action == "dataset.update")).one()
    assert (update.before["title"], update.after["title"]) == ("GDP", "GDP 与就业")
    assert counts(session, harvest.job) == (1, 1, 0, 0, 0)


def test_metadata_alone_changes_without_a_new_version(session, harvest):
    run(session, harvest, gdp_dataset())
    keys = stored_keys(harvest.backends.object_store)
    assert run(session, harvest, gdp_dataset(description="新的说明")) is Outcome.UPDATED
    assert stored_keys(harvest.backends.object_store) == keys
    assert dataset_of(session, harvest.source, "gdp-2023").description == "新的说明"


def test_a_steward_s_field_titles_and_sensitive_marks_survive_a_new_version(
    session, harvest, tmp_path
):
    changing = tmp_path / "provinces.csv"
    changing.write_bytes(PROVINCES.read_bytes())
    remote = remote_dataset("p", file_resource(changing, "p"))
    run(session, harvest, remote)
    resource = dataset_of(session, harvest.source, "p").resources[0]
    marked = [dict(f) for f in resource.fields]
    marked[0] |= {"title": "代码（人工）", "sensitive": True}
    resource.fields = marked
    session.commit()
    changing.write_bytes(PROVINCES.read_bytes() + PROVINCES.read_bytes().splitlines(True)[1])
    assert run(session, harvest, remote) is Outcome.UPDATED
    fields = dataset_of(session, harvest.source, "p").resources[0].fields
    assert fields[0]["title"] == "代码（人工）" and fields[0]["sensitive"] is True


def test_a_resource_gone_from_the_source_leaves_the_dataset_but_its_files_stay(session, harvest):
    run(session, harvest, gdp_dataset())
    dataset = dataset_of(session, harvest.source, "gdp-2023")
    stops = dataset.resources[1]
    fewer = gdp_dataset(resources=(gdp_dataset().resources[0], gdp_dataset().resources[2]))
    assert run(session, harvest, fewer) is Outcome.UPDATED
    dataset = dataset_of(session, harvest.source, "gdp-2023")
    assert [r.name for r in dataset.resources] == ["地区生产总值", "接口"]
    assert [r.position for r in dataset.resources] == [0, 1]
    assert harvest.backends.object_store.exists(stops.storage_key)
    assert not harvest.backends.record_store.exists(stops.id)


def test_url_resources_are_fetched_again_only_when_the_server_says_they_changed(session, harvest):
    served = ServedFile(PROVINCES.read_bytes())
    with LocalHttpServer() as server:
        server.add("/files/provinces.csv", served)
        url = server.url("/files/provinces.csv")
        remote = remote_dataset("p", RemoteResource(remote_id=url, name="省份", url=url))
        assert run(session, harvest, remote) is Outcome.CREATED
        assert run(session, harvest, remote) is Outcome.UNCHANGED
        assert (served.served, served.not_modified) == (1, 1)
        served.replace(CITIES.read_bytes())
        assert run(session, harvest, remote) is Outcome.UPDATED
        assert served.served == 2
        resource = dataset_of(session, harvest.source, "p").resources[0]
    assert resource.version == 2
    assert resource.sha256 == hashlib.sha256(CITIES.read_bytes()).hexdigest()
    assert resource.storage_key.endswith("/v2/provinces.csv")


@pytest.mark.parametrize("refused_by", ["fetcher", "sync"])
def test_a_file_over_the_limit_is_kept_as_a_link(session, harvest, refused_by):
    served = ServedFile(CITIES.read_bytes())
    small = len(served.content) - 1
    # The portal gives both the same limit; the fetcher then refuses first.
    fetcher = HttpFetcher(allow_private=True, timeout=10.0, max_file_bytes=small)
    with LocalHttpServer() as server:
        server.add("/cities.csv", served)
        url = server.url("/cities.csv")
        remote = remote_dataset("c", RemoteResource(remote_id="c", name="城市", url=url))
        chosen = fetcher if refused_by == "fetcher" else loopback_fetcher()
        assert run(session, harvest, remote, chosen, max_file_bytes=small) is Outcome.CREATED
    resource = dataset_of(session, harvest.source, "c").resources[0]
    assert (resource.url, resource.storage_key, resource.row_count) == (url, None, None)
    assert stored_keys(harvest.backends.object_store) == []


def test_a_file_over_the_limit_without_a_web_address_fails(session, harvest):
    remote = remote_dataset("c", file_resource(CITIES, "c"))
    assert run(session, harvest, remote, max_file_bytes=100) is Outcome.FAILED
    error = session.scalars(select(HarvestError)).one()
    assert error.stage == "import" and "no http(s) URL to link to" in error.message


class CountingOpener:
    """Opens a file and counts how often it was opened."""

    def __init__(self, path):
        self.path = path
        self.opened = 0

    def __call__(self):
        self.opened += 1
        return file_resource(self.path).opener()


@pytest.mark.parametrize(
    "stated",
    [
        {"etag": '"s3-etag-1"'},
        {"last_modified": "Tue, 14 Nov 2023 22:13:20 GMT"},
        {"content_hash": "sha256:" + hashlib.sha256(PROVINCES.read_bytes()).hexdigest()},
    ],
    ids=["etag", "last_modified", "content_hash"],
)
def test_what_a_source_states_of_a_file_spares_reading_it_again(session, harvest, stated):
    opener = CountingOpener(PROVINCES)
    resource = file_resource(PROVINCES, "p", opener=opener, **stated)
    assert run(session, harvest, remote_dataset("p", resource)) is Outcome.CREATED
    assert run(session, harvest, remote_dataset("p", resource)) is Outcome.UNCHANGED
    assert opener.opened == 1
    # Stated differently but the same bytes: read, compared, and still unchanged.
    restated = file_resource(PROVINCES, "p", opener=opener, etag='"s3-etag-2"')
    before = writes(session, harvest.backends)
    assert run(session, harvest, remote_dataset("p", restated)) is Outcome.UNCHANGED
    assert opener.opened == 2 and writes(session, harvest.backends) == before
    assert run(session, harvest, remote_dataset("p", restated)) is Outcome.UNCHANGED
    assert opener.opened == 2


def test_bad_rows_are_reported_with_their_line_numbers(session, harvest):
    assert run(session, harvest, remote_dataset("wells", file_resource(WELLS, "w"))) is (
        Outcome.CREATED
    )
    resource = dataset_of(session, harvest.source, "wells").resources[0]
    assert resource.row_count == record_count(harvest.backends.record_store, resource.id)
    errors = session.scalars(select(HarvestError).order_by(HarvestError.id)).all()
    assert "6 rows did not fit their fields" in errors[0].message
    lines = errors[1:]
    assert len(lines) == 6 and all(e.stage == "import" and e.remote_id == "wells" for e in lines)
    assert all("line " in e.message for e in lines)
    assert lines[-1].payload == "-34.55919444,-5850041667"
    assert counts(session, harvest.job) == (1, 0, 0, 0, 0)


def test_lines_that_are_not_data_are_reported_not_dropped(session, harvest):
    # A statistics bureau export: title lines above the header, notes below the data.
    gdp = file_resource(GDP_GBK, "gdp")
    assert run(session, harvest, remote_dataset("gdp", gdp)) is Outcome.CREATED
    errors = session.scalars(select(HarvestError).order_by(HarvestError.id)).all()
    summary = [e for e in errors if "lines were not loaded as records" in e.message]
    assert len(summary) == 1
    skipped = [e for e in errors if e.id > summary[0].id]
    assert skipped and all(": line " in e.message and e.payload for e in skipped)
    assert counts(session, harvest.job) == (1, 0, 0, 0, 0)


def test_a_file_that_is_no_table_is_stored_and_reported(session, harvest):
    resource = file_resource(NOT_A_TABLE, "ttl", format="CSV", file_name="bees.csv")
    assert run(session, harvest, remote_dataset("bees", resource)) is Outcome.CREATED
    stored = dataset_of(session, harvest.source, "bees").resources[0]
    assert stored.storage_key and stored.fields == [] and stored.row_count is None
    assert not harvest.backends.record_store.exists(stored.id)
    error = session.scalars(select(HarvestError)).one()
    assert "not loaded as records" in error.message


@contextmanager
def _broken():
    raise OSError("disk read error")
    yield  # pragma: no cover - never reached


def test_a_failing_resource_takes_back_the_whole_object(session, harvest):
    remote = remote_dataset(
        "broken",
        file_resource(GDP, "gdp"),
        RemoteResource(remote_id="bad", name="坏文件", opener=_broken),
        raw='{"id": "broken", "note": "原始数据"}',
    )
    assert run(session, harvest, remote) is Outcome.FAILED
    assert session.scalars(select(Dataset)).all() == []
    assert session.scalars(select(HarvestObject)).all() == []
    assert session.scalars(select(Resource)).all() == []
    assert stored_keys(harvest.backends.object_store) == []
    error = session.scalars(select(HarvestError)).one()
    assert (error.stage, error.remote_id) == ("fetch", "broken")
    assert "disk read error" in error.message
    assert error.payload == '{"id": "broken", "note": "原始数据"}'
    assert counts(session, harvest.job) == (0, 0, 0, 0, 1)


def test_an_object_the_catalog_refuses_fails_after_its_files_were_stored(session, harvest):
    remote = remote_dataset("untitled", file_resource(PROVINCES, "p"), title="   ")
    assert run(session, harvest, remote) is Outcome.FAILED
    assert stored_keys(harvest.backends.object_store) == []
    assert session.scalars(select(Dataset)).all() == []
    error = session.scalars(select(HarvestError)).one()
    assert error.stage == "import" and "title" in error.message
    # The next run takes it once it is fixed.
    fixed = remote_dataset("untitled", file_resource(PROVINCES, "p"), title="省份")
    assert run(session, harvest, fixed) is Outcome.CREATED


def test_dataset_defaults_of_the_source_apply_to_new_datasets(session, harvest):
    source = make_source(
        session,
        harvest.department,
        name="有条件开放的源",
        dataset_defaults={
            "open_type": "conditional",
            "share_type": "not_shared",
            "state": "draft",
            "themes": ["economy"],
            "license_id": "gov-open",
            "update_frequency": "monthly",
        },
    )
    harvest.source = source
    job = make_job(session, source)
    remote = remote_dataset("d", file_resource(PROVINCES, "p"), update_frequency="每季度")
    assert run(session, harvest, remote, job=job) is Outcome.CREATED
    dataset = dataset_of(session, source, "d")
    assert (dataset.open_type, dataset.share_type, dataset.state) == (
        "conditional",
        "not_shared",
        "draft",
    )
    assert [t.slug for t in dataset.themes] == ["economy"]
    assert (dataset.license_id, dataset.update_frequency) == ("gov-open", "quarterly")


def test_objects_gone_from_a_complete_run_are_withdrawn_and_come_back_when_seen(session, harvest):
    kept = remote_dataset("kept", file_resource(PROVINCES, "p"))
    gone = remote_dataset("gone", file_resource(CITIES, "c"))
    run(session, harvest, kept)
    run(session, harvest, gone)
    assert withdraw_missing(session, harvest.backends, harvest.source, harvest.job, {"kept"}) == 1
    withdrawn = dataset_of(session, harvest.source, "gone")
    assert withdrawn.state == "withdrawn"
    assert dataset_of(session, harvest.source, "kept").state == "published"
    actions = session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_id == withdrawn.id)
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["dataset.create", "dataset.withdraw"]
    assert withdraw_missing(session, harvest.backends, harvest.source, harvest.job, {"kept"}) == 0
    assert counts(session, harvest.job) == (2, 0, 0, 1, 0)

    assert run(session, harvest, gone) is Outcome.UPDATED
    assert dataset_of(session, harvest.source, "gone").state == "published"
    harvest_object = session.scalars(
        select(HarvestObject).where(HarvestObject.remote_id == "gone")
    ).one()
    assert harvest_object.withdrawn_at is None


def test_on_missing_keep_leaves_datasets_as_they_are(session, harvest):
    source = make_source(session, harvest.department, name="保留", on_missing="keep")
    harvest.source = source
    job = make_job(session, source)
    run(session, harvest, remote_dataset("x", file_resource(PROVINCES, "p")), job=job)
    assert withdraw_missing(session, harvest.backends, source, job, set()) == 0
    assert dataset_of(session, source, "x").state == "published"


def test_a_dataset_deleted_by_a_steward_is_made_again(session, harvest):
    remote = remote_dataset("x", file_resource(PROVINCES, "p"))
    run(session, harvest, remote)
    session.delete(dataset_of(session, harvest.source, "x"))
    session.commit()
    assert run(session, harvest, remote) is Outcome.CREATED
    assert len(session.scalars(select(Dataset)).all()) == 1


def test_files_go_to_s3_and_a_failed_object_leaves_nothing_there(session, harvest, s3_store):
    backends = harvest.backends
    harvest.backends = Backends(
        engine=backends.engine,
        sessions=backends.sessions,
        object_store=s3_store,
        catalog_index=backends.catalog_index,
        record_store=backends.record_store,
    )
    assert run(session, harvest, gdp_dataset()) is Outcome.CREATED
    gdp = dataset_of(session, harvest.source, "gdp-2023").resources[0]
    assert b"".join(s3_store.open(gdp.storage_key)) == GDP.read_bytes()
    assert run(session, harvest, gdp_dataset()) is Outcome.UNCHANGED
    broken = remote_dataset(
        "broken",
        file_resource(CITIES, "c"),
        RemoteResource(remote_id="bad", name="坏", opener=_broken),
    )
    assert run(session, harvest, broken) is Outcome.FAILED
    assert len(stored_keys(s3_store)) == 2


def test_undecodable_files_short_rows_and_sheets_left_unread_are_in_the_report(
    session, harvest, tmp_path
):
    damaged = tmp_path / "provinces.csv"
    damaged.write_bytes(PROVINCES.read_bytes()[:40] + b"\xff" + PROVINCES.read_bytes()[40:])
    short = tmp_path / "towns.csv"
    short.write_text("名称,人口\n祖庙街道,1000\n石湾镇街道\n张槎街道,900\n注：来源于区统计局\n")
    workbook = TABULAR / "datos_jus_gob_ar__catalog.xlsx"
    remote = remote_dataset(
        "mixed",
        file_resource(damaged, "damaged"),
        file_resource(short, "short"),
        file_resource(workbook, "workbook"),
    )
    assert run(session, harvest, remote) is Outcome.CREATED
    damaged_row, short_row, workbook_row = dataset_of(session, harvest.source, "mixed").resources
    assert damaged_row.storage_key and damaged_row.row_count is None
    assert (short_row.row_count, workbook_row.row_count) == (2, 1)
    messages = [e.message for e in session.scalars(select(HarvestError).order_by(HarvestError.id))]
    assert (
        "provinces: stored as a file but not loaded as records: The file is not UTF-8, GBK or "
        "GB18030 text: invalid byte 0xff at offset 40 (as UTF-8). Save it as UTF-8 and try again."
    ) in messages
    assert "towns: line 3: 1 value, but the header has 2" in messages
    assert "towns: line 5: note" in messages
    assert (
        "datos_jus_gob_ar__catalog: The workbook has 6 sheets with values: only 'Catalog' was "
        "read; 'Theme', 'Dataset', 'Distribution', 'Field', 'Notas y referencias' were ignored."
    ) in messages
    assert counts(session, harvest.job) == (1, 0, 0, 0, 0)
