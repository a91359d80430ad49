"""Record exports through HTTP: CSV (UTF-8, and with a BOM for Excel), JSON Lines, XLSX and
GeoJSON; the query's filters; masking in every format; formula injection made inert; the
GeoJSON refusal; counting and auditing; exports written to the object store for jobs; and
flat memory on 200,000 generated records.

The GeoJSON round trip uses a real file, Shanghai bus line 71's stops
(tests/fixtures/geo, see tests/fixtures/SOURCES.md), loaded by the tabular ingestion.
"""

import csv
import dataclasses
import io
import json
import tracemalloc
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from catalog.exports import ExportOptions, export_body
from catalog.interfaces import RecordField, RecordFilter, RecordQuery
from catalog.masking import mask_row
from catalog.models import AuditEvent, DownloadCount
from catalog.policy import Actor
from catalog.services.records import export_to_store
from catalog.services.resources import ResourceValues, add_resource
from catalog.services.users import actor_for_user
from harvesters.tabular.ingest import ingest
from tests.factories import (
    SYSTEM,
    add_table,
    bearer,
    make_dataset,
    make_department,
    make_user,
    token_for,
)

BUS_STOPS = Path(__file__).parent.parent / "fixtures" / "geo" / "shanghai_bus71_stops.geojson"
FIELDS = [
    RecordField("name", "text", "姓名", sensitive=True),
    RecordField("id_card", "text", "身份证号", sensitive=True),
    RecordField("school", "text", "学校名称"),
    RecordField("street", "text", "所属镇街"),
    RecordField("students", "integer", "在校学生数"),
    RecordField("founded", "date", "建校日期"),
    RecordField("location", "geo_point", "经纬度"),
]
STREETS = ["祖庙街道", "石湾镇街道", "张槎街道", "南庄镇"]
FORMULA = '=HYPERLINK("http://evil.example/","点我")'
ROWS = 120


def rows(count=ROWS):
    for number in range(1, count + 1):
        yield {
            "_id": number,
            "name": "张三丰" if number % 2 else "李四",
            "id_card": f"44060419900101{number:04d}",
            "school": f"禅城区第{number}小学" if number != 7 else FORMULA,
            "street": STREETS[number % 4],
            "students": number * 10,
            "founded": date(1950 + number % 70, 9, 1),
            # Every tenth school has no location: a feature with a null geometry.
            "location": None if number % 10 == 0 else (23.0 + number / 1000, 113.1),
        }


@pytest.fixture
def world(session, backends):
    department = make_department(session, slug="edu", name="佛山市禅城区教育局")
    steward = make_user(session, department=department, role="editor")
    open_data = make_dataset(session, department, slug="pupils")
    resource = add_table(session, backends, open_data, FIELDS, records=rows())
    plain = add_table(session, backends, open_data, FIELDS[2:5], name="学校名单", records=rows(5))
    hidden_place = [dataclasses.replace(FIELDS[6], sensitive=True), FIELDS[2]]
    secret_place = add_table(
        session, backends, open_data, hidden_place, name="住址", records=rows(5)
    )
    conditional = make_dataset(session, department, slug="pupils-c", open_type="conditional")
    closed = make_dataset(
        session, department, slug="pupils-x", open_type="not_open", share_type="not_shared"
    )
    urls = {
        "main": resource,
        "plain": plain,
        "secret_place": secret_place,
        "conditional": add_table(session, backends, conditional, FIELDS, records=rows(3)),
        "closed": add_table(session, backends, closed, FIELDS, records=rows(3)),
    }
    slugs = {"conditional": conditional.slug, "closed": closed.slug}
    return SimpleNamespace(
        resource=resource,
        steward=steward,
        dataset=open_data,
        url={
            key: f"/api/v1/datasets/{slugs.get(key, open_data.slug)}/resources/{r.id}"
            "/records/export"
            for key, r in urls.items()
        },
        owner=bearer(token_for(session, steward)),
    )


def _file_name(response) -> str:
    return unquote(response.headers["Content-Disposition"].split("filename*=UTF-8''")[1])


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def _xlsx(response) -> list[tuple]:
    workbook = load_workbook(io.BytesIO(response.get_data()), read_only=True)
    return [tuple(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]


def _geojson(response) -> dict:
    return json.loads(response.get_data().decode("utf-8"))


# -- each format -------------------------------------------------------------------------------


def test_csv_is_utf8_without_a_bom_by_default(client, world):
    response = client.get(world.url["main"] + "?format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert _file_name(response) == "禅城区学生名册.csv"
    data = response.get_data()
    assert not data.startswith(b"\xef\xbb\xbf")
    table = _csv(response)
    assert table[0] == [
        "姓名",
        "身份证号",
        "学校名称",
        "所属镇街",
        "在校学生数",
        "建校日期",
        "经纬度",
    ]
    assert len(table) == ROWS + 1
    assert table[1][4:] == ["10", "1951-09-01", "23.001,113.1"]
    assert table[7][2] == "'" + FORMULA  # made inert, as in XLSX
    by_name = client.get(world.url["main"] + "?format=csv&header=name")
    assert _csv(by_name)[0][:3] == ["name", "id_card", "school"]


def test_csv_for_excel_has_a_bom(client, world):
    response = client.get(world.url["main"] + "?bom=true")
    data = response.get_data()
    assert data.startswith("\ufeff姓名".encode())
    assert data.count(b"\xef\xbb\xbf") == 1


def test_json_lines(client, world):
    response = client.get(world.url["main"] + "?format=jsonl")
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert _file_name(response) == "禅城区学生名册.jsonl"
    lines = [json.loads(line) for line in response.get_data().decode().splitlines()]
    assert len(lines) == ROWS
    assert lines[0]["_id"] == 1
    assert lines[0]["founded"] == "1951-09-01"
    assert lines[0]["location"] == {"lat": 23.001, "lon": 113.1}
    assert lines[6]["school"] == FORMULA  # no spreadsheet reads JSON: kept as it is


def test_xlsx_keeps_types_and_makes_formulas_inert(client, world):
    response = client.get(world.url["main"] + "?format=xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    assert response.headers["Content-Length"] == str(len(response.get_data()))
    assert _file_name(response) == "禅城区学生名册.xlsx"
    sheet = _xlsx(response)
    assert sheet[0] == (
        "姓名",
        "身份证号",
        "学校名称",
        "所属镇街",
        "在校学生数",
        "建校日期",
        "经纬度",
    )
    assert len(sheet) == ROWS + 1
    first = sheet[1]
    assert first[4] == 10 and isinstance(first[4], int)
    assert first[5] == datetime(1951, 9, 1)
    assert first[6] == "23.001,113.1"
    assert sheet[7][2] == "'" + FORMULA
    # Not a formula cell either: the raw sheet holds it as an inline string.
    workbook = load_workbook(io.BytesIO(response.get_data()))
    cell = workbook.worksheets[0]["C8"]
    assert (cell.data_type, cell.value) == ("s", "'" + FORMULA)


def test_geojson_is_a_feature_collection_of_points(client, world):
    response = client.get(world.url["main"] + "?format=geojson", headers=world.owner)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/geo+json"
    assert _file_name(response) == "禅城区学生名册.geojson"
    collection = _geojson(response)
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert len(features) == ROWS
    first = features[0]
    assert first["id"] == 1
    assert first["geometry"] == {"type": "Point", "coordinates": [113.1, 23.001]}
    assert first["properties"]["school"] == "禅城区第1小学"
    assert "location" not in first["properties"]
    assert features[9]["geometry"] is None


def test_geojson_of_records_without_a_location_is_refused(client, backends, world):
    response = client.get(world.url["plain"] + "?format=geojson")
    assert response.status_code == 422
    assert "geo point" in response.get_json()["errors"]["format"][0]
    hidden = client.get(world.url["secret_place"] + "?format=geojson")
    assert hidden.status_code == 422
    assert "sensitive" in hidden.get_json()["errors"]["format"][0]
    # The owning department sees the location, so it may map it.
    owner = client.get(world.url["secret_place"] + "?format=geojson", headers=world.owner)
    assert owner.status_code == 200
    # A refused export is neither counted nor audited.
    with backends.sessions() as fresh:
        assert fresh.scalar(select(func.count()).select_from(DownloadCount)) == 1


def test_geojson_round_trips_a_real_file(client, session, backends, world):
    resource = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        world.dataset.slug,
        ResourceValues(name="71路公交站点", format="GEOJSON"),
        io.BytesIO(BUS_STOPS.read_bytes()),
        "stops.geojson",
    )
    report = ingest(BUS_STOPS, None, backends.record_store, resource.id, file_name="stops.geojson")
    original = json.loads(BUS_STOPS.read_text(encoding="utf-8"))["features"]
    assert report.rows_loaded == len(original)
    url = f"/api/v1/datasets/{world.dataset.slug}/resources/{resource.id}/records/export"
    exported = _geojson(client.get(url + "?format=geojson"))["features"]
    assert [f["properties"]["stopname"] for f in exported] == [
        f["properties"]["stopname"] for f in original
    ]
    for mine, theirs in zip(exported, original, strict=True):
        assert mine["geometry"]["coordinates"] == pytest.approx(
            theirs["geometry"]["coordinates"], abs=1e-9
        )


# -- filters, masking, policy --------------------------------------------------------------------


def test_exports_take_the_query_endpoints_filters(client, world):
    filters = json.dumps({"street": "祖庙街道", "students": {"gte": 400}})
    records = client.get(world.url["main"].replace("/export", "") + f"?filters={filters}")
    exported = client.get(world.url["main"] + f"?format=jsonl&filters={filters}&sort=-students")
    lines = [json.loads(line) for line in exported.get_data().decode().splitlines()]
    assert len(lines) == records.get_json()["total"] == 21
    assert [line["students"] for line in lines][:2] == [1200, 1160]
    assert client.get(world.url["main"] + "?q=第12小学&format=jsonl").get_data().count(b"\n") == 1
    bad = client.get(world.url["main"] + "?filters=" + json.dumps({"id_card": "x"}))
    assert bad.status_code == 422  # a masked field cannot be filtered on


def _exported_values(response, export_format: str) -> str:
    """Every value of the export as one text, to look for raw and masked values in."""
    if export_format == "xlsx":
        return repr(_xlsx(response))
    return response.get_data().decode("utf-8-sig")


@pytest.mark.parametrize("export_format", ["csv", "jsonl", "xlsx", "geojson"])
def test_sensitive_fields_are_masked_in_every_format_but_for_the_owner(
    client, world, export_format
):
    url = world.url["main"] + f"?format={export_format}"
    anonymous = _exported_values(client.get(url), export_format)
    assert "440604********0001" in anonymous and "张**" in anonymous
    assert "440604199001010001" not in anonymous and "张三丰" not in anonymous
    owner = _exported_values(client.get(url, headers=world.owner), export_format)
    assert "440604199001010001" in owner and "张三丰" in owner


def test_exports_keep_the_policy(client, world):
    refused = client.get(world.url["conditional"])
    assert refused.status_code == 403
    assert "apply" in refused.get_json()["detail"]
    assert client.get(world.url["closed"]).status_code == 404
    assert client.get(world.url["closed"], headers=world.owner).status_code == 200
    assert client.get(world.url["main"] + "?format=pdf").status_code == 422


def test_every_export_is_counted_and_audited(client, backends, world):
    for export_format in ("csv", "jsonl", "xlsx", "geojson"):
        assert client.get(world.url["main"] + f"?format={export_format}").status_code == 200
    client.get(world.url["main"] + "?format=csv&q=第1小学", headers=world.owner)
    with backends.sessions() as fresh:
        count = fresh.scalar(
            select(DownloadCount.count).where(DownloadCount.resource_id == world.resource.id)
        )
        events = fresh.scalars(
            select(AuditEvent).where(AuditEvent.action == "records.export").order_by(AuditEvent.id)
        ).all()
    assert count == 5
    assert [e.after["format"] for e in events] == ["csv", "jsonl", "xlsx", "geojson", "csv"]
    assert {e.object_id for e in events} == {world.resource.id}
    assert events[0].actor_id is None
    assert events[-1].actor_id == world.steward.id
    assert events[-1].after["q"] == "第1小学"


# -- exports written to the object store, for jobs -------------------------------------------------


@pytest.mark.parametrize("store_kind", ["local", "s3"])
@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_an_export_written_to_the_object_store(
    request, session, backends, world, store_kind, export_format
):
    object_store = (
        request.getfixturevalue("s3_store") if store_kind == "s3" else backends.object_store
    )
    query = RecordQuery(filters=(RecordFilter("street", "eq", value="祖庙街道"),))
    stored = export_to_store(
        session,
        backends.record_store,
        object_store,
        Actor.anonymous(),
        world.dataset.slug,
        world.resource.id,
        query,
        export_format=export_format,
        options=ExportOptions(excel_bom=True),
    )
    assert stored.key.startswith(f"exports/edu/pupils/{world.resource.id}/")
    assert stored.key.endswith(f".{export_format}")
    data = b"".join(object_store.open(stored.key))
    assert stored.size == len(data)
    if export_format == "csv":
        table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert len(table) == ROWS // 4 + 1
    assert {row[3] for row in table[1:]} == {"祖庙街道"}
    assert all(row[1].startswith("440604********") for row in table[1:])  # masked


def test_the_owning_department_exports_to_the_store_unmasked(session, backends, world):
    steward = actor_for_user(session, world.steward)
    stored = export_to_store(
        session,
        backends.record_store,
        backends.object_store,
        steward,
        world.dataset.slug,
        world.resource.id,
        RecordQuery(),
        export_format="jsonl",
    )
    first = json.loads(next(backends.object_store.open(stored.key)).split(b"\n")[0])
    assert first["id_card"] == "440604199001010001"


# -- flat memory ---------------------------------------------------------------------------------

MEMORY_FIELDS = [
    RecordField("名称", "text", "学校名称"),
    RecordField("位置", "geo_point", "经纬度"),
    RecordField("电话", "text", "联系电话", sensitive=True),
]
MASKED = frozenset({"电话"})
MiB = 1024 * 1024


def _generated(count: int):
    for number in range(1, count + 1):
        yield {
            "_id": number,
            "名称": f"禅城区第{number}小学",
            "位置": (23.0 + number / 1e6, 113.1),
            "电话": f"0757-{80000000 + number}",
        }


# 200,000 records make 11 to 36 MB of CSV, JSON Lines or GeoJSON, and about 100 MB as
# rows held in memory: either would break the bound. XLSX goes through openpyxl's pure
# Python XML writer at a few thousand rows a second here, so it is measured on 20,000
# records, which held in memory (about 10 MB) would break its bound too.
@pytest.mark.parametrize(
    ("export_format", "count", "bound"),
    [
        ("csv", 200_000, 8 * MiB),
        ("jsonl", 200_000, 8 * MiB),
        ("geojson", 200_000, 8 * MiB),
        ("xlsx", 20_000, 6 * MiB),
    ],
)
def test_exports_stream_with_flat_memory(export_format, count, bound):
    tracemalloc.start()
    try:
        masked_rows = (mask_row(row, MASKED) for row in _generated(count))
        body = export_body(export_format, MEMORY_FIELDS, MASKED, masked_rows, ExportOptions())
        written = sum(len(chunk) for chunk in body.chunks)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert written > bound or export_format == "xlsx"
    assert peak < bound, f"{export_format}: {peak / MiB:.1f} MiB for {count} records"
