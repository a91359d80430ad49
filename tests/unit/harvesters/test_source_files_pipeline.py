"""The file-URL, folder, SQL-query and S3-prefix source types through the real import step
(harvesters.sync) on every database: the real fixture files land in the object store and
the record store, and a second run of an unchanged source writes nothing."""

import os
import shutil
import sqlite3
import uuid
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config

from catalog.models import Resource
from harvesters.interfaces import RemoteDataset, SourceSpec
from harvesters.sources.access import configure_folder_roots
from harvesters.sources.files import FileUrlSource, FolderSource
from harvesters.sources.s3 import S3PrefixSource
from harvesters.sources.sql import SqlQuerySource
from harvesters.sync import Outcome, sync_dataset
from tests.factories import make_department
from tests.unit.harvesters.harvest_support import (
    GEO,
    TABULAR,
    ServedFile,
    loopback_fetcher,
    make_job,
    make_source,
    record_count,
    writes,
)
from tests.unit.harvesters.http_server import LocalHttpServer

PROVINCES = TABULAR / "nbs_division_codes_2023__provinces.csv"
GDP_GBK = TABULAR / "nbs_province_annual__gdp__gbk.csv"
BUS_STOPS = GEO / "shanghai_bus71_stops.geojson"
LIMIT = 50 * 1024 * 1024
S3_ENDPOINT_URL = os.environ.get("OPENDATA_TEST_S3_ENDPOINT_URL")


@pytest.fixture
def harvest(session, backends):
    department = make_department(session, slug="minzheng", name="区民政局")
    source = make_source(session, department)
    return SimpleNamespace(source=source, session=session, backends=backends)


@pytest.fixture
def root(tmp_path):
    allowed = tmp_path / "root"
    allowed.mkdir()
    configure_folder_roots(str(allowed))
    yield allowed
    configure_folder_roots("")


def run_twice(harvest, source_class, url: str, **config) -> list[Outcome]:
    """Gather the source and import what it gives, twice, each run a job of its own;
    the second run must write nothing. Returns the first run's outcomes."""
    session, fetcher = harvest.session, loopback_fetcher()
    first = []
    for run in range(2):
        job = make_job(session, harvest.source)
        before = writes(session, harvest.backends)
        items = list(source_class(SourceSpec(url, config), fetcher).gather())
        assert items and all(isinstance(item, RemoteDataset) for item in items), items
        outcomes = [
            sync_dataset(
                session, harvest.backends, harvest.source, job, item, fetcher, max_file_bytes=LIMIT
            )
            for item in items
        ]
        if run == 0:
            first = outcomes
        else:
            assert set(outcomes) == {Outcome.UNCHANGED}
            assert writes(session, harvest.backends) == before
        job.status = "succeeded"  # lets the next run have a job of its own
        session.commit()
    return first


def resources_of(harvest) -> list[Resource]:
    return sorted(harvest.session.query(Resource).all(), key=lambda row: row.name)


def test_a_folder_is_harvested_and_a_second_run_writes_nothing(harvest, root):
    folder = root / "人口"
    folder.mkdir()
    shutil.copy(PROVINCES, folder / "禅城区人口.csv")
    shutil.copy(BUS_STOPS, folder / BUS_STOPS.name)

    outcomes = run_twice(harvest, FolderSource, folder.as_uri())

    assert outcomes == [Outcome.CREATED, Outcome.CREATED]
    rows = {row.name: row for row in resources_of(harvest)}
    assert rows["禅城区人口.csv"].row_count == 31  # the 31 provinces
    assert record_count(harvest.backends.record_store, rows["禅城区人口.csv"].id) == 31
    assert rows[BUS_STOPS.name].row_count > 0


def test_a_sql_query_is_harvested_and_a_second_run_writes_nothing(harvest, root):
    path = root / "人口.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE 街道人口 (街道 TEXT, 常住人口 INTEGER)")
        connection.executemany(
            "INSERT INTO 街道人口 VALUES (?, ?)", [("祖庙街道", 296000), ("石湾镇街道", 301500)]
        )
    connection.close()

    outcomes = run_twice(harvest, SqlQuerySource, f"sqlite:///{path}", table="街道人口")

    assert outcomes == [Outcome.CREATED]
    [row] = resources_of(harvest)
    assert (row.name, row.row_count) == ("街道人口.csv", 2)


def test_a_file_url_is_harvested_and_a_second_run_asks_conditionally(harvest):
    served = ServedFile(GDP_GBK.read_bytes())
    with LocalHttpServer() as server:
        server.add("/files/" + "%E5%9C%B0%E5%8C%BAGDP.csv", served)
        outcomes = run_twice(harvest, FileUrlSource, server.url("/files/%E5%9C%B0%E5%8C%BAGDP.csv"))

    assert outcomes == [Outcome.CREATED]
    assert (served.served, served.not_modified) == (1, 1)
    [row] = resources_of(harvest)
    assert row.name == "地区GDP.csv"
    assert row.row_count > 0


@pytest.mark.skipif(
    not S3_ENDPOINT_URL,
    reason="OPENDATA_TEST_S3_ENDPOINT_URL is not set (run scripts/services.sh start)",
)
def test_an_s3_prefix_is_harvested_and_a_second_run_writes_nothing(harvest, monkeypatch):
    access_key = os.environ.get("OPENDATA_TEST_S3_ACCESS_KEY_ID", "")
    secret_key = os.environ.get("OPENDATA_TEST_S3_SECRET_ACCESS_KEY", "")
    monkeypatch.setenv("OPENDATA_HARVEST_SECRET_PIPELINE_KEY", access_key)
    monkeypatch.setenv("OPENDATA_HARVEST_SECRET_PIPELINE_SECRET", secret_key)
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=S3_ENDPOINT_URL,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )
    bucket = f"harvest-pipeline-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        client.upload_file(str(PROVINCES), bucket, "民政/禅城区人口.csv")
        client.upload_file(str(BUS_STOPS), bucket, f"民政/{BUS_STOPS.name}")
        outcomes = run_twice(
            harvest,
            S3PrefixSource,
            f"s3://{bucket}/民政/",
            endpoint_url=S3_ENDPOINT_URL,
            access_key_env="OPENDATA_HARVEST_SECRET_PIPELINE_KEY",
            secret_key_env="OPENDATA_HARVEST_SECRET_PIPELINE_SECRET",
        )
    finally:
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)

    assert outcomes == [Outcome.CREATED, Outcome.CREATED]
    rows = {row.name: row for row in resources_of(harvest)}
    assert rows["禅城区人口.csv"].row_count == 31
