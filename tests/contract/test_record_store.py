"""One contract for every record store backend: the SQL store on SQLite always and on
PostgreSQL when OPENDATA_TEST_DATABASE_URL is set; OpenSearch and Elasticsearch when their
URLs are set and catalog.records.engines exists.

Expected answers come from plain Python over the same rows (tests/fixtures/records.py), so
each test says what the port promises, not what one engine happens to do."""

import base64
import json
import os
import uuid
from collections import Counter
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError

from catalog.db import create_database_engine
from catalog.interfaces import RecordField, RecordFilter, RecordQuery
from catalog.records import EXPORT_BATCH, MAX_LIMIT
from catalog.records.sql import SqlRecordStore
from tests.fixtures.records import SCHOOL_FIELDS, STREETS, school_rows

POSTGRES_URL = os.environ.get("OPENDATA_TEST_DATABASE_URL")
ENGINE_URLS = {
    "opensearch": os.environ.get("OPENDATA_TEST_OPENSEARCH_URL"),
    "elasticsearch": os.environ.get("OPENDATA_TEST_ELASTICSEARCH_URL"),
}
ENGINE_CLASSES = {
    "opensearch": "OpenSearchRecordStore",
    "elasticsearch": "ElasticsearchRecordStore",
}
ROWS = school_rows()
BY_ID = {row["_id"]: row for row in ROWS}
TYPES = {field.name: field.type for field in SCHOOL_FIELDS}


def _skip_unless(value, reason):
    return pytest.mark.skipif(not value, reason=reason)


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=_skip_unless(POSTGRES_URL, "OPENDATA_TEST_DATABASE_URL is not set"),
        ),
        *(
            pytest.param(
                name, marks=_skip_unless(url, f"OPENDATA_TEST_{name.upper()}_URL is not set")
            )
            for name, url in ENGINE_URLS.items()
        ),
    ],
)
def record_store(request, tmp_path_factory):
    """A record store on one backend, for the module's tests."""
    yield from _store_on(request.param, tmp_path_factory)


def _store_on(backend: str, tmp_path_factory):
    if backend == "sqlite":
        engine = create_database_engine(f"sqlite:///{tmp_path_factory.mktemp('records')}/c.db")
        yield SqlRecordStore(engine)
        engine.dispose()
    elif backend == "postgresql":
        engine, schema = _private_schema(POSTGRES_URL)
        yield SqlRecordStore(engine)
        engine.dispose()
        with create_database_engine(POSTGRES_URL).begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    else:
        engines = pytest.importorskip(
            "catalog.records.engines", reason="catalog.records.engines is not written yet"
        )
        settings = SimpleNamespace(
            search_url=ENGINE_URLS[backend],
            search_index_prefix=f"test-{uuid.uuid4().hex[:12]}",
        )
        yield getattr(engines, ENGINE_CLASSES[backend]).from_settings(settings)


def _private_schema(url: str):
    # Not tests.conftest._private_postgres_schema: that one is named test_<pid> too, and
    # would drop the catalog tests' schema when both run in one session.
    schema = f"records_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with create_database_engine(url).begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    private = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return create_database_engine(private.render_as_string(hide_password=False)), schema


@pytest.fixture(scope="module")
def schools(record_store):
    """The id of a resource holding ROWS, loaded once per backend."""
    resource_id = str(uuid.uuid4())
    record_store.create(resource_id, SCHOOL_FIELDS)
    assert record_store.append(resource_id, iter(ROWS)) == len(ROWS)
    yield resource_id
    record_store.drop(resource_id)


@pytest.fixture
def scratch(record_store):
    """A fresh resource id, dropped after the test."""
    resource_id = str(uuid.uuid4())
    yield resource_id
    record_store.drop(resource_id)


@pytest.fixture
def backend(request):
    return request.node.callspec.params["record_store"]


# -- the expected answers, in Python ---------------------------------------------------------


def _matches(row, condition: RecordFilter) -> bool:
    value = row[condition.field] if condition.field != "_id" else row["_id"]
    if condition.op == "exists":
        return (value is not None) == condition.value
    if value is None:
        return False
    if condition.op == "eq":
        return value == condition.value
    if condition.op == "in":
        return value in condition.values
    return (condition.gte is None or value >= condition.gte) and (
        condition.lte is None or value <= condition.lte
    )


def _found(row, words, search_fields=None) -> bool:
    names = search_fields or [name for name, kind in TYPES.items() if kind == "text"]
    texts = [row[name].lower() for name in names if row[name] is not None]
    return all(any(word.lower() in value for value in texts) for word in words)


def _expected(query: RecordQuery) -> list[dict]:
    rows = [row for row in ROWS if all(_matches(row, f) for f in query.filters)]
    if query.q.split():
        rows = [row for row in rows if _found(row, query.q.split())]
    # Stable sorts from the last key to the first; missing values last in both directions.
    rows = sorted(rows, key=lambda row: row["_id"])
    for name, direction in reversed(query.sort):
        present = [row for row in rows if row[name] is not None]
        missing = [row for row in rows if row[name] is None]
        rows = sorted(present, key=lambda row: row[name], reverse=direction == "desc") + missing
    return rows


def _ids(rows) -> list[int]:
    return [row["_id"] for row in rows]


def _page_through(store, resource_id, query: RecordQuery) -> list[dict]:
    rows, cursor, pages = [], None, 0
    while True:
        page = store.query(resource_id, RecordQuery(**{**query.__dict__, "cursor": cursor}))
        rows.extend(page.rows)
        pages += 1
        assert pages <= len(ROWS) + 1, "the cursor does not advance"
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


# -- the store and its fields ----------------------------------------------------------------


def test_check_says_where_it_is(record_store):
    assert isinstance(record_store.check(), str) and record_store.check()


def test_fields_come_back_as_created(record_store, schools):
    assert record_store.exists(schools)
    assert record_store.fields(schools) == SCHOOL_FIELDS


def test_unknown_resources(record_store):
    unknown = str(uuid.uuid4())
    assert not record_store.exists(unknown)
    assert not record_store.exists("../../etc/passwd")
    with pytest.raises(KeyError):
        record_store.query(unknown, RecordQuery())
    with pytest.raises(KeyError):
        record_store.append(unknown, iter([{"_id": 1}]))
    record_store.drop(unknown)  # nothing to drop is no error


@pytest.mark.parametrize("bad_id", ["records; DROP TABLE users", "", "1234", "x" * 36])
def test_resource_ids_are_checked(record_store, bad_id):
    with pytest.raises(ValueError, match="resource id"):
        record_store.create(bad_id, SCHOOL_FIELDS)


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [RecordField("a", "text"), RecordField("a", "integer")],
        [RecordField("_id", "integer")],
        [RecordField("a", "money")],
    ],
)
def test_bad_fields_are_refused(record_store, scratch, fields):
    with pytest.raises(ValueError):
        record_store.create(scratch, fields)
    assert not record_store.exists(scratch)


def test_any_field_name_is_safe(record_store, scratch):
    fields = [
        RecordField('名称"; DROP TABLE record_tables; --', "text"),
        RecordField("金额 (元)", "number"),
        RecordField("c0", "integer"),
    ]
    record_store.create(scratch, fields)
    row = {"_id": 1, fields[0].name: "学校", fields[1].name: 12.5, "c0": 7}
    assert record_store.append(scratch, iter([row])) == 1
    assert record_store.fields(scratch) == fields
    assert record_store.query(scratch, RecordQuery(q="学校")).rows == [row]
    only = record_store.query(scratch, RecordQuery(fields=("金额 (元)",), sort=(("c0", "desc"),)))
    assert only.rows == [{"_id": 1, "金额 (元)": 12.5}]


def test_create_replaces_an_earlier_store(record_store, scratch):
    record_store.create(scratch, SCHOOL_FIELDS)
    record_store.append(scratch, iter(ROWS[:20]))
    fields = [RecordField("区", "text"), RecordField("人口", "integer")]
    record_store.create(scratch, fields)
    assert record_store.fields(scratch) == fields
    page = record_store.query(scratch, RecordQuery())
    assert (page.rows, page.total) == ([], 0)
    record_store.append(scratch, iter([{"_id": 1, "区": "禅城区", "人口": 1_330_000}]))
    assert record_store.query(scratch, RecordQuery(q="禅城")).rows[0]["人口"] == 1_330_000


def test_drop(record_store, scratch):
    record_store.create(scratch, SCHOOL_FIELDS)
    record_store.append(scratch, iter(ROWS[:5]))
    record_store.drop(scratch)
    assert not record_store.exists(scratch)
    with pytest.raises(KeyError):
        record_store.fields(scratch)
    record_store.drop(scratch)


def test_append_in_several_calls_and_coerces(record_store, scratch):
    record_store.create(scratch, SCHOOL_FIELDS)
    assert record_store.append(scratch, iter([])) == 0
    assert record_store.append(scratch, iter(ROWS[:3])) == 3
    loose = {
        "_id": 4,
        "学生人数": "120",
        "占地面积": "88.5",
        "建校日期": "2001-09-01",
        "更新时间": datetime(2024, 5, 1, 16, 30, tzinfo=timezone(timedelta(hours=8))),
        "公办": "true",
        "位置": "23.02,113.12",
    }
    assert record_store.append(scratch, iter([loose])) == 1
    row = record_store.query(scratch, RecordQuery(filters=(RecordFilter("_id", "eq", 4),))).rows
    assert row[0] | {} == {
        **dict.fromkeys(TYPES),
        "_id": 4,
        "学生人数": 120,
        "占地面积": 88.5,
        "建校日期": date(2001, 9, 1),
        "更新时间": datetime(2024, 5, 1, 8, 30),  # aware values are kept in UTC
        "公办": True,
        "位置": (23.02, 113.12),
    }
    assert record_store.query(scratch, RecordQuery()).total == 4


@pytest.mark.parametrize(
    "row",
    [
        {"_id": 1, "学生人数": "many"},
        {"_id": 1, "建校日期": "2001-13-01"},
        {"_id": 1, "位置": (123.0, 500.0)},
        {"_id": 1, "no such field": 1},
        {"名称": "no _id"},
    ],
)
def test_bad_rows_are_refused(record_store, scratch, row):
    record_store.create(scratch, SCHOOL_FIELDS)
    with pytest.raises(ValueError):
        record_store.append(scratch, iter([row]))


# -- query -----------------------------------------------------------------------------------


def test_rows_come_back_typed(record_store, schools):
    page = record_store.query(schools, RecordQuery(limit=len(ROWS)))
    assert (page.total, page.total_is_estimate, page.next_cursor) == (len(ROWS), False, None)
    assert page.rows == ROWS
    kinds = {
        "text": str,
        "integer": int,
        "number": float,
        "date": date,
        "datetime": datetime,
        "boolean": bool,
        "geo_point": tuple,
    }
    for row in page.rows:
        for name, value in row.items():
            if name != "_id" and value is not None:
                assert type(value) is kinds[TYPES[name]], (name, value)


def test_default_and_largest_limit(record_store, schools):
    assert len(record_store.query(schools, RecordQuery()).rows) == 100
    page = record_store.query(schools, RecordQuery(limit=MAX_LIMIT * 10))
    assert len(page.rows) == min(len(ROWS), MAX_LIMIT)
    counted = record_store.query(schools, RecordQuery(limit=0, q="学校"))
    assert (counted.rows, counted.next_cursor) == ([], None)
    assert counted.total == len(_expected(RecordQuery(q="学校")))
    with pytest.raises(ValueError):
        record_store.query(schools, RecordQuery(limit=-1))


FILTERS = [
    RecordFilter("街道", "eq", "祖庙街道"),
    RecordFilter("学生人数", "eq", ROWS[0]["学生人数"]),
    RecordFilter("占地面积", "eq", ROWS[0]["占地面积"]),
    RecordFilter("建校日期", "eq", ROWS[0]["建校日期"]),
    RecordFilter("更新时间", "eq", ROWS[0]["更新时间"]),
    RecordFilter("公办", "eq", False),
    RecordFilter("_id", "eq", 7),
    RecordFilter("街道", "in", values=("石湾镇街道", "南庄镇")),
    RecordFilter("学生人数", "in", values=(ROWS[1]["学生人数"], ROWS[2]["学生人数"], 1)),
    RecordFilter("建校日期", "in", values=(ROWS[0]["建校日期"], ROWS[5]["建校日期"])),
    RecordFilter("学生人数", "range", gte=500, lte=1000),
    RecordFilter("学生人数", "range", gte=2900),
    RecordFilter("占地面积", "range", lte=5000.5),
    RecordFilter("建校日期", "range", gte=date(1990, 1, 1), lte=date(1999, 12, 31)),
    RecordFilter("更新时间", "range", gte=datetime(2024, 6, 1), lte=datetime(2024, 6, 30, 23)),
    RecordFilter("名称", "range", gte="石", lte="绿"),
    RecordFilter("_id", "range", gte=490),
    *(RecordFilter(name, "exists", True) for name in TYPES),
    *(RecordFilter(name, "exists", False) for name in TYPES),
]


@pytest.mark.parametrize("condition", FILTERS, ids=lambda f: f"{f.op}-{f.field}")
def test_each_filter(record_store, schools, condition):
    expected = _expected(RecordQuery(filters=(condition,)))
    assert expected and len(expected) < len(ROWS), "the filter tests nothing here"
    page = record_store.query(schools, RecordQuery(filters=(condition,), limit=MAX_LIMIT))
    assert _ids(page.rows) == _ids(expected)
    assert (page.total, page.total_is_estimate) == (len(expected), False)


def test_filters_combine(record_store, schools):
    query = RecordQuery(
        filters=(
            RecordFilter("街道", "eq", "张槎街道"),
            RecordFilter("公办", "eq", True),
            RecordFilter("学生人数", "range", gte=1000),
            RecordFilter("位置", "exists", True),
        ),
        limit=MAX_LIMIT,
    )
    assert _ids(record_store.query(schools, query).rows) == _ids(_expected(query))


@pytest.mark.parametrize(
    ("loose", "typed"),
    [
        (RecordFilter("建校日期", "range", gte="1990-01-01"), {"gte": date(1990, 1, 1)}),
        (
            RecordFilter("更新时间", "range", lte="2024-03-01T12:00:00"),
            {"lte": datetime(2024, 3, 1, 12)},
        ),
        (RecordFilter("学生人数", "range", gte="2500"), {"gte": 2500}),
        (RecordFilter("占地面积", "range", gte="40000.5"), {"gte": 40000.5}),
        (RecordFilter("公办", "eq", "false"), {"value": False}),
    ],
)
def test_filter_values_are_coerced(record_store, schools, loose, typed):
    expected = _expected(RecordQuery(filters=(RecordFilter(**{**loose.__dict__, **typed}),)))
    page = record_store.query(schools, RecordQuery(filters=(loose,), limit=MAX_LIMIT))
    assert _ids(page.rows) == _ids(expected)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (RecordQuery(filters=(RecordFilter("校长", "eq", "x"),)), "校长"),
        (RecordQuery(filters=(RecordFilter("学生人数", "eq", "many"),)), "学生人数"),
        (RecordQuery(filters=(RecordFilter("建校日期", "range", gte="yesterday"),)), "建校日期"),
        (RecordQuery(filters=(RecordFilter("占地面积", "in", values=("big",)),)), "占地面积"),
        (RecordQuery(filters=(RecordFilter("街道", "like", "祖"),)), "街道"),
        (RecordQuery(filters=(RecordFilter("街道", "exists", "yes"),)), "街道"),
        (RecordQuery(filters=(RecordFilter("学生人数", "range"),)), "学生人数"),
        (RecordQuery(filters=(RecordFilter("位置", "eq", (23.0, 113.0)),)), "位置"),
        (RecordQuery(sort=(("校长", "asc"),)), "校长"),
        (RecordQuery(sort=(("位置", "asc"),)), "位置"),
        (RecordQuery(sort=(("街道", "up"),)), "街道"),
        (RecordQuery(fields=("校长",)), "校长"),
    ],
)
def test_bad_queries_say_what_is_wrong(record_store, schools, query, message):
    with pytest.raises(ValueError, match=message):
        record_store.query(schools, query)


SORTS = [
    (("学生人数", "asc"),),
    (("学生人数", "desc"),),
    (("占地面积", "desc"),),
    (("建校日期", "asc"),),
    (("更新时间", "desc"),),
    (("公办", "asc"),),
    (("名称", "asc"),),
    (("街道", "desc"),),
    (("_id", "desc"),),
    (("街道", "asc"), ("学生人数", "desc")),
    (("公办", "desc"), ("建校日期", "asc"), ("名称", "desc")),
]


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: ",".join(f"{n}-{d}" for n, d in s))
def test_sort_and_page_by_cursor(record_store, schools, sort):
    """Missing values last in both directions, ties by _id; pages by cursor never skip or
    repeat a row, and agree with one big page and with the export."""
    query = RecordQuery(sort=sort, limit=37)
    expected = _ids(_expected(query))
    assert _ids(_page_through(record_store, schools, query)) == expected
    assert _ids(record_store.query(schools, RecordQuery(sort=sort, limit=MAX_LIMIT)).rows) == (
        expected
    )
    assert _ids(record_store.export(schools, RecordQuery(sort=sort))) == expected


def test_paging_a_search_with_filters(record_store, schools):
    query = RecordQuery(
        q="学校",
        filters=(RecordFilter("公办", "eq", True),),
        sort=(("建校日期", "desc"),),
        fields=("名称",),
        limit=25,
    )
    expected = _expected(query)
    first = record_store.query(schools, query)
    assert first.total == len(expected) and not first.total_is_estimate
    rows = _page_through(record_store, schools, query)
    assert rows == [{"_id": row["_id"], "名称": row["名称"]} for row in expected]
    assert list(record_store.export(schools, query)) == rows


def test_cursor_is_checked(record_store, schools):
    query = RecordQuery(sort=(("学生人数", "asc"),), limit=10)
    cursor = record_store.query(schools, query).next_cursor
    assert cursor and cursor.replace("-", "").replace("_", "").isalnum()  # URL-safe
    tampered = [
        cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB"),
        cursor[: len(cursor) // 2],
        "not a cursor!",
        "eyJhZnRlciI6ICJbOTk5XSJ9",  # {"after": "[999]"}, no digest
    ]
    for bad in tampered:
        with pytest.raises(ValueError, match="cursor"):
            record_store.query(schools, RecordQuery(**{**query.__dict__, "cursor": bad}))
    other_sort = RecordQuery(sort=(("学生人数", "desc"),), cursor=cursor)
    with pytest.raises(ValueError, match="cursor"):
        record_store.query(schools, other_sort)


def _cursor_pit(cursor: str) -> str | None:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))).get("pit")


def test_pages_by_cursor_read_one_snapshot_on_the_engines(record_store, scratch, backend):
    """On the engines a walk by cursor reads the point in time its first page opened; on
    SQL (keyset) rows appended meanwhile show up in their place."""
    record_store.create(scratch, SCHOOL_FIELDS)
    record_store.append(scratch, iter(ROWS[:30]))
    query = RecordQuery(fields=("名称",), limit=10)
    first = record_store.query(scratch, query)
    record_store.append(scratch, iter(ROWS[30:40]))
    walked, cursor = _ids(first.rows), first.next_cursor
    while cursor:
        page = record_store.query(scratch, replace(query, cursor=cursor))
        walked, cursor = walked + _ids(page.rows), page.next_cursor
    if backend in ENGINE_URLS:
        assert walked == _ids(ROWS[:30])
    else:
        assert walked == _ids(ROWS[:40])
    # A fresh walk sees the new rows.
    assert _ids(_page_through(record_store, scratch, query)) == _ids(ROWS[:40])


def test_a_page_that_is_the_last_opens_no_point_in_time(record_store, schools, backend):
    if backend not in ENGINE_URLS:
        pytest.skip("points in time are the engines'")
    opened = []
    open_pit = record_store._open_pit
    record_store._open_pit = lambda *args: opened.append(args) or open_pit(*args)
    try:
        assert record_store.query(schools, RecordQuery(limit=len(ROWS))).next_cursor is None
        assert not opened
        cursor = record_store.query(schools, RecordQuery(limit=10)).next_cursor
        assert len(opened) == 1 and _cursor_pit(cursor)
    finally:
        del record_store._open_pit


def test_an_expired_cursor_says_start_again(record_store, schools, backend):
    if backend not in ENGINE_URLS:
        pytest.skip("keyset cursors on SQL do not expire")
    query = RecordQuery(limit=10)
    cursor = record_store.query(schools, query).next_cursor
    record_store._close_pit(_cursor_pit(cursor))  # as its keep-alive running out would
    with pytest.raises(ValueError, match="expired"):
        record_store.query(schools, replace(query, cursor=cursor))


def test_a_cursor_does_not_read_another_resource(record_store, schools, scratch, backend):
    record_store.create(scratch, SCHOOL_FIELDS)
    record_store.append(scratch, iter(ROWS[:20]))
    query = RecordQuery(limit=10)
    cursor = record_store.query(scratch, query).next_cursor
    if backend in ENGINE_URLS:
        with pytest.raises(ValueError, match="cursor"):
            record_store.query(schools, replace(query, cursor=cursor))
    else:  # a keyset cursor is only sort values: it pages the other resource from there
        page = record_store.query(schools, replace(query, cursor=cursor))
        assert _ids(page.rows) == _ids(ROWS[10:20])


def test_field_selection(record_store, schools):
    page = record_store.query(schools, RecordQuery(fields=("位置", "名称", "_id"), limit=5))
    assert page.rows == [
        {"_id": row["_id"], "位置": row["位置"], "名称": row["名称"]} for row in ROWS[:5]
    ]
    assert list(page.rows[0]) == ["_id", "位置", "名称"]


# -- full text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    [
        "校",  # one character
        "学校",  # two: most Chinese words
        "中学",
        "实验学校",  # three and more
        "祖庙街道",
        "职业技术学校",
        "东华里第1",
        "学校 祖庙",  # every word must be found, in any text field
        "石湾 幼儿园 第2",
        "grade",  # ASCII case does not matter
        "GRADE A",
        "100%",  # LIKE's wildcards are plain characters
        "_",
        "不存在的学校",
    ],
)
def test_full_text(record_store, schools, q):
    query = RecordQuery(q=q, limit=MAX_LIMIT)
    expected = _expected(query)
    page = record_store.query(schools, query)
    assert _ids(page.rows) == _ids(expected)
    assert page.total == len(expected)


def test_search_fields_narrow_the_search(record_store, schools):
    if "search_fields" not in {f.name for f in dataclass_fields(RecordQuery)}:
        pytest.skip("RecordQuery has no search_fields yet")
    query = RecordQuery(q="0757", search_fields=("名称", "备注"), limit=MAX_LIMIT)
    assert record_store.query(schools, query).rows == []
    query = RecordQuery(q="学校", search_fields=("名称",), limit=MAX_LIMIT)
    expected = [row for row in ROWS if _found(row, ["学校"], ["名称"])]
    assert _ids(record_store.query(schools, query).rows) == _ids(expected)


# -- grouped counts, export ------------------------------------------------------------------


def _counts(rows, name):
    counts = Counter(row[name] for row in rows if row[name] is not None)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


@pytest.mark.parametrize("name", ["街道", "公办", "学生人数", "建校日期"])
def test_group_counts(record_store, schools, name):
    assert record_store.group_counts(schools, name, RecordQuery(), 1000) == _counts(ROWS, name)
    query = RecordQuery(q="学校", filters=(RecordFilter("学生人数", "range", gte=1000),))
    expected = _counts(_expected(query), name)[:3]
    assert record_store.group_counts(schools, name, query, 3) == expected


def test_group_counts_are_checked(record_store, schools):
    with pytest.raises(ValueError, match="校长"):
        record_store.group_counts(schools, "校长", RecordQuery(), 10)
    with pytest.raises(ValueError, match="位置"):
        record_store.group_counts(schools, "位置", RecordQuery(), 10)
    assert [s for s, _ in record_store.group_counts(schools, "街道", RecordQuery(), 10)] == sorted(
        STREETS, key=lambda s: -sum(row["街道"] == s for row in ROWS)
    )


def test_export_streams_every_match(record_store, schools):
    assert list(record_store.export(schools, RecordQuery())) == ROWS
    query = RecordQuery(filters=(RecordFilter("街道", "in", values=("祖庙街道", "南庄镇")),))
    assert _ids(record_store.export(schools, query)) == _ids(_expected(query))


def test_export_checks_its_query_before_streaming(record_store, schools):
    with pytest.raises(ValueError, match="校长"):
        record_store.export(schools, RecordQuery(sort=(("校长", "asc"),)))
    with pytest.raises(KeyError):
        record_store.export(str(uuid.uuid4()), RecordQuery())


def _from_batches(batches) -> list[dict]:
    rows = []
    for batch in batches:
        assert len(batch.ids) <= EXPORT_BATCH
        assert all(len(column) == len(batch.ids) for column in batch.columns)
        for position, row_id in enumerate(batch.ids):
            row = {"_id": row_id}
            row.update(
                (name, column[position])
                for name, column in zip(batch.fields, batch.columns, strict=True)
            )
            rows.append(row)
    return rows


@pytest.mark.parametrize(
    "query",
    [
        RecordQuery(),
        RecordQuery(sort=(("建校日期", "desc"), ("公办", "asc"))),
        RecordQuery(q="小学", fields=("位置", "名称", "更新时间")),
        RecordQuery(
            filters=(RecordFilter("学生人数", "range", gte=1000),), sort=(("占地面积", "asc"),)
        ),
    ],
    ids=["all", "sorted", "fields", "filtered"],
)
def test_export_batches_by_column_hold_the_exported_rows(record_store, schools, query):
    """The batches (what file exports write from) give the rows iterating gives, typed
    alike, in the query's fields and order."""
    batches = list(record_store.export(schools, query).batches())
    wanted = query.fields or tuple(field.name for field in SCHOOL_FIELDS)
    assert {batch.fields for batch in batches} == {wanted}
    assert _from_batches(batches) == list(record_store.export(schools, query))
    expected = [
        {"_id": row["_id"], **{name: row[name] for name in wanted}} for row in _expected(query)
    ]
    assert _from_batches(batches) == expected
    assert len(batches) == -(-len(expected) // EXPORT_BATCH)


def test_export_is_read_one_way(record_store, schools):
    rows = record_store.export(schools, RecordQuery())
    assert next(rows)["_id"] == 1
    with pytest.raises(RuntimeError):
        rows.batches()
    rows.close()  # stopping early lets go of what the store holds (a point in time)
    early = record_store.export(schools, RecordQuery())
    assert len(next(early.batches()).ids) == min(len(ROWS), EXPORT_BATCH)
    early.close()


# -- the SQL store's own promises --------------------------------------------------------------


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=_skip_unless(POSTGRES_URL, "OPENDATA_TEST_DATABASE_URL is not set"),
        ),
    ],
)
def sql_store(request, tmp_path_factory):
    """The SQL store alone, for what it promises beyond the contract."""
    yield from _store_on(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def sql_schools(sql_store):
    resource_id = str(uuid.uuid4())
    sql_store.create(resource_id, SCHOOL_FIELDS)
    sql_store.append(resource_id, iter(ROWS))
    yield resource_id
    sql_store.drop(resource_id)


@pytest.fixture
def sql_scratch(sql_store):
    resource_id = str(uuid.uuid4())
    yield resource_id
    sql_store.drop(resource_id)


def test_totals_are_estimated_beyond_the_limit(sql_store, sql_schools, monkeypatch):
    monkeypatch.setattr("catalog.records.sql.COUNT_EXACT_LIMIT", 50)
    searched = sql_store.query(sql_schools, RecordQuery(q="学校", limit=10))
    assert (searched.total, searched.total_is_estimate) == (50, True)
    everything = sql_store.query(sql_schools, RecordQuery(limit=10))
    assert (everything.total, everything.total_is_estimate) == (len(ROWS), False)
    few = sql_store.query(sql_schools, RecordQuery(filters=(RecordFilter("_id", "range", lte=30),)))
    assert (few.total, few.total_is_estimate) == (30, False)


def test_paging_never_uses_offset(sql_store, sql_schools):
    statements = []

    def record(_conn, clause, *_args):
        statements.append(clause)

    event.listen(sql_store.engine, "before_execute", record)
    try:
        query = RecordQuery(q="学校", sort=(("学生人数", "desc"),), limit=20)
        rows = _page_through(sql_store, sql_schools, query)
        list(sql_store.export(sql_schools, RecordQuery()))
    finally:
        event.remove(sql_store.engine, "before_execute", record)
    assert len(rows) > 40
    # As PostgreSQL would run them: SQLite's dialect writes a harmless OFFSET 0 after LIMIT.
    rendered = [str(s.compile(dialect=postgresql.dialect())) for s in statements]
    assert rendered and not [s for s in rendered if "OFFSET" in s.upper()]


def test_replacing_leaves_one_table(sql_store, sql_scratch):
    for _ in range(3):
        sql_store.create(sql_scratch, SCHOOL_FIELDS)
        sql_store.append(sql_scratch, iter(ROWS[:10]))
    names = inspect(sql_store.engine).get_table_names()
    hex_id = sql_scratch.replace("-", "")
    assert len([n for n in names if hex_id in n and "_fts" not in n]) == 1
    sql_store.drop(sql_scratch)
    assert not [n for n in inspect(sql_store.engine).get_table_names() if hex_id in n]


def test_executemany_without_copy(sql_store, sql_scratch):
    plain = SqlRecordStore(sql_store.engine, use_copy=False, trigram=False)
    plain.create(sql_scratch, SCHOOL_FIELDS)
    assert plain.append(sql_scratch, iter(ROWS)) == len(ROWS)
    assert plain.query(sql_scratch, RecordQuery(limit=MAX_LIMIT)).rows == ROWS
    assert "record store" in plain.check()


def test_a_failed_create_leaves_the_earlier_store(sql_store, sql_scratch, monkeypatch):
    sql_store.create(sql_scratch, SCHOOL_FIELDS)
    sql_store.append(sql_scratch, iter(ROWS[:10]))

    def fail(*_args, **_kwargs):
        raise RuntimeError("the disk is full")

    # Fails after the registry row is rewritten and the new table made, in one transaction.
    monkeypatch.setattr(sql_store, "_drop_tables", fail)
    with pytest.raises(RuntimeError):
        sql_store.create(sql_scratch, [RecordField("区", "text")])
    monkeypatch.undo()
    assert sql_store.fields(sql_scratch) == SCHOOL_FIELDS
    assert sql_store.query(sql_scratch, RecordQuery(q="学校")).total == len(
        [row for row in ROWS[:10] if _found(row, ["学校"])]
    )
    hex_id = sql_scratch.replace("-", "")
    tables = inspect(sql_store.engine).get_table_names()
    assert len([n for n in tables if hex_id in n and "_fts" not in n]) == 1


def test_create_drops_a_stray_table_of_the_resource(sql_store, sql_scratch):
    stray = f"records_{sql_scratch.replace('-', '')}_0badcafe"
    with sql_store.engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {stray} (_id INTEGER PRIMARY KEY)"))
    sql_store.create(sql_scratch, SCHOOL_FIELDS)
    assert stray not in inspect(sql_store.engine).get_table_names()


def test_check_raises_when_the_database_does_not_answer(tmp_path):
    engine = create_database_engine(f"sqlite:///{tmp_path}/no/such/folder/catalog.db")
    with pytest.raises(OperationalError):
        SqlRecordStore(engine).check()
