# The tests build queries from their own constants and schema names, never from input.
# ruff: noqa: S608
"""The SQL-query harvest source type on a real SQLite file (always) and the real PostgreSQL
(when OPENDATA_TEST_DATABASE_URL names one; ``scripts/services.sh start`` provides it), in a
schema of its own that the tests drop."""

import csv
import hashlib
import io
import os
import sqlite3
import tracemalloc
from importlib.metadata import entry_points

import pytest
from sqlalchemy import make_url, text

from catalog.db import create_database_engine
from harvesters.fetch import HttpFetcher
from harvesters.interfaces import HarvestSourceError, RemoteDataset, SourceSpec
from harvesters.registry import ENTRY_POINT_GROUP
from harvesters.sources.access import configure_folder_roots
from harvesters.sources.sql import SqlQuerySource, query_error

POSTGRES_URL = os.environ.get("OPENDATA_TEST_DATABASE_URL")
SECRET = "OPENDATA_HARVEST_SECRET_TEST_DB"
LARGE_ROWS = 200_000
# The export holds at most SPOOL_BYTES (8 MiB) in memory before it moves to disk, plus one
# batch of rows; the 200,000 rows themselves would take several times this.
MAX_EXPORT_MEMORY = 24 * 1024 * 1024
POPULATION = [
    ("祖庙街道", 296_000, 9.8, "2023-12-31", True),
    ("石湾镇街道", 301_500, 11.2, "2023-12-31", True),
    ("张槎街道", 289_300, None, "2023-12-31", False),
    ("南庄镇", 232_100, 6.4, "2022-12-31", True),
]
# Makes each exported row about 150 bytes: 200,000 of them are far more than the bound.
NOTE = "佛山市禅城区人民政府数据开放平台按街道统计的常住人口与面积，每年更新一次"
HEADER = ["街道", "常住人口", "增长率", "统计日期", "已核实"]


def export_of(dataset: RemoteDataset) -> bytes:
    with dataset.resources[0].opener() as stream:
        return stream.read()


def rows_of(dataset: RemoteDataset) -> list[list[str]]:
    return list(csv.reader(io.StringIO(export_of(dataset).decode("utf-8-sig"))))


def gather_one(url: str, fetcher=None, **config) -> RemoteDataset:
    source = SqlQuerySource(SourceSpec(url, config), fetcher or HttpFetcher(allow_private=True))
    [dataset] = source.gather()
    return dataset


@pytest.fixture
def root(tmp_path):
    allowed = tmp_path / "root"
    allowed.mkdir()
    configure_folder_roots(str(allowed))
    yield allowed
    configure_folder_roots("")


@pytest.fixture
def sqlite_url(root):
    """A department's SQLite file (in a folder with a Chinese name) with a Chinese table."""
    path = root / "民政局" / "人口.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as connection:
        connection.execute(
            'CREATE TABLE "常住人口" (街道 TEXT, 常住人口 INTEGER, 增长率 REAL, 统计日期 TEXT, '
            "已核实 BOOLEAN)"
        )
        connection.executemany('INSERT INTO "常住人口" VALUES (?, ?, ?, ?, ?)', POPULATION)
    connection.close()
    return f"sqlite:///{path}"


def test_the_sql_type_is_registered():
    [point] = entry_points(group=ENTRY_POINT_GROUP, name="sql")
    assert point.load() is SqlQuerySource
    assert SqlQuerySource.label == "数据库查询"


def test_a_query_is_exported_as_utf8_csv(sqlite_url):
    # A colon in a literal is text, not a bound parameter.
    query = "SELECT * FROM \"常住人口\" WHERE 统计日期 >= '2023-01-01' AND 街道 != 'a:b'"
    query += " ORDER BY 常住人口 DESC"

    dataset = gather_one(sqlite_url, query=query, title="禅城区常住人口", description="按街道")

    assert dataset.remote_id.startswith("sql:")
    assert (dataset.title, dataset.description) == ("禅城区常住人口", "按街道")
    [resource] = dataset.resources
    assert (resource.format, resource.media_type) == ("CSV", "text/csv")
    assert resource.file_name == "禅城区常住人口.csv"
    exported = export_of(dataset)
    assert exported.startswith(b"\xef\xbb\xbf")  # Excel on Chinese Windows needs the BOM
    assert resource.size == len(exported)
    assert resource.content_hash == "sha256:" + hashlib.sha256(exported).hexdigest()
    assert rows_of(dataset) == [
        HEADER,
        ["石湾镇街道", "301500", "11.2", "2023-12-31", "1"],
        ["祖庙街道", "296000", "9.8", "2023-12-31", "1"],
        ["张槎街道", "289300", "", "2023-12-31", "0"],
    ]
    assert export_of(dataset) == exported  # the opener reads the whole export every time


def test_a_table_option_exports_the_whole_table(sqlite_url):
    dataset = gather_one(sqlite_url, table="常住人口")

    assert dataset.title == "常住人口"
    assert len(rows_of(dataset)) == 1 + len(POPULATION)


def test_an_unchanged_result_keeps_its_hash_and_a_changed_one_does_not(sqlite_url):
    config = {"query": 'SELECT * FROM "常住人口" ORDER BY 街道'}
    first = gather_one(sqlite_url, **config)
    second = gather_one(sqlite_url, **config)
    assert first.remote_id == second.remote_id
    assert first.resources[0].content_hash == second.resources[0].content_hash

    with sqlite3.connect(make_url(sqlite_url).database) as connection:
        connection.execute("INSERT INTO \"常住人口\" VALUES ('南庄镇', 1, 0, '2024-01-01', 1)")
    connection.close()
    third = gather_one(sqlite_url, **config)
    assert third.remote_id == first.remote_id
    assert third.resources[0].content_hash != first.resources[0].content_hash


def test_a_large_result_streams_with_flat_memory(sqlite_url):
    query = (
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {LARGE_ROWS})"
        f" SELECT i AS 编号, '禅城区祖庙街道第' || i || '号楼' AS 地址, '{NOTE}' AS 备注,"
        " i * 0.5 AS 面积 FROM n"
    )
    assert_flat_export(sqlite_url, query=query)


def assert_flat_export(url: str, **config) -> None:
    tracemalloc.start()
    try:
        dataset = gather_one(url, **config)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert dataset.resources[0].size > MAX_EXPORT_MEMORY  # more than the bound, as CSV alone
    assert peak < MAX_EXPORT_MEMORY
    with dataset.resources[0].opener() as stream:
        lines = sum(1 for _line in stream)
    assert lines == 1 + LARGE_ROWS


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"query": "DELETE FROM 常住人口"}, "config.query"),
        ({"query": "UPDATE t SET a = 1"}, "config.query"),
        ({"query": "SELECT 1; DROP TABLE 常住人口"}, "config.query"),
        ({"query": "-- 说明\nDROP TABLE 常住人口"}, "config.query"),
        ({"query": "SELECT 1", "table": "常住人口"}, "config.query"),
        ({}, "config.query"),
        ({"table": "常住人口; DROP TABLE x"}, "config.table"),
        ({"table": "1abc"}, "config.table"),
        ({"query": "SELECT 1", "password_env": "OPENDATA_SECRET_KEY"}, "config.password_env"),
        ({"query": "SELECT 1", "limit": 5}, "config"),
    ],
)
def test_check_spec_refuses_bad_options(sqlite_url, config, field):
    errors = SqlQuerySource.check_spec(SourceSpec(sqlite_url, config))
    assert field in errors, errors


@pytest.mark.parametrize(
    ("url", "config", "fragment"),
    [
        ("postgresql://reader:secret@db.example/stats", {}, "password"),
        ("postgresql://reader@db.example/stats?passfile=/root/.pgpass", {}, "passfile"),
        ("mssql+pymssql://reader@db.example/stats", {}, "read-only"),
        ("not a url", {}, "database URL"),
        ("postgresql://reader@/stats", {}, "no database host"),
        ("sqlite:///relative.db", {}, "absolute path"),
        ("sqlite:////etc/opendata/catalog.db", {}, "not inside"),
    ],
)
def test_check_spec_refuses_bad_urls(root, url, config, fragment):
    config = {"query": "SELECT 1", "password_env": SECRET, **config}
    errors = SqlQuerySource.check_spec(SourceSpec(url, config))
    assert fragment in errors["url"][0], errors


def test_a_database_server_needs_a_password_variable():
    errors = SqlQuerySource.check_spec(
        SourceSpec("postgresql://reader@db.example/stats", {"query": "SELECT 1"})
    )
    assert list(errors) == ["config.password_env"]
    ok = {"query": "SELECT 1", "password_env": SECRET}
    assert SqlQuerySource.check_spec(SourceSpec("postgresql://reader@db.example/s", ok)) == {}


def test_the_text_check_lets_selects_and_ctes_pass():
    assert query_error("select 1") is None
    assert query_error("/* 年报 */ WITH t AS (SELECT 1) SELECT * FROM t") is None
    assert query_error("SELECTION") is not None


def test_gather_checks_the_folder_roots_again(sqlite_url, tmp_path):
    configure_folder_roots(str(tmp_path / "other"))
    with pytest.raises(HarvestSourceError, match="not inside"):
        gather_one(sqlite_url, query="SELECT 1")


def test_a_bad_query_fails_the_source_with_the_database_message(sqlite_url):
    with pytest.raises(HarvestSourceError, match="no such table"):
        gather_one(sqlite_url, query="SELECT * FROM 户籍人口")


# -- PostgreSQL ------------------------------------------------------------------------------

needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="OPENDATA_TEST_DATABASE_URL is not set (run scripts/services.sh start)"
)


@pytest.fixture
def postgres(monkeypatch):
    """(source URL without password, schema): a schema of the test's own with a Chinese
    table and a sequence, dropped afterwards; the password is in the SECRET variable."""
    url = make_url(POSTGRES_URL)
    monkeypatch.setenv(SECRET, url.password)
    schema = f"harvest_sql_{os.getpid()}"
    engine = create_database_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
        connection.execute(
            text(
                f"CREATE TABLE {schema}.常住人口 (街道 text, 常住人口 integer, 增长率 numeric, "
                "统计日期 date, 已核实 boolean)"
            )
        )
        connection.execute(text(f"CREATE SEQUENCE {schema}.编号"))
        for row in POPULATION:
            connection.execute(
                text(f"INSERT INTO {schema}.常住人口 VALUES (:a, :b, :c, :d, :e)"),
                dict(zip("abcde", row, strict=True)),
            )
    yield url._replace(password=None).render_as_string(hide_password=False), schema
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def count_rows(schema: str) -> int:
    engine = create_database_engine(POSTGRES_URL)
    with engine.connect() as connection:
        count = connection.execute(text(f"SELECT count(*) FROM {schema}.常住人口")).scalar_one()
    engine.dispose()
    return count


@needs_postgres
def test_postgres_query_is_exported(postgres):
    url, schema = postgres
    query = f"SELECT *, 增长率::text || '%' AS 说明 FROM {schema}.常住人口 ORDER BY 街道"

    dataset = gather_one(url, query=query, password_env=SECRET)

    rows = rows_of(dataset)
    assert rows[0] == [*HEADER, "说明"]
    assert rows[1] == ["南庄镇", "232100", "6.4", "2022-12-31", "true", "6.4%"]
    assert ["张槎街道", "289300", "", "2023-12-31", "false", ""] in rows
    table = gather_one(url, table=f"{schema}.常住人口", password_env=SECRET)
    assert len(rows_of(table)) == 1 + len(POPULATION)


@needs_postgres
def test_postgres_write_through_a_cte_is_refused_at_execution(postgres):
    url, schema = postgres
    write = f"WITH gone AS (DELETE FROM {schema}.常住人口 RETURNING *) SELECT * FROM gone"
    assert (
        SqlQuerySource.check_spec(SourceSpec(url, {"query": write, "password_env": SECRET})) == {}
    )

    with pytest.raises(HarvestSourceError, match="query failed"):
        gather_one(url, query=write, password_env=SECRET)

    assert count_rows(schema) == len(POPULATION)


@needs_postgres
def test_postgres_runs_the_query_in_a_read_only_transaction(postgres):
    url, schema = postgres
    with pytest.raises(HarvestSourceError, match="read-only transaction"):
        gather_one(url, query=f"SELECT nextval('{schema}.编号')", password_env=SECRET)
    dataset = gather_one(url, query=f"SELECT last_value FROM {schema}.编号", password_env=SECRET)
    assert rows_of(dataset)[1] == ["1"]  # the sequence never moved


@needs_postgres
def test_postgres_large_result_streams_with_flat_memory(postgres):
    url, _schema = postgres
    query = (
        f"SELECT i AS 编号, '禅城区祖庙街道第' || i || '号楼' AS 地址, '{NOTE}' AS 备注,"
        f" i * 0.5 AS 面积 FROM generate_series(1, {LARGE_ROWS}) AS i"
    )
    assert_flat_export(url, query=query, password_env=SECRET)


@needs_postgres
def test_postgres_follows_the_address_rule(postgres):
    url, _schema = postgres
    with pytest.raises(HarvestSourceError, match="loopback"):
        gather_one(url, HttpFetcher(), query="SELECT 1", password_env=SECRET)


@needs_postgres
def test_postgres_password_variable_must_be_set(postgres, monkeypatch):
    url, _schema = postgres
    monkeypatch.delenv(SECRET)
    with pytest.raises(HarvestSourceError, match="not set"):
        gather_one(url, query="SELECT 1", password_env=SECRET)
