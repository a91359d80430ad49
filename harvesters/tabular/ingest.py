"""Opening any tabular file, proposing its fields, and loading its rows into the record store."""

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from catalog.interfaces import RecordField, RecordStore
from catalog.records import ID, check_fields, resource_key
from harvesters.tabular.delimited import open_delimited
from harvesters.tabular.inference import bind_fields, plan_fields
from harvesters.tabular.jsondoc import GEOMETRY, open_json
from harvesters.tabular.model import (
    DEFAULT_LIMITS,
    Diagnostics,
    FieldPlan,
    IngestReport,
    Limits,
    Row,
    Table,
    TableSchema,
    TabularError,
    TabularFormat,
)
from harvesters.tabular.sniff import binary_source, sniff
from harvesters.tabular.values import DESCRIPTION, RowConverter, Unfit
from harvesters.tabular.workbook import open_workbook

Source = BinaryIO | str | os.PathLike


@contextmanager
def open_table(
    source: Source,
    *,
    file_name: str = "",
    media_type: str = "",
    sheet: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Table]:
    """The table in a file or stream, whatever its format (see ``sniff``); its rows are
    read lazily. ``sheet`` names an XLSX sheet (the first by default)."""
    with binary_source(source, limits) as stream:
        kind = sniff(stream, file_name, media_type)
        if kind is TabularFormat.CSV:
            opened = open_delimited(stream, limits)
        elif kind is TabularFormat.XLSX:
            opened = open_workbook(stream, sheet, limits)
        else:
            opened = open_json(stream, kind is TabularFormat.GEOJSON, limits)
        with opened as table:
            yield table


def infer_schema(
    source: Source,
    *,
    file_name: str = "",
    media_type: str = "",
    sheet: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> TableSchema:
    """The fields proposed for a file, from its header and its first rows, for a steward
    to confirm before ``ingest``. Reads only the sample."""
    with open_table(
        source, file_name=file_name, media_type=media_type, sheet=sheet, limits=limits
    ) as table:
        sample = list(itertools.islice(table.rows, limits.sample_rows))
        plans, notes = plan_fields(table.columns, sample)
        return TableSchema(
            format=table.format,
            fields=[plan.field for plan in plans],
            encoding=table.encoding,
            delimiter=table.delimiter,
            header_line=table.header_line,
            sheet=table.sheet,
            notes=[*table.notes, *notes, *_geometry_notes(plans)],
        )


def ingest(
    stream: Source,
    fields: list[RecordField] | None,
    record_store: RecordStore,
    resource_id: str,
    *,
    file_name: str = "",
    media_type: str = "",
    sheet: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    skip_bad_rows: bool = False,
) -> IngestReport:
    """Load a tabular file into the record store as the resource's records, streaming.

    ``fields`` None infers them from the first ``limits.sample_rows`` rows; otherwise they
    are the fields of an earlier ``infer_schema`` (types, titles and sensitive may have been
    changed; fields may be left out), found again in the file by name.

    Each record's ``_id`` is its data row's position. A value that does not fit its field's
    type is reported (line, field, raw value, message) and the row is loaded with None
    there, or left out with ``skip_bad_rows``. A ragged row is reported and left out.

    Raises TabularError for a file that is not a table or breaks a limit. Anything that
    fails after the store was created (a file cut short, an encoding error past the sample,
    too many rows) drops the resource's records, so no partial table is left; a file
    refused before that leaves the store as it was."""
    resource_key(resource_id)  # a bad id, or bad fields, fail before the file is read
    if fields is not None:
        check_fields(fields)
    with open_table(
        stream, file_name=file_name, media_type=media_type, sheet=sheet, limits=limits
    ) as table:
        sample = list(itertools.islice(table.rows, limits.sample_rows))
        if fields is None:
            plans, notes = plan_fields(table.columns, sample)
        else:
            plans, notes = _bound(table, fields), []
        if not plans:
            raise TabularError("The table has no columns.")
        records = _records(itertools.chain(sample, table.rows), plans, table, limits, skip_bad_rows)
        record_store.create(resource_id, [plan.field for plan in plans])
        try:
            loaded = record_store.append(resource_id, records)
        except BaseException:
            record_store.drop(resource_id)
            raise
    diagnostics = table.diagnostics
    return IngestReport(
        rows_loaded=loaded,
        rows_failed=diagnostics.rows_failed,
        # The reader runs ahead of the conversion by the sample: put the examples in order.
        failures=sorted(diagnostics.failures, key=lambda failure: failure.line),
        skipped_lines=sorted(diagnostics.skipped, key=lambda skipped: skipped.line),
        encoding=table.encoding,
        delimiter=table.delimiter,
        header_line=table.header_line,
        format=table.format,
        fields=[plan.field for plan in plans],
        lines_skipped=diagnostics.lines_skipped,
        blank_lines=diagnostics.blank_lines,
        values_failed=diagnostics.values_failed,
        sheet=table.sheet,
        sheets_ignored=table.sheets_ignored,
        notes=[*table.notes, *notes, *_geometry_notes(plans)],
    )


def _bound(table: Table, fields: list[RecordField]) -> list[FieldPlan]:
    try:
        return bind_fields(table.columns, fields)
    except KeyError as error:
        titles = ", ".join(column.title for column in table.columns)
        raise TabularError(
            f"The file has no column for field {error.args[0]!r} (its columns: {titles})."
        ) from None


def _geometry_notes(plans: list[FieldPlan]) -> list[str]:
    return [
        f"{plan.field.name}: the features are not all Points; "
        "each geometry is kept whole as GeoJSON text."
        for plan in plans
        if plan.source is GEOMETRY and plan.field.type == "text"
    ]


def _records(
    rows: Iterator[Row],
    plans: list[FieldPlan],
    table: Table,
    limits: Limits,
    skip_bad_rows: bool,
) -> Iterator[dict]:
    diagnostics: Diagnostics = table.diagnostics
    keyed = table.format in (TabularFormat.JSON, TabularFormat.GEOJSON)
    convert = RowConverter(plans, keyed)
    known = frozenset(column.key for column in table.columns)
    for number, line, values in rows:
        if number > limits.max_rows:
            raise TabularError(f"The file has more than {limits.max_rows} rows.")
        failed = False
        try:
            record = convert(values)
        except (ValueError, TypeError, ArithmeticError):
            # Rare: go again value by value to report each one that does not fit.
            failed = True
            record = {}
            for field, raw, value in convert.each(values):
                if isinstance(value, Exception):
                    diagnostics.fail(line, field.name, _raw_text(raw), _message(field, value))
                    value = None
                record[field.name] = value
        if keyed and not values.keys() <= known:
            failed = True
            for key in values.keys() - known:
                diagnostics.fail(line, str(key), values[key], "a key not in the sampled rows")
        if failed:
            diagnostics.rows_failed += 1
            if skip_bad_rows:
                continue
        record[ID] = number
        yield record


def _raw_text(raw: object) -> str:
    if isinstance(raw, tuple):  # a latitude and longitude from two columns
        return ",".join(map(str, raw))
    return str(raw)


def _message(field: RecordField, error: Exception) -> str:
    # Unfit says why in the portal's words; coerce's own wording is Python's ("invalid
    # literal for int()"), and the raw value is in the report beside the message.
    if isinstance(error, Unfit):
        return f"not {DESCRIPTION[field.type]}: {error}"
    return f"not {DESCRIPTION[field.type]}"
