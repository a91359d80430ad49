"""Tabular ingestion: CSV (UTF-8, GBK/GB18030, UTF-16 or cp1252), XLSX, JSON arrays and GeoJSON
into the record store, with type inference and a report of every row that did not fit.

    fmt = sniff(path, "人口.csv", "text/csv")              # from the content
    schema = infer_schema(path)                             # fields for a steward to confirm
    report = ingest(path, schema.fields, record_store, resource_id)

Everything streams: a file of any size is read in one pass after a bounded sample, and
memory stays flat. How each part decides:

- ``sniff``: the format (harvesters.tabular.sniff)
- ``encoding``: the text encoding (harvesters.tabular.encoding)
- ``delimited``: delimiter, header, notes and ragged rows of delimited text
- ``workbook``: XLSX sheets, the zip-bomb guard, two-row headers
- ``jsondoc``: JSON arrays and GeoJSON features
- ``inference``: field types, names and sensitivity, and the conversion of values
- ``ingest``: the whole load, and dropping a half-loaded table on failure
"""

from harvesters.tabular.ingest import infer_schema, ingest, open_table
from harvesters.tabular.model import (
    DEFAULT_LIMITS,
    Failure,
    IngestReport,
    Limits,
    SkippedLine,
    TableSchema,
    TabularError,
    TabularFormat,
)
from harvesters.tabular.sniff import sniff

__all__ = [
    "DEFAULT_LIMITS",
    "Failure",
    "IngestReport",
    "Limits",
    "SkippedLine",
    "TableSchema",
    "TabularError",
    "TabularFormat",
    "infer_schema",
    "ingest",
    "open_table",
    "sniff",
]
