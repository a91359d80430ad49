"""The words of tabular ingestion: formats, limits, the table a reader opens, and the report."""

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from catalog.interfaces import RecordField


class TabularFormat(StrEnum):
    CSV = "csv"  # any delimited text: comma, semicolon, tab or pipe
    XLSX = "xlsx"
    JSON = "json"  # an array of objects
    GEOJSON = "geojson"  # a FeatureCollection


class TabularError(Exception):
    """The file cannot be read as a table; the message says why, fit for a steward."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Limits:
    """What a hostile or broken file may cost. Exceeding one is a TabularError."""

    max_rows: int = 10_000_000
    max_columns: int = 1_000
    max_bytes: int = 4 << 30  # of the file itself
    max_line_chars: int = 1 << 20  # one physical line of delimited text
    # XLSX: the declared uncompressed size of the sheet XML and shared strings together,
    # and the compression ratio above which a large member is taken for a zip bomb.
    max_xlsx_uncompressed: int = 1 << 30
    max_xlsx_ratio: int = 100
    sample_rows: int = 5_000  # rows read before the store is touched, to infer the types
    max_examples: int = 100  # failures and skipped lines kept in the report


DEFAULT_LIMITS = Limits()


class Failure(NamedTuple):
    """A row, or one value of it, that could not be taken as it was."""

    line: int  # CSV: physical line; XLSX: sheet row; JSON: position in the array (from 1)
    field: str | None  # None when the whole row is wrong (a ragged row)
    raw: str
    message: str


class SkippedLine(NamedTuple):
    """A line that is not data: before the header, or a note after the data. (Blank lines
    are only counted, in IngestReport.blank_lines.)"""

    line: int
    reason: str
    text: str


class Column(NamedTuple):
    """A column of the source: where its value is in a row (an index into a list row, or a
    key of a dict row) and the title the source gives it."""

    key: Hashable
    title: str


class Pair(NamedTuple):
    """The source of a geo point made of two columns."""

    lat: Hashable
    lon: Hashable


class FieldPlan(NamedTuple):
    """A field of the record store and where its values come from in a source row."""

    field: RecordField
    source: Hashable  # a Column.key, or a Pair of them


class Row(NamedTuple):
    number: int  # the data row's position (from 1): the record's _id
    line: int
    values: list | dict  # a list as wide as the header, or a dict keyed by Column.key


class Diagnostics:
    """What a reader and the conversion noticed on the way; counts are exact, examples are
    kept up to a limit so a file full of errors cannot fill the memory."""

    def __init__(self, max_examples: int):
        self.max_examples = max_examples
        self.failures: list[Failure] = []
        self.rows_failed = 0
        self.values_failed = 0
        self.skipped: list[SkippedLine] = []
        self.lines_skipped = 0
        self.blank_lines = 0  # counted apart: they hold nothing, and would crowd the notes out

    def skip(self, line: int, reason: str, text: str) -> None:
        self.lines_skipped += 1
        if len(self.skipped) < self.max_examples:
            self.skipped.append(SkippedLine(line, reason, clip(text)))

    def blank(self) -> None:
        self.blank_lines += 1

    def ragged(self, line: int, raw: str, message: str) -> None:
        """A row that cannot be read into the columns at all; it is not loaded."""
        self.rows_failed += 1
        self.fail(line, None, raw, message)

    def fail(self, line: int, field_name: str | None, raw: object, message: str) -> None:
        self.values_failed += 1
        if len(self.failures) < self.max_examples:
            self.failures.append(Failure(line, field_name, clip(str(raw)), message))


def ignored_sheets_note(sheet: str, ignored: list[str]) -> str:
    """Says which sheet of a workbook was read, and which others with values were not."""
    names = ", ".join(repr(name) for name in ignored)
    verb = "was" if len(ignored) == 1 else "were"
    return (
        f"The workbook has {len(ignored) + 1} sheets with values: only {sheet!r} was read; "
        f"{names} {verb} ignored."
    )


def clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Table:
    """An open source table: its columns and, lazily, its data rows. Reading the rows also
    fills ``diagnostics`` with the lines that were skipped and the rows that were ragged."""

    format: TabularFormat
    columns: list[Column]
    rows: Iterator[Row]
    diagnostics: Diagnostics
    encoding: str | None = None
    delimiter: str | None = None
    header_line: int | None = None  # the first line of the header; None for JSON
    header_lines: int = 0  # how many lines the header takes (2 for a two-row XLSX header)
    sheet: str | None = None
    sheets_ignored: list[str] = field(default_factory=list)  # other sheets with values
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TableSchema:
    """What ``infer_schema`` proposes for a file, for a steward to confirm or change (types,
    titles, sensitive) before ``ingest``. Field names identify the source columns."""

    format: TabularFormat
    fields: list[RecordField]
    encoding: str | None
    delimiter: str | None
    header_line: int | None
    sheet: str | None
    notes: list[str]


@dataclass(frozen=True)
class IngestReport:
    """How an ingest went. A row with a value that does not fit its field's type is loaded
    with None in that field and counted in ``rows_failed``; a ragged row (more or fewer
    values than the header) is not loaded and counted there too. ``failures`` keeps the
    first ``Limits.max_examples`` of them, ``skipped_lines`` likewise."""

    rows_loaded: int
    rows_failed: int
    failures: list[Failure]
    skipped_lines: list[SkippedLine]
    encoding: str | None
    delimiter: str | None
    header_line: int | None
    format: TabularFormat
    fields: list[RecordField]
    lines_skipped: int = 0  # every skipped line, of which skipped_lines are the first
    blank_lines: int = 0  # blank lines (or sheet rows) between, before and after the data
    values_failed: int = 0  # every failed value or ragged row, of which failures are the first
    sheet: str | None = None
    sheets_ignored: list[str] = field(default_factory=list)  # other sheets with values
    notes: list[str] = field(default_factory=list)
