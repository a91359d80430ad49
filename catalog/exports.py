"""Records as files: the export formats (CSV, JSON Lines, XLSX, GeoJSON), each written a
batch of rows at a time, so memory stays flat whatever the number of records.

Text a spreadsheet would run as a formula is made inert by one function, ``inert``, in CSV
and XLSX alike (headers included: field titles are typed by stewards), so an export cannot
carry a formula into Excel or WPS. JSON Lines and GeoJSON keep values as they are: no
spreadsheet reads them.
"""

import csv
import io
import json
import math
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from catalog.errors import InvalidInput
from catalog.interfaces import RecordBatch, RecordField, RecordRows

# A cell starting with one of these is run as a formula by Excel and its kin.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500
FILE_CHUNK = 1024 * 1024
XLSX_MAX_ROWS = 1_048_576 - 1  # a sheet's rows, less the header
XLSX_MAX_TEXT = 32_767  # characters in one cell
# Excel keeps 15 significant digits: a longer integer (an ID number typed as one) would
# come back changed, so it is written as text.
XLSX_MAX_EXACT_INTEGER = 10**15
_SHEET_TITLE_UNSAFE = re.compile(r"[\[\]:*?/\\]")
# A value starting like a formula, found in a column's values joined by newlines (a false
# hit, a newline inside a value, only costs the slower way).
_FORMULA_AT_LINE_START = re.compile("(?:^|\n)[" + re.escape("".join(FORMULA_STARTS)) + "]")


@dataclass(frozen=True)
class ExportFormat:
    name: str  # the API's format parameter
    extension: str
    media_type: str


FORMATS = {
    f.name: f
    for f in (
        ExportFormat("csv", "csv", "text/csv; charset=utf-8"),
        ExportFormat("jsonl", "jsonl", "application/x-ndjson"),
        ExportFormat(
            "xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ),
        ExportFormat("geojson", "geojson", "application/geo+json"),
    )
}


@dataclass(frozen=True)
class ExportOptions:
    use_titles: bool = True  # CSV and XLSX headers: the fields' Chinese titles, else names
    excel_bom: bool = False  # CSV: a byte-order mark, so Excel reads it as UTF-8


@dataclass(frozen=True)
class ExportBody:
    chunks: Iterator[bytes]
    size: int | None  # known before the first byte for XLSX (written to disk first)


def inert(text: str) -> str:
    """Text a spreadsheet shows as it is: one that starts like a formula gets an apostrophe."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, tuple):
        lat, lon = value
        return {"lat": lat, "lon": lon}
    return value


def json_row(row: dict) -> dict:
    return {name: json_value(value) for name, value in row.items()}


def csv_cell(value: object) -> str:
    """A CSV cell, with text that a spreadsheet would run as a formula made inert."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return f"{value[0]},{value[1]}"
    if isinstance(value, str):
        return inert(value)
    return str(json_value(value))


def xlsx_value(value: object) -> object:
    """A cell value openpyxl writes as Excel will read it back: numbers, dates and booleans
    as themselves, text inert and without the control characters XML cannot hold."""
    if value is None or isinstance(value, bool | date | Decimal):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.isoformat()  # Excel has no time zones: keep the offset as text
        return value
    if isinstance(value, int):
        return value if abs(value) < XLSX_MAX_EXACT_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, tuple):
        return f"{value[0]},{value[1]}"
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))[:XLSX_MAX_TEXT]
    return inert(text)


def _header(fields: list[RecordField], use_titles: bool) -> list[str]:
    return [(f.title or f.name) if use_titles else f.name for f in fields]


def stream_csv(
    fields: list[RecordField],
    rows: Iterator[dict],
    use_titles: bool,
    excel_bom: bool,
    masked: frozenset[str] = frozenset(),
) -> Iterator[bytes]:
    """CSV in UTF-8 (with a byte-order mark for Excel on request), a chunk per batch of rows.

    Each column is turned into cells at once by its field's type (``masked`` fields hold
    text once masked), and ``csv.writer`` writes a whole batch: that is what keeps a
    million-row export quick. The cells are those ``csv_cell`` makes of each value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in _header(fields, use_titles)])
    prefix = "\ufeff" if excel_bom else ""
    cells = [_CSV_COLUMNS["text" if f.name in masked else f.type] for f in fields]
    written = False
    for batch in record_batches(fields, rows):
        position = {name: i for i, name in enumerate(batch.fields)}
        columns = [
            make(batch.columns[position[f.name]]) for f, make in zip(fields, cells, strict=True)
        ]
        writer.writerows(zip(*columns, strict=True))
        yield (prefix + buffer.getvalue()).encode("utf-8")
        prefix, written = "", True
        buffer.seek(0)
        buffer.truncate()
    if not written:  # no rows: the header alone
        yield (prefix + buffer.getvalue()).encode("utf-8")


def record_batches(fields: list[RecordField], rows: Iterator[dict]) -> Iterator[RecordBatch]:
    """The rows in batches by column: as the record store made them (RecordRows), else
    gathered from the dicts, ROWS_PER_CHUNK at a time."""
    if isinstance(rows, RecordRows):
        yield from rows.batches()
        return
    names = tuple(f.name for f in fields)
    rows = iter(rows)
    while chunk := list(islice(rows, ROWS_PER_CHUNK)):
        columns = [[row.get(name) for row in chunk] for name in names]
        yield RecordBatch(names, [row.get("_id") for row in chunk], columns)


def _text_cells(values: Sequence) -> Sequence:
    # One scan of the column's text finds whether any value starts like a formula; most
    # columns hold none, and are then written as they are.
    if not _FORMULA_AT_LINE_START.search("\n".join(filter(None, values))):
        return values
    return [
        value if value is None or not value.startswith(FORMULA_STARTS) else "'" + value
        for value in values
    ]


def _iso_cells(values: Sequence) -> list:
    return [None if value is None else value.isoformat() for value in values]


_BOOLEAN_CELLS = {True: "true", False: "false", None: None}


# A column's values -> its cells, by field type: what csv_cell makes of each, with None as
# an empty cell (csv.writer writes None so) and numbers as str() makes them (so too).
_CSV_COLUMNS = {
    "text": _text_cells,
    "integer": lambda values: values,
    "number": lambda values: values,
    "date": _iso_cells,
    "datetime": _iso_cells,
    "boolean": lambda values: [_BOOLEAN_CELLS[value] for value in values],
    "geo_point": lambda values: [
        None if value is None else f"{value[0]},{value[1]}" for value in values
    ],
}


def stream_json_lines(rows: Iterator[dict]) -> Iterator[bytes]:
    lines = []
    for row in rows:
        lines.append(json.dumps(json_row(row), ensure_ascii=False))
        if len(lines) == ROWS_PER_CHUNK:
            yield ("\n".join(lines) + "\n").encode("utf-8")
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8")


def stream_geojson(
    fields: list[RecordField], rows: Iterator[dict], geometry: str
) -> Iterator[bytes]:
    """A FeatureCollection of points from the ``geometry`` field (a row without a point
    has a null geometry, as GeoJSON allows); the other fields are each feature's
    properties."""
    properties = [f.name for f in fields if f.name != geometry]
    yield b'{"type":"FeatureCollection","features":[\n'
    features: list[str] = []
    separator = ""
    for row in rows:
        point = row.get(geometry)
        feature = {
            "type": "Feature",
            "id": row.get("_id"),
            # (lat, lon) in the store; GeoJSON puts the longitude first.
            "geometry": None
            if point is None
            else {"type": "Point", "coordinates": [point[1], point[0]]},
            "properties": {name: json_value(row.get(name)) for name in properties},
        }
        features.append(json.dumps(feature, ensure_ascii=False))
        if len(features) == ROWS_PER_CHUNK:
            yield (separator + ",\n".join(features)).encode("utf-8")
            separator, features = ",\n", []
    if features:
        yield (separator + ",\n".join(features)).encode("utf-8")
    yield b"\n]}\n"


def write_xlsx(
    fields: list[RecordField],
    rows: Iterator[dict],
    target: BinaryIO,
    use_titles: bool,
    sheet_title: str,
) -> None:
    """An XLSX workbook of one sheet, written by openpyxl's write-only mode, which streams
    rows to disk; raises InvalidInput past the rows a sheet can hold."""
    workbook = Workbook(write_only=True)
    title = _SHEET_TITLE_UNSAFE.sub("_", sheet_title).strip("'")[:31] or "data"
    sheet = workbook.create_sheet(title=title)
    sheet.append([xlsx_value(name) for name in _header(fields, use_titles)])
    for count, row in enumerate(rows, start=1):
        if count > XLSX_MAX_ROWS:
            raise InvalidInput(
                {
                    "format": [
                        f"An XLSX sheet holds at most {XLSX_MAX_ROWS} records: narrow the "
                        "filters or export CSV. XLSX 最多容纳 1048575 条记录，"
                        "请缩小范围或导出 CSV。"
                    ]
                }
            )
        sheet.append([xlsx_value(row.get(f.name)) for f in fields])
    workbook.save(target)


def geometry_field(fields: list[RecordField], masked: frozenset[str]) -> str:
    """The field a GeoJSON export takes its points from: the first geo point field the
    caller sees unmasked. InvalidInput when there is none."""
    points = [f.name for f in fields if f.type == "geo_point"]
    visible = [name for name in points if name not in masked]
    if visible:
        return visible[0]
    if points:
        message = (
            "The location of these records is sensitive: it is masked for you, so there is "
            "nothing to map. 位置字段为敏感字段，无法导出 GeoJSON。"
        )
    else:
        message = (
            "GeoJSON needs a geo point field, and this resource has none: export CSV, "
            "JSON Lines or XLSX. 该资源没有地理坐标字段，无法导出 GeoJSON。"
        )
    raise InvalidInput({"format": [message]})


def check_exportable(export_format: str, fields: list[RecordField], masked: frozenset[str]):
    """Raise InvalidInput, before anything is counted or sent, for an export that cannot be
    made: an unknown format, or GeoJSON of records without a visible location."""
    if export_format not in FORMATS:
        raise InvalidInput({"format": [f"Use one of {', '.join(FORMATS)}."]})
    if export_format == "geojson":
        geometry_field(fields, masked)


def export_body(
    export_format: str,
    fields: list[RecordField],
    masked: frozenset[str],
    rows: Iterator[dict],
    options: ExportOptions,
    sheet_title: str = "data",
) -> ExportBody:
    """The export's bytes in chunks. CSV, JSON Lines and GeoJSON are made as they are read;
    an XLSX file is a zip whose index comes last, so it is written to a temporary file
    now (errors come before the first byte, and its size is known) and read back."""
    check_exportable(export_format, fields, masked)
    if export_format == "csv":
        chunks = stream_csv(fields, rows, options.use_titles, options.excel_bom, masked)
        return ExportBody(chunks, None)
    if export_format == "jsonl":
        return ExportBody(stream_json_lines(rows), None)
    if export_format == "geojson":
        return ExportBody(stream_geojson(fields, rows, geometry_field(fields, masked)), None)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _file_chunks when read
    try:
        write_xlsx(fields, rows, spool, options.use_titles, sheet_title)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return ExportBody(_file_chunks(spool), size)


def _file_chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(FILE_CHUNK):
            yield chunk
