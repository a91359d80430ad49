"""The S3-prefix harvest source type against the real MinIO (OPENDATA_TEST_S3_*, from
``scripts/services.sh start``), in a bucket of its own holding the real fixtures
(tests/fixtures/tabular, tests/fixtures/geo; see tests/fixtures/SOURCES.md), removed after."""

import hashlib
import math
import os
import uuid
from importlib.metadata import entry_points
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from harvesters.fetch import HttpFetcher
from harvesters.interfaces import HarvestSourceError, RemoteDataset, SourceSpec
from harvesters.registry import ENTRY_POINT_GROUP
from harvesters.sources.s3 import S3PrefixSource

ENDPOINT = os.environ.get("OPENDATA_TEST_S3_ENDPOINT_URL")
ACCESS_KEY = os.environ.get("OPENDATA_TEST_S3_ACCESS_KEY_ID", "")
SECRET_KEY = os.environ.get("OPENDATA_TEST_S3_SECRET_ACCESS_KEY", "")
KEY_ENV = "OPENDATA_HARVEST_SECRET_TEST_S3_KEY"
SECRET_ENV = "OPENDATA_HARVEST_SECRET_TEST_S3_SECRET"
FIXTURES = Path(__file__).parents[2] / "fixtures"
TABLES = sorted((FIXTURES / "tabular").glob("*.csv")) + sorted((FIXTURES / "geo").glob("*.geojson"))
XLSX = FIXTURES / "tabular" / "us_cdo_survey_2015.xlsx"
NOT_A_TABLE = (
    FIXTURES / "tabular" / "semic_dcat-ap_3.0.1__bee-population-series-combined__INVALID.ttl"
)
PREFIX = "统计局/"
CHINESE_KEY = f"{PREFIX}2024/禅城区人口.csv"
CHINESE_FILE = FIXTURES / "tabular" / "nbs_division_codes_2023__provinces.csv"

pytestmark = pytest.mark.skipif(
    not ENDPOINT, reason="OPENDATA_TEST_S3_ENDPOINT_URL is not set (run scripts/services.sh start)"
)


def make_client():
    return boto3.session.Session().client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="module")
def bucket():
    """A bucket of the module's own: every fixture table under PREFIX, one in a Chinese
    sub-folder, an XLSX, a file that is no table, a folder marker, a hidden file and one
    object outside the prefix."""
    client = make_client()
    name = f"harvest-s3-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    uploads = {f"{PREFIX}{path.name}": path for path in [*TABLES, XLSX, NOT_A_TABLE]}
    uploads[CHINESE_KEY] = CHINESE_FILE
    uploads[f"{PREFIX}.keep.csv"] = CHINESE_FILE
    uploads["其他部门/gdp.csv"] = TABLES[0]
    for key, path in uploads.items():
        client.upload_file(str(path), name, key)
    client.put_object(Bucket=name, Key=f"{PREFIX}空文件夹/", Body=b"")
    yield name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv(KEY_ENV, ACCESS_KEY)
    monkeypatch.setenv(SECRET_ENV, SECRET_KEY)
    return {"endpoint_url": ENDPOINT, "access_key_env": KEY_ENV, "secret_key_env": SECRET_ENV}


def source(url: str, fetcher=None, **config) -> S3PrefixSource:
    return S3PrefixSource(SourceSpec(url, config), fetcher or HttpFetcher(allow_private=True))


def gathered(url: str, fetcher=None, **config) -> dict[str, RemoteDataset]:
    items = list(source(url, fetcher, **config).gather())
    assert all(isinstance(item, RemoteDataset) for item in items), items
    return {item.remote_id: item for item in items}


def read(resource) -> bytes:
    with resource.opener() as body:
        return b"".join(iter(lambda: body.read(64 * 1024), b""))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - S3's ETag of a single part


def test_the_s3_type_is_registered():
    [point] = entry_points(group=ENTRY_POINT_GROUP, name="s3")
    assert point.load() is S3PrefixSource
    assert S3PrefixSource.label == "S3 存储桶"


def test_each_table_under_the_prefix_is_a_dataset(bucket, keys):
    found = gathered(f"s3://{bucket}/{PREFIX}", **keys)

    expected = {f"{PREFIX}{path.name}" for path in [*TABLES, XLSX]} | {CHINESE_KEY}
    assert set(found) == expected
    chinese = found[CHINESE_KEY]
    assert chinese.title == "禅城区人口"
    [resource] = chinese.resources
    assert (resource.remote_id, resource.name) == (CHINESE_KEY, "禅城区人口.csv")
    assert (resource.file_name, resource.format, resource.media_type) == (
        "禅城区人口.csv",
        "CSV",
        "text/csv",
    )
    assert resource.size == CHINESE_FILE.stat().st_size
    assert resource.content_hash == f"{md5(CHINESE_FILE)}:{CHINESE_FILE.stat().st_size}"
    assert resource.last_modified.endswith(" GMT")
    assert read(resource) == CHINESE_FILE.read_bytes()
    geojson = found[f"{PREFIX}shenzhen_districts.geojson"].resources[0]
    assert geojson.format == "GEOJSON"
    assert read(geojson) == (FIXTURES / "geo" / "shenzhen_districts.geojson").read_bytes()
    assert found[f"{PREFIX}{XLSX.name}"].resources[0].format == "XLSX"


def test_listing_pages_through_more_objects_than_a_page(bucket, keys, monkeypatch):
    pages = []
    build = S3PrefixSource._build_client

    def counting_client(self):
        client = build(self)
        client.meta.events.register(
            "provide-client-params.s3.ListObjectsV2",
            lambda params, **kwargs: pages.append(dict(params)),
        )
        return client

    monkeypatch.setattr(S3PrefixSource, "_build_client", counting_client)
    paged = gathered(f"s3://{bucket}/{PREFIX}", page_size=2, **keys)

    # Listed: the tables, the XLSX, the Turtle file, the Chinese one, the hidden file and the
    # folder marker.
    listed = len(TABLES) + 5
    assert len(pages) == math.ceil(listed / 2)
    assert all(params["MaxKeys"] == 2 for params in pages)
    assert set(paged) == set(gathered(f"s3://{bucket}/{PREFIX}", **keys))


def test_unchanged_objects_keep_their_hash_and_changed_ones_do_not(bucket, keys):
    url = f"s3://{bucket}/{PREFIX}"
    first = gathered(url, **keys)
    client = make_client()
    client.upload_file(str(CHINESE_FILE), bucket, CHINESE_KEY)  # the same bytes again
    second = gathered(url, **keys)
    assert {key: item.resources[0].content_hash for key, item in first.items()} == {
        key: item.resources[0].content_hash for key, item in second.items()
    }

    changed_key = f"{PREFIX}{TABLES[0].name}"
    client.put_object(Bucket=bucket, Key=changed_key, Body=TABLES[0].read_bytes() + b"\n")
    try:
        third = gathered(url, **keys)
        assert third[changed_key].resources[0].content_hash != (
            first[changed_key].resources[0].content_hash
        )
        assert third[CHINESE_KEY].resources[0].content_hash == (
            first[CHINESE_KEY].resources[0].content_hash
        )
    finally:
        client.upload_file(str(TABLES[0]), bucket, changed_key)


def test_an_object_replaced_after_the_listing_is_not_read(bucket, keys):
    key = f"{PREFIX}{TABLES[1].name}"
    dataset = gathered(f"s3://{bucket}/{PREFIX}", **keys)[key]
    client = make_client()
    client.put_object(Bucket=bucket, Key=key, Body=b"a,b\n1,2\n")
    try:
        with pytest.raises(HarvestSourceError, match="changed while it was harvested"):
            read(dataset.resources[0])
    finally:
        client.upload_file(str(TABLES[1]), bucket, key)


def test_one_dataset_holds_every_object_as_a_resource(bucket, keys):
    [dataset] = gathered(
        f"s3://{bucket}/{PREFIX}", one_dataset=True, title="统计局数据文件", **keys
    ).values()

    assert dataset.remote_id == f"s3://{bucket}/{PREFIX}"
    assert dataset.title == "统计局数据文件"
    names = {resource.name for resource in dataset.resources}
    assert "2024/禅城区人口.csv" in names
    assert len(dataset.resources) == len(TABLES) + 2


def test_a_pattern_or_all_files_choose_the_objects(bucket, keys):
    url = f"s3://{bucket}/{PREFIX}"
    assert set(gathered(url, pattern="2024/*.csv", **keys)) == {CHINESE_KEY}
    every = gathered(url, all_files=True, **keys)
    turtle = every[f"{PREFIX}{NOT_A_TABLE.name}"].resources[0]
    assert (turtle.format, turtle.media_type) == ("TTL", "text/turtle")
    assert f"{PREFIX}.keep.csv" not in every
    assert f"{PREFIX}空文件夹/" not in every


def test_without_keys_the_bucket_is_read_anonymously(bucket):
    with pytest.raises(HarvestSourceError, match="AccessDenied"):
        list(source(f"s3://{bucket}/{PREFIX}", endpoint_url=ENDPOINT).gather())


def test_a_missing_bucket_fails_the_source(keys):
    with pytest.raises(HarvestSourceError, match="NoSuchBucket"):
        list(source(f"s3://missing-{uuid.uuid4().hex[:12]}/", **keys).gather())


def test_the_endpoint_follows_the_address_rule(bucket, keys):
    with pytest.raises(HarvestSourceError, match="loopback"):
        list(source(f"s3://{bucket}/", HttpFetcher(), **keys).gather())


def test_unset_key_variables_fail_the_source(bucket, keys, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(HarvestSourceError, match="not set"):
        list(source(f"s3://{bucket}/", **keys).gather())


@pytest.mark.parametrize(
    ("url", "config", "field"),
    [
        ("https://bucket.example/prefix", {}, "url"),
        ("s3://Not_A_Bucket/prefix", {}, "url"),
        ("s3://bucket/", {"endpoint_url": "ftp://minio.example"}, "config.endpoint_url"),
        ("s3://bucket/", {"access_key_env": KEY_ENV}, "config.secret_key_env"),
        (
            "s3://bucket/",
            {"access_key_env": "AWS_ACCESS_KEY_ID", "secret_key_env": SECRET_ENV},
            "config.access_key_env",
        ),
        ("s3://bucket/", {"page_size": 0}, "config.page_size"),
        ("s3://bucket/", {"page_size": True}, "config.page_size"),
        ("s3://bucket/", {"one_dataset": "yes"}, "config.one_dataset"),
        ("s3://bucket/", {"secret_key": "hunter2"}, "config"),
    ],
)
def test_check_spec_refuses(url, config, field):
    errors = S3PrefixSource.check_spec(SourceSpec(url, config))
    assert field in errors, errors


def test_check_spec_accepts_a_prefix_with_keys():
    config = {"endpoint_url": "https://minio.example", "access_key_env": KEY_ENV}
    config |= {"secret_key_env": SECRET_ENV, "page_size": 100, "pattern": "*.csv"}
    assert S3PrefixSource.check_spec(SourceSpec("s3://open-data/统计局/", config)) == {}


def test_an_endpoint_named_by_host_is_pinned_to_its_vetted_address(bucket, keys):
    by_name = keys | {"endpoint_url": ENDPOINT.replace("127.0.0.1", "localhost")}
    harvest = source(f"s3://{bucket}/{PREFIX}", **by_name)

    found = {item.remote_id for item in harvest.gather()}

    assert CHINESE_KEY in found
    assert harvest._client.meta.endpoint_url == ENDPOINT
