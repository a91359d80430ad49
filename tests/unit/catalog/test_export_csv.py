"""The CSV export writes a column at a time (catalog.exports.stream_csv): every cell must
still be what ``csv_cell`` makes of its value, formula guard included, whether the rows
come as dicts or as a record store's batches by column."""

import csv
import io
from datetime import date, datetime

import pytest

from catalog.exports import csv_cell, stream_csv
from catalog.interfaces import RecordBatch, RecordField, RecordRows
from catalog.masking import mask

FIELDS = [
    RecordField("名称", "text", "学校名称"),
    RecordField("电话", "text", "联系电话", sensitive=True),
    RecordField("人数", "integer", "在校学生数"),
    RecordField("面积", "number", "占地面积"),
    RecordField("建校日期", "date", "建校日期"),
    RecordField("更新时间", "datetime", "更新时间"),
    RecordField("公办", "boolean", "是否公办"),
    RecordField("位置", "geo_point", "经纬度"),
]
TEXTS = [
    "禅城区第1小学",
    '=HYPERLINK("http://evil.example/","点我")',
    "+86 0757",
    "-5",
    "@SUM(A1)",
    "\tTab",
    "\rReturn",
    "逗号,在中间",
    'a "quoted" word',
    "两行\n文字",
    "CR\r\nLF",
    "",
    "'already quoted",
    " spaced ",
    "\\.",
]
NUMBERS = [0.0, -0.0, 100.0, 0.1 + 0.2, 1e20, 1e-7, 1234567.891, 1e15, -2.5]
DATETIMES = [datetime(2024, 1, 2, 3, 4, 5), datetime(2024, 1, 2, 3, 4, 5, 6), datetime(1, 1, 1)]


def rows(count: int = 60) -> list[dict]:
    made = []
    for number in range(1, count + 1):
        made.append(
            {
                "_id": number,
                "名称": TEXTS[number % len(TEXTS)] if number % 7 else None,
                "电话": f"0757-{80000000 + number}" if number % 5 else "=1+1",
                "人数": number * 10 if number % 6 else None,
                "面积": NUMBERS[number % len(NUMBERS)] if number % 8 else None,
                "建校日期": date(1950 + number, 9, 1) if number % 9 else None,
                "更新时间": DATETIMES[number % len(DATETIMES)] if number % 4 else None,
                "公办": [True, False, None][number % 3],
                "位置": (23.0 + number / 1000, 113.1) if number % 10 else None,
            }
        )
    return made


def masked_rows(masked: frozenset[str]) -> list[dict]:
    return [{k: mask(v) if k in masked else v for k, v in row.items()} for row in rows()]


def reference(fields: list[RecordField], rows: list[dict]) -> bytes:
    """The CSV as the writer made it a cell at a time before it wrote by column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(f.title) for f in fields])
    for row in rows:
        writer.writerow([csv_cell(row.get(f.name)) for f in fields])
    return buffer.getvalue().encode("utf-8")


def as_batches(fields: list[RecordField], rows: list[dict], size: int) -> RecordRows:
    names = tuple(f.name for f in fields)

    def batches():
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            columns = [[row[name] for row in chunk] for name in names]
            yield RecordBatch(names, [row["_id"] for row in chunk], columns)

    return RecordRows(batches())


@pytest.mark.parametrize("masked", [frozenset(), frozenset({"电话"}), frozenset({"电话", "位置"})])
def test_cells_are_those_csv_cell_makes(masked):
    source = masked_rows(masked)
    expected = reference(FIELDS, source)
    from_dicts = b"".join(stream_csv(FIELDS, iter(source), True, False, masked))
    from_batches = b"".join(stream_csv(FIELDS, as_batches(FIELDS, source, 7), True, False, masked))
    assert from_dicts == expected
    assert from_batches == expected


def test_formulas_are_made_inert_in_every_text_column():
    table = list(
        csv.reader(io.StringIO(b"".join(stream_csv(FIELDS, iter(rows()), True, False)).decode()))
    )
    names = [row[0] for row in table[1:]]
    assert "'" + TEXTS[1] in names and "'+86 0757" in names and "'\tTab" in names
    assert "'=1+1" in [row[1] for row in table[1:]]
    assert TEXTS[0] in names and "逗号,在中间" in names and "两行\n文字" in names


def test_a_column_read_whole_is_checked_for_formulas_value_by_value():
    # A newline inside a value followed by "=" looks like a formula at a line start to the
    # column-wide scan; only values that start like one get the apostrophe.
    fields = [RecordField("备注", "text")]
    source = [{"_id": 1, "备注": "第一行\n=第二行"}, {"_id": 2, "备注": "=SUM(A1)"}]
    assert b"".join(stream_csv(fields, iter(source), False, False)) == reference(
        [RecordField("备注", "text", "备注")], source
    )


@pytest.mark.parametrize("excel_bom", [False, True])
def test_no_rows_give_the_header_alone(excel_bom):
    data = b"".join(stream_csv(FIELDS, as_batches(FIELDS, [], 10), True, excel_bom))
    header = reference(FIELDS, [])
    assert data == (b"\xef\xbb\xbf" + header if excel_bom else header)


def test_the_byte_order_mark_comes_once_before_the_header():
    data = b"".join(stream_csv(FIELDS, as_batches(FIELDS, rows(), 5), True, True))
    assert data.startswith("\ufeff学校名称".encode())
    assert data.count(b"\xef\xbb\xbf") == 1
    assert data[3:] == reference(FIELDS, rows())


def test_a_single_field_without_a_value_is_still_a_line():
    fields = [RecordField("名称", "text", "名称")]
    source = [{"_id": 1, "名称": None}, {"_id": 2, "名称": ""}, {"_id": 3, "名称": "甲"}]
    data = b"".join(stream_csv(fields, as_batches(fields, source, 2), True, False))
    assert data == reference(fields, source)
    assert list(csv.reader(io.StringIO(data.decode()))) == [["名称"], [""], [""], ["甲"]]


def test_batches_follow_the_order_of_the_fields_not_of_the_columns():
    shuffled = list(reversed(FIELDS))
    names = tuple(f.name for f in shuffled)
    source = rows(12)
    batch = RecordBatch(
        names, [row["_id"] for row in source], [[row[n] for row in source] for n in names]
    )
    data = b"".join(stream_csv(FIELDS, RecordRows(iter([batch])), True, False))
    assert data == reference(FIELDS, source)
