"""The demo file generator: valid identifiers, deterministic and streaming writers."""

import csv
import datetime as dt
import io
import itertools
import json
import random
import re
import time
import zipfile

import openpyxl
import pytest

from catalog.demo import files, identifiers, values, vocabulary
from catalog.demo.rows import Row

LAT_MIN, LAT_MAX = 22.96, 23.08
LON_MIN, LON_MAX = 113.02, 113.15
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

FIELDS = [
    {"name": "seq", "title": "序号", "type": "integer", "gen": "sequence"},
    {"name": "school_name", "title": "学校名称", "type": "text", "gen": "school_name"},
    {
        "name": "person_name",
        "title": "姓名",
        "type": "text",
        "gen": "person_name",
        "sensitive": True,
    },
    {"name": "founded", "title": "创办日期", "type": "date", "gen": "date"},
    {"name": "checked_at", "title": "检查时间", "type": "datetime", "gen": "datetime"},
    {"name": "score", "title": "得分", "type": "number", "gen": "num:0:100:2"},
    {"name": "students", "title": "在校学生数", "type": "integer", "gen": "int:300:3000"},
    {"name": "public", "title": "是否公办", "type": "boolean", "gen": "boolean"},
    {"name": "hours", "title": "开放时间", "type": "text", "gen": "choice:08:30-12:00|14:00-17:30"},
]
GEO_FIELDS = [
    {"name": "stop", "title": "站点名称", "type": "text", "gen": "bus_stop"},
    {"name": "line", "title": "线路", "type": "text", "gen": "bus_line"},
    {"name": "location", "title": "位置", "type": "geo_point", "gen": "geo_point"},
    {"name": "opened", "title": "启用日期", "type": "date", "gen": "date:2018:2024"},
]


def id_card_is_valid(number):
    """GB 11643-1999, written apart from catalog.demo.identifiers: weight i is 2**(17-i) mod 11."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(number[:17]))
    return number[17] == "10X98765432"[total % 11]


def uscc_is_valid(code):
    """GB 32100-2015: weight i is 3**i mod 31; the check makes the sum a multiple of 31."""
    if len(code) != 18 or any(char not in USCC_ALPHABET for char in code):
        return False
    total = sum(USCC_ALPHABET.index(char) * pow(3, i, 31) for i, char in enumerate(code[:17]))
    return code[17] == USCC_ALPHABET[-total % 31]


def org_code_is_valid(code):
    """GB 11714-1997 (characters 9-17 of a USCC): weight i is 2**(8-i) mod 11."""
    total = sum(int(char, 36) * pow(2, 8 - i, 11) for i, char in enumerate(code[:8]))
    return code[8] == "0123456789X0"[11 - total % 11]


def generate(gen, count=300, seed=1):
    """A lone field's values: each row is about whatever its own value names."""
    generator = values.generator_for(gen)
    rng = random.Random(seed)
    return [generator.draw(rng, index, Row()) for index in range(count)]


def write(writer, fields, rows, seed="demo/resource"):
    out = io.BytesIO()
    writer(fields, values.iter_rows(fields, rows, seed), out)
    return out.getvalue()


# ---- check characters, against the standards' own examples and well-known real codes


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_id_card_check_char_matches_the_standard_examples(number):
    assert identifiers.id_card_check_char(number[:17]) == number[17]
    assert id_card_is_valid(number)


@pytest.mark.parametrize(
    "code", ["91110108551385082Q", "91440300708461136T", "91330100716105852F", "914403001922038216"]
)
def test_uscc_check_chars_match_real_credit_codes(code):
    assert identifiers.uscc_check_char(code[:17]) == code[17]
    assert identifiers.org_code_check_char(code[8:16]) == code[16]
    assert uscc_is_valid(code)
    assert org_code_is_valid(code[8:17])


def test_generated_id_cards_are_valid_and_from_chancheng():
    for number in generate("id_card", 2000):
        assert id_card_is_valid(number), number
        assert number.startswith("440604")
        birth = dt.datetime.strptime(number[6:14], "%Y%m%d").date()
        assert dt.date(1940, 1, 1) <= birth <= dt.date(2008, 12, 31)


@pytest.mark.parametrize("gen", ["uscc", "uscc:52", "uscc:92"])
def test_generated_credit_codes_are_valid(gen):
    for code in generate(gen, 2000):
        assert uscc_is_valid(code), code
        assert org_code_is_valid(code[8:17]), code
        assert code.startswith(("91" if gen == "uscc" else gen[-2:]) + "440604")


def test_a_credit_code_needs_a_two_character_registry_and_kind():
    with pytest.raises(ValueError, match="uscc:5"):
        values.generator_for("uscc:5")


# ---- value generators


def test_personal_values_look_real():
    assert all(re.fullmatch(r"1[3-9]\d{9}", phone) for phone in generate("phone"))
    assert all(re.fullmatch(r"0757-8\d{7}", phone) for phone in generate("landline"))
    for name in generate("person_name"):
        assert 2 <= len(name) <= 4
        assert any(name.startswith(surname) for surname in vocabulary.SURNAMES)
    assert set(generate("gender")) == {"男", "女"}


def test_places_are_in_chancheng():
    for address in generate("address"):
        assert re.fullmatch(r"佛山市禅城区(祖庙街道|石湾镇街道|张槎街道|南庄镇)\S+?\d+号", address)
    assert set(generate("street")) == {"祖庙街道", "石湾镇街道", "张槎街道", "南庄镇"}
    for lat, lon in generate("geo_point"):
        assert LAT_MIN <= lat <= LAT_MAX
        assert LON_MIN <= lon <= LON_MAX
    assert all(LAT_MIN <= lat <= LAT_MAX for lat in generate("lat"))
    assert all(LON_MIN <= lon <= LON_MAX for lon in generate("lon"))


def test_licence_plates_and_bus_lines():
    for plate in generate("license_plate"):
        assert re.fullmatch(r"粤E([A-HJ-NP-Z][A-HJ-NP-Z0-9]{4}|[DF]\d{5})", plate), plate
    lines = generate("bus_line", len(vocabulary.BUS_LINES))
    assert len(set(lines)) == len(lines)  # a line directory lists each line once
    assert all(re.fullmatch(r"[KG]?\d{1,3}路", line) for line in lines)


def test_directory_names_do_not_repeat_within_a_directory():
    for gen, count in [("school_name", 120), ("hospital_name", 300), ("community", 29)]:
        names = generate(gen, count)
        assert len(set(names)) == count, gen
    assert generate("school_name", 1) == ["佛山市禅城区惠景小学"]


def test_company_names():
    for name in generate("company_name"):
        assert re.fullmatch(r"佛山市(禅城区)?\S{2}\S+有限公司", name)


def test_dates_and_times():
    assert all(dt.date(2015, 1, 1) <= day <= dt.date(2026, 12, 31) for day in generate("date"))
    assert all(
        dt.date(2020, 1, 1) <= d <= dt.date(2021, 12, 31) for d in generate("date:2020:2021")
    )
    assert all(isinstance(moment, dt.datetime) for moment in generate("datetime"))
    assert all(2015 <= year <= 2026 for year in generate("year"))
    assert all(re.fullmatch(r"20(1[5-9]|2[0-5])-(0[1-9]|1[0-2])", m) for m in generate("month"))
    assert generate("hourly:2025-09-01:4", 9)[::4] == [
        dt.datetime(2025, 9, 1, hour) for hour in range(3)
    ]


def test_parameterised_generators():
    assert all(3 <= n <= 7 and isinstance(n, int) for n in generate("int:3:7"))
    numbers = generate("num:0:10:2")
    assert all(0 <= n <= 10 and round(n, 2) == n for n in numbers)
    assert all(isinstance(n, int) for n in generate("num:500:3500:0"))
    assert set(generate("choice:08:30-12:00|14:00-17:30")) == {"08:30-12:00", "14:00-17:30"}
    assert generate("pick:甲|乙|丙", 4) == ["甲", "乙", "丙", "甲"]
    assert generate("serial:SGXK:4", 2) == ["SGXK0001", "SGXK0002"]
    assert generate("suffix:community:长者饭堂", 1) == ["祖庙街道升平社区长者饭堂"]
    assert generate("sequence", 3) == [1, 2, 3]
    assert set(generate("boolean")) == {True, False}


@pytest.mark.parametrize("gen", ["nonsense", "int", "int:1", "num:a:b:2", "suffix:nonsense:x"])
def test_unknown_or_malformed_generators_are_refused(gen):
    with pytest.raises(ValueError):
        values.generator_for(gen)


# ---- rows


def test_rows_are_deterministic_and_depend_on_the_seed():
    first = list(values.iter_rows(FIELDS, 50, "edu-school-directory/名录"))
    again = list(values.iter_rows(FIELDS, 50, "edu-school-directory/名录"))
    other = list(values.iter_rows(FIELDS, 50, "edu-school-directory/另一个"))
    assert first == again
    assert first != other
    assert len(first) == 50
    assert list(first[0]) == [field["name"] for field in FIELDS]


def test_adding_a_field_leaves_the_other_columns_unchanged():
    before = list(values.iter_rows(FIELDS[:3], 20, "seed"))
    after = list(values.iter_rows(FIELDS, 20, "seed"))
    assert [row["person_name"] for row in before] == [row["person_name"] for row in after]


def test_unique_fields_never_repeat_and_fail_loudly_when_they_cannot():
    fields = [{"name": "company", "title": "企业", "type": "text", "gen": "company_name"}]
    rows = list(values.iter_rows([{**fields[0], "unique": True}], 3000, "seed"))
    assert len({row["company"] for row in rows}) == 3000
    two_values = [{"name": "x", "title": "X", "type": "text", "gen": "choice:a|b", "unique": True}]
    with pytest.raises(ValueError, match="distinct"):
        list(values.iter_rows(two_values, 3, "seed"))


# ---- CSV


def test_csv_is_byte_identical_across_runs_and_readable():
    data = write(files.write_csv, FIELDS, 120)
    assert data == write(files.write_csv, FIELDS, 120)
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    header, rows = table[0], table[1:]
    assert header == [field["title"] for field in FIELDS]
    assert len(rows) == 120
    mapping = files.field_names_by_title(FIELDS)
    record = {mapping[title]: value for title, value in zip(header, rows[0], strict=True)}
    assert record["seq"] == "1"
    dt.date.fromisoformat(record["founded"])
    dt.datetime.strptime(record["checked_at"], "%Y-%m-%d %H:%M:%S")
    assert record["public"] in ("true", "false")
    assert {row[-1] for row in rows} <= {"08:30-12:00", "14:00-17:30"}


def test_csv_writes_geo_points_as_lat_comma_lon():
    data = write(files.write_csv, GEO_FIELDS, 5)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    lat, lon = (float(part) for part in rows[0]["位置"].split(","))
    assert LAT_MIN <= lat <= LAT_MAX
    assert LON_MIN <= lon <= LON_MAX


def test_csv_leaves_the_callers_file_open():
    out = io.BytesIO()
    files.write_csv(FIELDS, values.iter_rows(FIELDS, 3, "seed"), out)
    assert not out.closed
    out.write(b"")


class CountingSink(io.RawIOBase):
    """A write-only, unseekable output that counts the bytes it receives."""

    def __init__(self):
        self.received = 0

    def writable(self):
        return True

    def write(self, data):
        self.received += len(data)
        return len(data)


@pytest.mark.parametrize(
    ("writer", "fields"), [(files.write_csv, FIELDS), (files.write_geojson, GEO_FIELDS)]
)
def test_csv_and_geojson_write_each_row_before_reading_the_next(writer, fields):
    sink = CountingSink()
    sizes = []

    def rows():
        for row in values.iter_rows(fields, 50, "seed"):
            sizes.append(sink.received)
            yield row

    writer(fields, rows(), sink)
    assert len(sizes) == 50
    # sizes[0] may be the header alone; from then on every row adds bytes before the next.
    assert all(later > earlier for earlier, later in itertools.pairwise(sizes[1:]))


# ---- GeoJSON


def test_geojson_is_byte_identical_and_valid():
    data = write(files.write_geojson, GEO_FIELDS, 200)
    assert data == write(files.write_geojson, GEO_FIELDS, 200)
    assert b"\\u" not in data  # Chinese written as is
    collection = json.loads(data)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 200
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]  # RFC 7946: longitude first
        assert LON_MIN <= lon <= LON_MAX
        assert LAT_MIN <= lat <= LAT_MAX
        assert set(feature["properties"]) == {"stop", "line", "opened"}
        dt.date.fromisoformat(feature["properties"]["opened"])


def test_geojson_needs_a_geo_point_field():
    with pytest.raises(ValueError, match="geo_point"):
        write(files.write_geojson, FIELDS, 3)


# ---- XLSX


def test_xlsx_is_byte_identical_even_when_the_clock_moves(monkeypatch):
    first = write(files.write_xlsx, FIELDS, 150)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 400 * 86400)
    assert write(files.write_xlsx, FIELDS, 150) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        stamps = {entry.date_time for entry in archive.infolist()}
    assert stamps == {files.XLSX_TIMESTAMP.timetuple()[:6]}


def test_xlsx_is_readable_with_typed_cells():
    data = write(files.write_xlsx, FIELDS, 150)
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    assert list(rows[0]) == [field["title"] for field in FIELDS]
    assert len(rows) == 151
    first = dict(zip([field["name"] for field in FIELDS], rows[1], strict=True))
    assert first["seq"] == 1
    assert isinstance(first["founded"], dt.datetime)  # Excel keeps dates as date-times
    assert isinstance(first["checked_at"], dt.datetime)
    assert isinstance(first["score"], (int, float))
    assert isinstance(first["public"], bool)
    workbook.close()


# ---- dispatch


@pytest.mark.parametrize(
    ("format_", "fields", "signature"),
    [("CSV", FIELDS, b"\xef\xbb\xbf"), ("XLSX", FIELDS, b"PK"), ("GeoJSON", GEO_FIELDS, b"{")],
)
def test_write_resource_file_dispatches_on_format(format_, fields, signature):
    spec = {"name": "测试", "format": format_, "rows": 20, "fields": fields}
    out = io.BytesIO()
    files.write_resource_file(spec, values.resource_seed("demo", "测试"), out)
    assert out.getvalue().startswith(signature)


def test_write_resource_file_refuses_link_formats():
    with pytest.raises(ValueError, match="PDF"):
        files.write_resource_file({"format": "PDF", "rows": 1, "fields": FIELDS}, "s", io.BytesIO())


def test_media_types():
    assert files.media_type_for("CSV") == "text/csv"
    assert files.media_type_for("GeoJSON") == "application/geo+json"
    assert files.media_type_for("XLSX") == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert files.media_type_for("API") == "application/json"
    assert files.media_type_for("PDF") == "application/pdf"
    assert files.media_type_for("HTML") == "text/html"
    with pytest.raises(ValueError):
        files.media_type_for("DOCX")
