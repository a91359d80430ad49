"""Tabular ingestion on the real fixtures (tests/fixtures/tabular, tests/fixtures/geo; see
tests/fixtures/SOURCES.md) into the embedded SQL record store on a temporary SQLite file."""

import codecs
import datetime as dt
import io
import json
import random
import tracemalloc
import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest

from catalog.db import create_database_engine
from catalog.demo import files as demo_files
from catalog.demo import values as demo_values
from catalog.interfaces import RecordField, RecordQuery
from catalog.records.sql import SqlRecordStore
from harvesters.tabular import (
    Limits,
    TabularError,
    TabularFormat,
    infer_schema,
    ingest,
    sniff,
)
from harvesters.tabular.encoding import SAMPLE_BYTES, detect_encoding

FIXTURES = Path(__file__).parents[2] / "fixtures"
TABULAR = FIXTURES / "tabular"
GEO = FIXTURES / "geo"
NBS = sorted(TABULAR.glob("nbs_province_annual__*__gbk.csv"))
INVALID = sorted(TABULAR.glob("*__INVALID*"))


@pytest.fixture
def store(tmp_path):
    engine = create_database_engine(f"sqlite:///{tmp_path}/c.db")
    yield SqlRecordStore(engine)
    engine.dispose()


def new_id() -> str:
    return str(uuid.uuid4())


def rows(store, resource_id: str) -> list[dict]:
    return list(store.export(resource_id, RecordQuery()))


def by_title(report) -> dict[str, RecordField]:
    return {field.title: field for field in report.fields}


# -- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (TABULAR / "nbs_province_annual__gdp__gbk.csv", TabularFormat.CSV),
        (TABULAR / "acumar_monitoring_wells__semicolon.csv", TabularFormat.CSV),
        (TABULAR / "us_cdo_survey_2015.xlsx", TabularFormat.XLSX),
        (TABULAR / "nbs_division_codes_2023__pca-code.json", TabularFormat.JSON),
        (GEO / "shanghai_bus71_stops.geojson", TabularFormat.GEOJSON),
        (GEO / "shenzhen_districts.geojson", TabularFormat.GEOJSON),
    ],
    ids=lambda value: value.name if isinstance(value, Path) else str(value),
)
def test_sniff_reads_the_content(path, expected):
    assert sniff(path, path.name, "") is expected
    with path.open("rb") as stream:
        stream.read(10)
        stream.seek(0)
        assert sniff(stream, "misnamed.txt", "application/octet-stream") is expected
        assert stream.tell() == 0  # put back for the reader


def test_sniff_believes_the_bytes_not_the_name():
    csv_named_xlsx = io.BytesIO("名称,数量\n苹果,3\n".encode())
    assert sniff(csv_named_xlsx, "数据.xlsx", "application/vnd.ms-excel") is TabularFormat.CSV
    assert sniff(io.BytesIO(b"[Name],[Age]\nx,1\n"), "a.json", "") is TabularFormat.CSV
    assert sniff(io.BytesIO(b"\xef\xbb\xbf  [1, 2]"), "", "") is TabularFormat.JSON


# -- encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codec", "expected"),
    [
        ("名称,数量\n苹果,3\n", "utf-8", "utf-8"),
        ("名称,数量\n苹果,3\n", "utf-8-sig", "utf-8-sig"),
        ("名称,数量\n广东省佛山市禅城区,3\n", "gbk", "gb18030"),
        ("名称,数量\n㙍镕,3\n", "gb18030", "gb18030"),  # beyond GBK's common characters
        ("Élève,Peña,José,café crème,naïve façade\n" * 5, "cp1252", "cp1252"),
        ("名称,数量\n苹果,3\n", "utf-16", "utf-16"),
    ],
)
def test_encoding_detection(text, codec, expected):
    assert detect_encoding(io.BytesIO(text.encode(codec))) == expected


def test_cp1252_that_also_decodes_as_gbk_is_not_taken_for_chinese():
    # Accented letters followed by letters form valid GBK pairs, but rare characters.
    data = "Élève;Peña;Niño;Müller;Françoise;Gérard\n".encode("cp1252") * 20
    data.decode("gb18030")  # a naive "else GBK" would take it
    assert detect_encoding(io.BytesIO(data)) == "cp1252"


def test_gbk_after_a_megabyte_of_ascii_is_found(store):
    # Long ASCII lines, so that the first megabyte is a few thousand rows.
    filler = b"".join(b"%d,%s,\r\n" % (i, b"x" * 500) for i in range(SAMPLE_BYTES // 500))
    data = b"id,value,note\r\n" + filler + "1,2,禅城区\r\n".encode("gbk")
    assert len(data) > SAMPLE_BYTES
    assert detect_encoding(io.BytesIO(data)) == "gb18030"
    report = ingest(io.BytesIO(data), None, store, resource_id := new_id())
    assert report.encoding == "gb18030"
    page = store.query(resource_id, RecordQuery(q="禅城区"))
    assert [row["note"] for row in page.rows] == ["禅城区"]


# -- the statistics bureau's GBK exports ---------------------------------------------------


@pytest.mark.parametrize("path", NBS, ids=lambda path: path.name)
def test_nbs_gbk_export(store, path):
    report = ingest(path, None, store, resource_id := new_id(), file_name=path.name)
    assert report.format is TabularFormat.CSV
    assert (report.encoding, report.delimiter, report.header_line) == ("gb18030", ",", 4)
    assert report.rows_loaded == 31 and report.rows_failed == 0 and not report.failures
    before = [s for s in report.skipped_lines if s.reason == "before the header"]
    assert [s.line for s in before] == [1, 2, 3]
    assert [s.text[:3] for s in before] == ["数据库", "指标：", "时间："]
    notes = [s for s in report.skipped_lines if s.reason == "note"]
    assert notes and notes[-1].text == "数据来源：国家统计局"
    assert all(s.line > 34 for s in notes)  # after the 31 provinces
    fields = by_title(report)
    assert fields["地区"].type == "text" and fields["地区"].name == "c0"
    assert fields["2024年"].type in ("number", "integer")
    records = rows(store, resource_id)
    assert [r["_id"] for r in records] == list(range(1, 32))
    assert records[0]["c0"] == "北京市"
    assert records[-1]["c0"] == "新疆维吾尔自治区"
    assert "内蒙古自治区" in {r["c0"] for r in records}


def test_nbs_values_are_typed(store):
    path = TABULAR / "nbs_province_annual__gdp__gbk.csv"
    report = ingest(path, None, store, resource_id := new_id())
    fields = by_title(report)
    assert all(fields[f"{year}年"].type == "number" for year in range(2006, 2025))
    beijing = rows(store, resource_id)[0]
    assert beijing[fields["2024年"].name] == 49670.2
    assert beijing[fields["2006年"].name] == 8618.9
    assert [s.text[:2] for s in report.skipped_lines if s.reason == "note"] == ["注：", "数据"]


def test_nbs_empty_cells_are_none(store):
    path = TABULAR / "nbs_province_annual__population_sample_survey__gbk.csv"
    report = ingest(path, None, store, resource_id := new_id())
    fields = by_title(report)
    assert fields["2024年"].type == "integer"
    assert fields["2025年"].type == "text"  # no value at all: nothing to infer from
    beijing = rows(store, resource_id)[0]
    assert beijing[fields["2024年"].name] == 22470
    assert beijing[fields["2025年"].name] is None and beijing[fields["2020年"].name] is None


# -- codes stay text -------------------------------------------------------------------------


def test_division_codes_stay_text(store):
    report = ingest(TABULAR / "nbs_division_codes_2023__areas.csv", None, store, rid := new_id())
    assert [(f.name, f.type) for f in report.fields] == [
        ("code", "text"),
        ("name", "text"),
        ("city_code", "text"),
        ("province_code", "text"),
    ]
    assert report.rows_loaded > 2900 and report.rows_failed == 0
    first = rows(store, rid)[0]
    assert first == {
        "_id": 1,
        "code": "110101",
        "name": "东城区",
        "city_code": "1101",
        "province_code": "11",
    }


def test_leading_zeros_and_long_codes_stay_text(store):
    text = (
        "统计用区划代码,邮政编码,联系电话,身份证号,统一社会信用代码,联系人,人口\n"
        "440604001001,528000,0757-82345678,44060419800101123X,91440604MA4UL1234X,陈伟,1200\n"
        "440604002003,528031,0757-83456789,440604198506061234,91440604MA4UL2345Y,李芳,980\n"
        "110101001001,100010,010-12345678,110101199001011234,91110101MA00AAAA1B,黄敏,1500\n"
        "440604003,000123,13800138000,440604200012310011,52440604MA4UL3456C,梁静,\n"
    )
    report = ingest(io.BytesIO(text.encode("gbk")), None, store, rid := new_id())
    fields = by_title(report)
    assert {title: f.type for title, f in fields.items()} == {
        "统计用区划代码": "text",
        "邮政编码": "text",
        "联系电话": "text",
        "身份证号": "text",
        "统一社会信用代码": "text",
        "联系人": "text",
        "人口": "integer",
    }
    sensitive = {title for title, field in fields.items() if field.sensitive}
    assert sensitive == {"联系电话", "身份证号", "联系人"}
    last = rows(store, rid)[-1]
    assert last[fields["邮政编码"].name] == "000123"
    assert last[fields["统计用区划代码"].name] == "440604003"
    assert last[fields["身份证号"].name] == "440604200012310011"
    assert last[fields["人口"].name] is None


# -- other encodings and delimiters --------------------------------------------------------


def test_cp1252_semicolon_file(store):
    path = TABULAR / "acumar_monitoring_wells__semicolon.csv"
    report = ingest(path, None, store, rid := new_id())
    assert (report.encoding, report.delimiter, report.header_line) == ("cp1252", ";", 1)
    assert report.rows_loaded == 281
    records = rows(store, rid)
    acuiferos = {r["pozos_acuifero"] for r in records}
    assert any("Paraná" in value for value in acuiferos)
    assert not any("Paran\u00c3" in value or "\ufffd" in value for value in acuiferos)
    fields = {f.name: f for f in report.fields}
    assert fields["pozos_latitud"].type == fields["pozos_longitud"].type == "number"
    assert fields["location"].type == "geo_point"
    # Six wells lost a decimal point in the published file: reported, not dropped.
    assert report.rows_failed == 6
    assert [(f.line, f.field) for f in report.failures] == [
        (75, "location"),
        (101, "location"),
        (115, "location"),
        (256, "location"),
        (279, "location"),
        (281, "location"),
    ]
    assert report.failures[-1].raw == "-34.55919444,-5850041667"
    assert report.failures[-1].message == "not a latitude and longitude"
    by_id = {r["_id"]: r for r in records}
    assert by_id[280]["location"] is None and by_id[280]["pozos_longitud"] == -5850041667.0
    assert by_id[1]["location"] == (-35.078139, -58.600333)


def test_tab_and_pipe_delimiters(store):
    for delimiter in "\t|":
        text = delimiter.join(["名称", "数量"]) + "\n" + delimiter.join(["苹果", "1,234"]) + "\n"
        report = ingest(io.BytesIO(text.encode()), None, store, new_id())
        assert report.delimiter == delimiter
        assert [f.type for f in report.fields] == ["text", "integer"]


# -- inference ---------------------------------------------------------------------------


def test_inferred_values(store):
    text = (
        "金额,占比,日期,时间,有效,备注,经度,纬度\n"
        '"1,234.5",12.5%,2023-01-05,2023-01-05 08:30,是,一,113.12,23.01\n'
        '"12,000",-3%,2023/2/6,2023/02/06 09:00:01,否,,113.13,23.02\n'
        "7,0.5%,2023年3月7日,2023-03-07T10:00:00,true,-,,\n"
        "—,,,,,  ,113.14,23.03\n"
    )
    report = ingest(io.BytesIO(text.encode("utf-8-sig")), None, store, rid := new_id())
    assert report.encoding == "utf-8-sig"
    fields = by_title(report)
    assert [f.type for f in report.fields] == [
        "number",
        "number",
        "date",
        "datetime",
        "boolean",
        "text",
        "number",
        "number",
        "geo_point",
    ]
    assert fields["经纬度（纬度, 经度）"].name == "location"
    r1, r2, r3, r4 = rows(store, rid)
    names = {title: field.name for title, field in fields.items()}
    assert [r[names["金额"]] for r in (r1, r2, r3, r4)] == [1234.5, 12000.0, 7.0, None]
    assert [r[names["占比"]] for r in (r1, r2, r3)] == [12.5, -3.0, 0.5]
    assert [r[names["日期"]] for r in (r1, r2, r3)] == [
        dt.date(2023, 1, 5),
        dt.date(2023, 2, 6),
        dt.date(2023, 3, 7),
    ]
    assert r2[names["时间"]] == dt.datetime(2023, 2, 6, 9, 0, 1)
    assert [r[names["有效"]] for r in (r1, r2, r3, r4)] == [True, False, True, None]
    assert [r[names["备注"]] for r in (r1, r2, r3, r4)] == ["一", None, "-", None]
    assert r1["location"] == (23.01, 113.12) and r3["location"] is None


def test_names_are_safe_and_distinct(store):
    text = "地区,2024年,GDP(亿元),,地区,cityCode,name,name\n北京,1,2,3,4,5,x,y\n"
    report = ingest(io.BytesIO(text.encode()), None, store, new_id())
    assert [f.name for f in report.fields] == [
        "c0",
        "c1_2024",
        "gdp",
        "c3",
        "c4",
        "city_code",
        "name",
        "name_7",
    ]
    assert [f.title for f in report.fields][:4] == ["地区", "2024年", "GDP(亿元)", "第4列"]


@pytest.mark.parametrize("writer", [demo_files.write_csv, demo_files.write_xlsx])
def test_the_demo_files_types_are_found_again(store, writer):
    fields = [
        {"name": "seq", "title": "序号", "type": "integer", "gen": "sequence"},
        {"name": "person", "title": "姓名", "type": "text", "gen": "person_name"},
        {"name": "id_card", "title": "身份证号", "type": "text", "gen": "id_card"},
        {"name": "mobile", "title": "手机号码", "type": "text", "gen": "phone"},
        {"name": "uscc", "title": "统一社会信用代码", "type": "text", "gen": "uscc"},
        {"name": "founded", "title": "创办日期", "type": "date", "gen": "date:2000:2020"},
        {"name": "checked", "title": "检查时间", "type": "datetime", "gen": "datetime"},
        {"name": "score", "title": "得分", "type": "number", "gen": "num:0:100:2"},
        {"name": "public", "title": "是否公办", "type": "boolean", "gen": "boolean"},
        {"name": "where", "title": "位置", "type": "geo_point", "gen": "geo_point"},
    ]
    data = io.BytesIO()
    writer(fields, demo_values.iter_rows(fields, 200, "tabular-test"), data)
    data.seek(0)
    report = ingest(data, None, store, rid := new_id())
    assert [f.type for f in report.fields] == [f["type"] for f in fields]
    assert [f.title for f in report.fields] == [f["title"] for f in fields]
    assert [f.sensitive for f in report.fields][:4] == [False, True, True, True]
    expected = next(demo_values.iter_rows(fields, 1, "tabular-test"))
    first = rows(store, rid)[0]
    assert first["c2"] == expected["id_card"] and first["c7"] == pytest.approx(expected["score"])
    assert first["c9"] == expected["where"] and first["c5"] == expected["founded"]


# -- XLSX --------------------------------------------------------------------------------


def test_xlsx_survey_with_a_two_row_header(store):
    report = ingest(TABULAR / "us_cdo_survey_2015.xlsx", None, store, rid := new_id())
    assert (report.format, report.sheet, report.header_line) == (
        TabularFormat.XLSX,
        "Survey Export",
        1,
    )
    assert "The header takes two rows (1 and 2)." in report.notes
    titles = [f.title for f in report.fields]
    assert titles[:3] == ["Respondent ID", "Survey Date", "What agency/department do you work for?"]
    assert titles[3].endswith("Check all that apply / Data Governance")
    assert titles[4].endswith("Check all that apply / Data Architecture")
    assert by_title(report)["Survey Date"].type == "datetime"
    assert report.rows_loaded == 86 and report.rows_failed == 0
    first = rows(store, rid)[0]
    assert first["respondent_id"] == "4215700453"  # an identifier: text
    assert first["survey_date"] == dt.datetime(2015, 9, 23, 21, 9, 9)


def test_xlsx_named_sheets(store):
    path = TABULAR / "datos_jus_gob_ar__catalog.xlsx"
    assert ingest(path, None, store, new_id()).sheet == "Catalog"  # the first by default
    report = ingest(path, None, store, rid := new_id(), sheet="Distribution")
    assert report.rows_loaded == 56 and report.fields[0].name == "dataset_identifier"
    # The Field sheet declares 65,536 rows and holds a million empty ones: they are counted.
    report = ingest(path, None, store, rid := new_id(), sheet="Field")
    assert report.rows_loaded == 53 and report.blank_lines > 1_000_000
    assert by_title(report)["distribution_identifier"].type == "integer"
    assert rows(store, rid)[0]["field_title"] == "id_norma"
    with pytest.raises(TabularError, match="no sheet 'Nope'"):
        ingest(path, None, store, new_id(), sheet="Nope")


def test_xlsx_title_row_bad_values_ragged_rows_and_notes(store):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["禅城区学校名录（2024年）"])
    sheet.append([])
    sheet.append(["学校名称", "在校学生数", "建校日期", "邮政编码"])
    for n in range(120):
        sheet.append([f"学校{n}", 300 + n, dt.datetime(1990 + n % 30, 9, 1), "528000"])
    sheet.append(["元甲小学", "约900", dt.datetime(2001, 9, 1), "528031"])
    sheet.append(["惠景小学", 800, dt.datetime(2003, 9, 1, 8, 30), "528031", "多余"])
    sheet.append(["注：数据来源于区教育局"])
    sheet.append(["制表：禅城区政务服务数据管理局"])
    data = io.BytesIO()
    workbook.save(data)
    data.seek(0)
    report = ingest(data, None, store, rid := new_id())
    assert (report.header_line, report.blank_lines) == (3, 1)
    assert [f.type for f in report.fields] == ["text", "integer", "date", "text"]
    assert [(s.line, s.reason) for s in report.skipped_lines] == [
        (1, "before the header"),
        (126, "note"),
        (127, "note"),
    ]
    assert [(f.line, f.field, f.raw) for f in report.failures] == [
        (124, "c1", "约900"),
        (125, None, "惠景小学 | 800 | 2003-09-01 08:30:00 | 528031 | 多余"),
    ]
    assert report.rows_loaded == 121 and report.rows_failed == 2
    first, *_, bad = rows(store, rid)
    assert first == {"_id": 1, "c0": "学校0", "c1": 300, "c2": dt.date(1990, 9, 1), "c3": "528000"}
    assert (bad["_id"], bad["c1"]) == (121, None)


def _bomb(size: int) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            chunk = b" " * (1 << 20)
            for _ in range(size >> 20):
                sheet.write(chunk)
    return data.getvalue()


def test_xlsx_zip_bomb_is_refused_before_parsing(store):
    bomb = _bomb(64 << 20)
    assert len(bomb) < 1 << 20
    with pytest.raises(TabularError, match="zip bomb"):
        ingest(io.BytesIO(bomb), None, store, rid := new_id())
    assert not store.exists(rid)
    with pytest.raises(TabularError, match="uncompressed"):
        ingest(
            TABULAR / "us_cdo_survey_2015.xlsx",
            None,
            store,
            new_id(),
            limits=Limits(max_xlsx_uncompressed=100_000),
        )


# -- JSON and GeoJSON ------------------------------------------------------------------------


def test_geojson_points(store):
    report = ingest(GEO / "shanghai_bus71_stops.geojson", None, store, rid := new_id())
    assert report.format is TabularFormat.GEOJSON and report.encoding == "utf-8"
    assert [(f.name, f.type) for f in report.fields] == [
        ("linename", "text"),
        ("stopname", "text"),
        ("lat", "number"),
        ("lon", "number"),
        ("geometry", "geo_point"),
    ]
    first = rows(store, rid)[0]
    assert first["stopname"] == "延安东路外滩"
    lat, lon = first["geometry"]  # GeoJSON's [lon, lat] turned round
    assert (round(lat, 4), round(lon, 4)) == (31.2348, 121.4869)
    assert report.rows_loaded == 49


def test_geojson_polygons_are_kept_as_geojson_text(store):
    report = ingest(GEO / "shenzhen_districts.geojson", None, store, rid := new_id())
    assert by_title(report)["geometry"].type == "text"
    assert any("not all Points" in note for note in report.notes)
    records = rows(store, rid)
    assert "罗湖" in {r["qh"] for r in records}
    geometry = json.loads(records[0]["geometry"])
    assert geometry["type"] in ("Polygon", "MultiPolygon") and geometry["coordinates"]


def test_json_array_of_records(store):
    path = TABULAR / "nbs_division_codes_2023__pca-code.json"
    report = ingest(path, None, store, rid := new_id())
    assert report.format is TabularFormat.JSON and report.header_line is None
    assert [(f.name, f.type) for f in report.fields] == [
        ("code", "text"),
        ("name", "text"),
        ("children", "text"),
    ]
    first = rows(store, rid)[0]
    assert (first["code"], first["name"]) == ("11", "北京市")
    assert json.loads(first["children"])[0]["children"][0]["name"] == "东城区"


def test_json_records_that_do_not_fit_are_reported(store):
    records = [{"编号": f"A{n}", "数量": n} for n in range(1, 4)]
    records += [{"编号": "A4", "数量": "两"}, 7, {"编号": "A6", "数量": 6, "备注": "x"}]
    data = json.dumps(records, ensure_ascii=False).encode("gbk")
    report = ingest(io.BytesIO(data), None, store, rid := new_id(), limits=Limits(sample_rows=3))
    assert report.encoding == "gb18030"
    assert [(f.name, f.type) for f in report.fields] == [("c0", "text"), ("c1", "integer")]
    assert [(f.line, f.field, f.raw) for f in report.failures] == [
        (4, "c1", "两"),
        (5, None, "7"),
        (6, "备注", "x"),
    ]
    assert report.rows_failed == 3 and report.rows_loaded == 5
    loaded = rows(store, rid)
    assert [r["_id"] for r in loaded] == [1, 2, 3, 4, 6]
    assert loaded[3] == {"_id": 4, "c0": "A4", "c1": None}


# -- bad rows and bad files ----------------------------------------------------------------


RAGGED = (
    "序号,名称,数量,日期\n"
    "1,甲,10,2024-01-01\n"
    "2,乙,20,2024-01-02\n"
    "3,丙,30\n"  # ragged: one value short
    "4,丁,40,2024-01-04,多余\n"  # ragged: one value too many
    "5,戊,五十,2024-01-05\n"  # not a number
    "6,己,60,2024-02-30\n"  # no such day
    "\n"
    "7,庚,70,2024-01-07,,\n"  # trailing delimiters: fine
    + "".join(f"{n},名{n},{n}0,2024-01-{n % 28 + 1:02d}\n" for n in range(8, 200))
    + "合计：以上数据仅供参考\n"
)


def test_ragged_rows_and_bad_values_are_reported_with_their_lines(store):
    report = ingest(io.BytesIO(RAGGED.encode("gbk")), None, store, rid := new_id())
    assert [f.type for f in report.fields] == ["integer", "text", "integer", "date"]
    assert [(f.line, f.field, f.raw) for f in report.failures] == [
        (4, None, "3,丙,30"),
        (5, None, "4,丁,40,2024-01-04,多余"),
        (6, "c2", "五十"),
        (7, "c3", "2024-02-30"),
    ]
    assert report.failures[0].message == "3 values, but the header has 4"
    assert report.failures[2].message == "not an integer"
    assert report.rows_failed == 4
    assert report.rows_loaded == 197  # 199 data rows, two ragged
    assert report.blank_lines == 1
    assert report.skipped_lines[-1].reason == "note"
    assert report.skipped_lines[-1].text == "合计：以上数据仅供参考"
    by_id = {r["_id"]: r for r in rows(store, rid)}
    assert 3 not in by_id and 4 not in by_id  # ragged rows are not loaded
    assert by_id[5] == {"_id": 5, "c0": 5, "c1": "戊", "c2": None, "c3": dt.date(2024, 1, 5)}
    assert by_id[7]["c1"] == "庚"


def test_rows_with_bad_values_can_be_left_out(store):
    report = ingest(io.BytesIO(RAGGED.encode()), None, store, rid := new_id(), skip_bad_rows=True)
    assert report.rows_loaded == 195 and report.rows_failed == 4
    assert not {3, 4, 5, 6} & {r["_id"] for r in rows(store, rid)}


NOT_TABLES = [
    pytest.param(b"", "empty", id="empty"),
    pytest.param(b" \r\n\t\n", "empty", id="whitespace"),
    pytest.param(b"<!DOCTYPE html><html><body>404</body></html>", "HTML", id="html"),
    pytest.param(b'{"success": false}', "JSON object", id="json-object"),
    pytest.param(b"[]", "no records", id="json-empty"),
    pytest.param(b'[{"a": 1}, {"a": 2}, {"a"', "cut short", id="json-truncated"),
    pytest.param(b"%PDF-1.7\n...", "PDF", id="pdf"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "xls", id="xls"),
    pytest.param(random.Random(4).randbytes(8000), "not text", id="random-bytes"),
    pytest.param(
        b"This file is prose.\nIt has commas, here, and there.\nBut no table.\nNone.\n",
        "not a table",
        id="prose",
    ),
]


@pytest.mark.parametrize(("data", "message"), NOT_TABLES)
def test_files_that_are_not_tables(store, data, message):
    with pytest.raises(TabularError, match=message):
        ingest(io.BytesIO(data), None, store, rid := new_id())
    assert not store.exists(rid)


@pytest.mark.parametrize("path", INVALID, ids=lambda path: path.name)
def test_invalid_fixtures_are_refused(store, path):
    with pytest.raises(TabularError, match="not a table"):
        ingest(path, None, store, rid := new_id(), file_name=path.name)
    assert not store.exists(rid)


def test_truncated_xlsx_is_refused(store):
    data = (TABULAR / "us_cdo_survey_2015.xlsx").read_bytes()
    with pytest.raises(TabularError, match="damaged or truncated"):
        ingest(io.BytesIO(data[: len(data) // 2]), None, store, rid := new_id())
    assert not store.exists(rid)


def test_a_failure_after_loading_began_leaves_no_records(store):
    rid = new_id()
    ingest(io.BytesIO(b"a,b\n1,2\n"), None, store, rid)  # an earlier version
    many = b"n,v\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(50))
    with pytest.raises(TabularError, match="more than 20 rows"):
        ingest(io.BytesIO(many), None, store, rid, limits=Limits(max_rows=20, sample_rows=5))
    assert not store.exists(rid)
    # UTF-8 in the sample, then a byte UTF-8 never has: a damaged file.
    lines = "n,v\n1,禅城\n".encode() + (b"2," + b"a" * 500 + b"\n") * (SAMPLE_BYTES // 500)
    data = lines + b"3,\xff\xfe\n"
    with pytest.raises(TabularError, match="is not valid utf-8 text"):
        ingest(io.BytesIO(data), None, store, rid)
    assert not store.exists(rid)


def test_limits(store):
    wide = ",".join(f"c{i}" for i in range(30)) + "\n" + ",".join("1" * 30) + "\n"
    with pytest.raises(TabularError, match="30 columns"):
        ingest(io.BytesIO(wide.encode()), None, store, new_id(), limits=Limits(max_columns=20))
    long_line = b"a,b\n1," + b"x" * 5000 + b"\n"
    with pytest.raises(TabularError, match="longer than 1000 characters"):
        ingest(io.BytesIO(long_line), None, store, new_id(), limits=Limits(max_line_chars=1000))
    with pytest.raises(TabularError, match="larger than"):
        ingest(io.BytesIO(b"a\n" * 100), None, store, new_id(), limits=Limits(max_bytes=50))


# -- confirmed fields ------------------------------------------------------------------------


def test_ingest_with_the_fields_a_steward_confirmed(store):
    path = TABULAR / "nbs_division_codes_2023__cities.csv"
    schema = infer_schema(path)
    assert [f.name for f in schema.fields] == ["code", "name", "province_code"]
    code, name, _province = schema.fields
    # The steward keeps two of the fields, retitles one and marks none sensitive.
    confirmed = [RecordField(name.name, "text", "城市名称"), code]
    report = ingest(path, confirmed, store, rid := new_id())
    assert store.fields(rid) == confirmed
    assert rows(store, rid)[0] == {"_id": 1, "name": "市辖区", "code": "1101"}
    with pytest.raises(TabularError, match="no column for field 'population'"):
        ingest(path, [RecordField("population", "integer")], store, new_id())
    assert report.rows_loaded == 342


def test_a_non_seekable_stream_is_spooled(store):
    class Body(io.RawIOBase):  # like an HTTP response body
        def __init__(self, data: bytes):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, buffer):
            chunk = self.inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = (TABULAR / "nbs_province_annual__gdp__gbk.csv").read_bytes()
    report = ingest(Body(data), None, store, new_id())
    assert report.rows_loaded == 31 and report.encoding == "gb18030"


# -- streaming -------------------------------------------------------------------------------


def _write_gbk_csv(path: Path, count: int) -> None:
    streets = ["祖庙街道", "石湾镇街道", "张槎街道", "南庄镇"]
    rng = random.Random(11)
    with codecs.open(path, "w", encoding="gbk") as out:
        out.write("序号,街道,金额（元）,登记日期\r\n")
        for number in range(1, count + 1):
            out.write(
                f"{number},{streets[number % 4]},{rng.randint(0, 10**6) / 100},"
                f"2024/{number % 12 + 1}/{number % 28 + 1}\r\n"
            )


def test_a_large_gbk_file_streams_in_flat_memory(store, tmp_path):
    path = tmp_path / "large.csv"
    _write_gbk_csv(path, 200_000)
    assert path.stat().st_size > 6_000_000
    tracemalloc.start()
    try:
        report = ingest(path, None, store, rid := new_id())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.rows_loaded == 200_000 and report.rows_failed == 0
    assert [f.type for f in report.fields] == ["integer", "text", "number", "date"]
    # The whole table as Python objects would take well over 100 MB.
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"  # about 9.5 MiB here
    last = store.query(rid, RecordQuery(sort=(("_id", "desc"),), limit=1)).rows[0]
    assert last["c0"] == 200_000 and last["c1"] == "祖庙街道"
    assert last["c3"] == dt.date(2024, 200_000 % 12 + 1, 200_000 % 28 + 1)


# -- what the reader refuses or points out ---------------------------------------------------

TOWNS = "名称,人口\n" + "".join(f"禅城区第{n}社区,{1000 + n}\n" for n in range(40))
TOWNS_UTF8, TOWNS_GBK = TOWNS.encode(), TOWNS.encode("gbk")
WESTERN_UTF8 = "Élève,café crème\n".encode() * 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            b"id,name\n1,\x80\x81\n", r"invalid byte 0x80 at offset 10 \(as UTF-8\)", id="cp1125"
        ),
        pytest.param(
            TOWNS_UTF8[:30] + b"\xff" + TOWNS_UTF8[30:],
            r"invalid byte 0xff at offset 30 \(as UTF-8\)",
            id="damaged-utf-8",
        ),
        pytest.param(
            WESTERN_UTF8 + b"\xe9\n",
            rf"invalid byte 0xe9 at offset {len(WESTERN_UTF8)} \(as UTF-8\)",
            id="damaged-western-utf-8-is-no-cp1252",
        ),
        pytest.param(
            TOWNS_GBK[:30] + b"\xff" + TOWNS_GBK[30:],
            r"invalid byte 0x\w\w at offset \d+ \(as GB18030\)",
            id="damaged-gbk",
        ),
        pytest.param(
            ("名前,人口\n" + "東京都,1400\n大阪府,880\n" * 10).encode("shift_jis"),
            "invalid byte 0x96 at offset 0",
            id="shift-jis",
        ),
        pytest.param(
            ("名稱,人口\n" + "臺北市,250\n高雄市,270\n" * 10).encode("big5"),
            "invalid byte 0xa6 at offset 0",
            id="big5",
        ),
        pytest.param(
            b"id,note\n" + b"1,x\n" * (SAMPLE_BYTES // 4) + b"2,\x90\x91\n",
            rf"invalid byte 0x90 at offset {8 + SAMPLE_BYTES + 2}",
            id="after-a-megabyte-of-ascii",
        ),
    ],
)
def test_bytes_in_none_of_the_encodings_taken_are_refused_naming_the_byte(store, data, message):
    with pytest.raises(TabularError, match="not UTF-8, GBK or GB18030 text: " + message):
        detect_encoding(io.BytesIO(data))
    with pytest.raises(TabularError, match="not UTF-8, GBK or GB18030 text"):
        ingest(io.BytesIO(data), None, store, rid := new_id())
    assert not store.exists(rid)


SHORT_ROWS = (
    "序号,名称,数量\n"
    "1,甲,10\n"
    "2\n"  # one value, but data follows: a short row, not a note
    "3,丙,30,,\n"  # trailing empty cells: fine
    "4,丁\n"
    "5,戊,50\n"
    "\n"
    "注：数据来源于区统计局\n"  # notes at the end
    "制表：禅城区政务服务数据管理局\n"
    "\n"
)


def test_short_rows_are_ragged_like_long_ones_but_notes_at_the_end_are_not(store):
    report = ingest(io.BytesIO(SHORT_ROWS.encode()), None, store, rid := new_id())
    assert [(f.line, f.field, f.raw, f.message) for f in report.failures] == [
        (3, None, "2", "1 value, but the header has 3"),
        (5, None, "4,丁", "2 values, but the header has 3"),
    ]
    assert (report.rows_loaded, report.rows_failed, report.blank_lines) == (3, 2, 2)
    assert [(s.line, s.reason) for s in report.skipped_lines] == [(8, "note"), (9, "note")]
    assert [r["_id"] for r in rows(store, rid)] == [1, 3, 5]


def test_the_other_sheets_of_a_workbook_are_named_in_a_note(store):
    path = TABULAR / "datos_jus_gob_ar__catalog.xlsx"
    others = "'Theme', 'Dataset', 'Distribution', 'Field', 'Notas y referencias'"
    report = ingest(path, None, store, new_id())
    assert report.sheets_ignored == others.replace("'", "").split(", ")
    assert report.notes == [
        f"The workbook has 6 sheets with values: only 'Catalog' was read; {others} were ignored."
    ]
    assert infer_schema(path).notes == report.notes
    # An empty sheet is no sheet ignored.
    workbook = openpyxl.Workbook()
    workbook.active.append(["名称", "人口"])
    workbook.active.append(["祖庙街道", 1000])
    workbook.create_sheet("说明").append(["注：数据来源于区统计局"])
    workbook.create_sheet("空白")
    data = io.BytesIO()
    workbook.save(data)
    data.seek(0)
    report = ingest(data, None, store, new_id())
    assert report.sheets_ignored == ["说明"]
    assert report.notes == [
        "The workbook has 2 sheets with values: only 'Sheet' was read; '说明' was ignored."
    ]
    assert ingest(TABULAR / "us_cdo_survey_2015.xlsx", None, store, new_id()).sheets_ignored == []
