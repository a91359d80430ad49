"""Record values as JSON and as CSV cells, and the streaming writers of exports."""

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from catalog.interfaces import RecordField

# A cell starting with one of these is run as a formula by Excel and its kin.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500


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
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return json_value(value).__str__()


def stream_csv(
    fields: list[RecordField], rows: Iterator[dict], use_titles: bool, excel_bom: bool
) -> Iterator[bytes]:
    """CSV in UTF-8 (with a byte-order mark for Excel on request), a few hundred rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([(f.title or f.name) if use_titles else f.name for f in fields])
    prefix = "\ufeff" if excel_bom else ""
    for count, row in enumerate(rows, start=1):
        writer.writerow([csv_cell(row.get(f.name)) for f in fields])
        if count % ROWS_PER_CHUNK == 0:
            yield (prefix + buffer.getvalue()).encode("utf-8")
            prefix = ""
            buffer.seek(0)
            buffer.truncate()
    yield (prefix + buffer.getvalue()).encode("utf-8")


def stream_json_lines(rows: Iterator[dict]) -> Iterator[bytes]:
    lines = []
    for row in rows:
        lines.append(json.dumps(json_row(row), ensure_ascii=False))
        if len(lines) == ROWS_PER_CHUNK:
            yield ("\n".join(lines) + "\n").encode("utf-8")
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8")
