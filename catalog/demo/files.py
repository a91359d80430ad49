"""Deterministic writers of the demo catalog's data files (CSV, XLSX, GeoJSON).

The rows come from :mod:`catalog.demo.values`. The same resource spec and seed always give
byte-identical files, so the demo can be rebuilt anywhere and compared by checksum.

Columns and headers
    CSV and XLSX files are opened by people, mostly in Excel, so their header row holds
    each field's Chinese ``title``; column *i* is ``fields[i]`` and
    :func:`field_names_by_title` gives the title -> ``name`` mapping back. Titles are
    unique within a resource. GeoJSON is read by GIS tools, which prefer ASCII keys, so
    feature properties are keyed by field ``name``.

Encodings of values
    CSV is UTF-8 *with* a byte-order mark, the only way Excel on Chinese Windows
    recognises UTF-8 (read it back with ``encoding="utf-8-sig"``). Dates are ISO
    ``YYYY-MM-DD``, datetimes ``YYYY-MM-DD HH:MM:SS``, booleans ``true``/``false`` and a
    ``geo_point`` is ``"lat,lon"`` (the string form Elasticsearch accepts). XLSX cells keep
    native types (numbers, dates, booleans). GeoJSON takes the first ``geo_point`` field as
    the Point geometry, ``[lon, lat]`` per RFC 7946.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from catalog.demo.values import iter_rows


def field_names_by_title(fields: list[dict]) -> dict[str, str]:
    """Map the CSV/XLSX header (field titles) back to field names."""
    return {field["title"]: field["name"] for field in fields}


def _text_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):  # geo_point
        return f"{value[0]},{value[1]}"
    return str(value)


def write_csv(fields: list[dict], rows: Iterable[dict], out: IO[bytes]) -> None:
    """Stream rows as UTF-8 (with BOM) CSV, header of field titles."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(field["title"] for field in fields)
        names = [field["name"] for field in fields]
        for row in rows:
            writer.writerow(_text_value(row[name]) for name in names)
        text.flush()
    finally:
        text.detach()  # leave the caller's file open


# Any fixed instant will do; it keeps the zip entries and docProps/core.xml stable.
XLSX_TIMESTAMP = dt.datetime(2024, 1, 1)


class _FixedTimeZipFile(zipfile.ZipFile):
    """A zip whose entries all carry one timestamp, as openpyxl otherwise stamps "now"."""

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = self._entry(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        with (
            open(filename, "rb") as source,
            self.open(self._entry(arcname or filename), "w") as target,
        ):
            shutil.copyfileobj(source, target)

    def _entry(self, name: str) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(name, date_time=XLSX_TIMESTAMP.timetuple()[:6])
        entry.compress_type = zipfile.ZIP_DEFLATED
        return entry


def _xlsx_value(value: Any) -> Any:
    return f"{value[0]},{value[1]}" if isinstance(value, tuple) else value


def write_xlsx(fields: list[dict], rows: Iterable[dict], out: IO[bytes]) -> None:
    """Stream rows into a one-sheet workbook (header of field titles), byte-deterministic."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "禅城区政府数据开放平台"
    workbook.properties.created = XLSX_TIMESTAMP
    workbook.properties.modified = XLSX_TIMESTAMP
    sheet = workbook.create_sheet("数据")
    sheet.append([field["title"] for field in fields])
    names = [field["name"] for field in fields]
    for row in rows:
        sheet.append([_xlsx_value(row[name]) for name in names])
    # openpyxl's save() stamps the current time; its ExcelWriter with our zip does not.
    # Write-only sheets already spool to temporary files, so buffer the zip the same way.
    with tempfile.TemporaryFile() as buffer:
        with _FixedTimeZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            ExcelWriter(workbook, archive).write_data()
        buffer.seek(0)
        shutil.copyfileobj(buffer, out)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [value[1], value[0]]
    return value


def write_geojson(fields: list[dict], rows: Iterable[dict], out: IO[bytes]) -> None:
    """Stream rows as a FeatureCollection of Points, one feature written at a time."""
    geometry_field = next((f["name"] for f in fields if f["type"] == "geo_point"), None)
    if geometry_field is None:
        raise ValueError("a GeoJSON resource needs a geo_point field")
    property_names = [field["name"] for field in fields if field["name"] != geometry_field]
    out.write(b'{"type": "FeatureCollection", "features": [')
    for index, row in enumerate(rows):
        lat, lon = row[geometry_field]
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {name: _json_value(row[name]) for name in property_names},
        }
        out.write(b",\n" if index else b"\n")
        out.write(json.dumps(feature, ensure_ascii=False).encode())
    out.write(b"\n]}\n")


FILE_WRITERS: dict[str, Callable[[list[dict], Iterable[dict], IO[bytes]], None]] = {
    "CSV": write_csv,
    "XLSX": write_xlsx,
    "GEOJSON": write_geojson,
}
MEDIA_TYPES = {
    "CSV": "text/csv",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "GEOJSON": "application/geo+json",
    "JSON": "application/json",
    "API": "application/json",
    "PDF": "application/pdf",
    "HTML": "text/html",
}


def media_type_for(file_format: str) -> str:
    """The media type of a resource format such as "CSV" or "GeoJSON"."""
    try:
        return MEDIA_TYPES[file_format.upper()]
    except KeyError:
        raise ValueError(f"unknown resource format {file_format!r}") from None


def write_resource_file(resource_spec: dict, seed: str, out: IO[bytes]) -> None:
    """Generate a resource's file (format, rows and fields from its spec) into ``out``."""
    writer = FILE_WRITERS.get(resource_spec["format"].upper())
    if writer is None:
        raise ValueError(f"cannot generate a {resource_spec['format']!r} file")
    fields = resource_spec["fields"]
    writer(fields, iter_rows(fields, resource_spec["rows"], seed), out)
