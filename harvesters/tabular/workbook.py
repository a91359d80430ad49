"""XLSX workbooks, read with openpyxl in read-only mode (rows streamed from the sheet XML).

- Before openpyxl opens anything, the zip's directory is checked: the declared
  uncompressed size of the sheets and the shared strings (which openpyxl keeps in memory)
  must stay under ``Limits.max_xlsx_uncompressed``, and no large member may compress
  better than ``Limits.max_xlsx_ratio`` to 1 (a zip bomb). Python's zipfile stops at the
  declared size, so a member cannot inflate past what was checked.
- The first worksheet, or the one named; one sheet only. Other sheets with values are
  named in a note, and in ``Table.sheets_ignored``, so nobody takes the table for the
  whole workbook. Cells keep their types (numbers, dates, booleans); formulas give their
  cached values; ``_x0000_``-style escapes are undone.
- Header: the first row with two or more values (a title row above it is reported as
  skipped), or the first non-empty row of a one-column sheet. When the header has gaps
  (merged cells) that the row below fills with text and nothing else, as survey exports
  have, the two rows make the header together: "Question / Option".
- Lines are the sheet's row numbers. A row with values beyond the header's columns is
  ragged (reported, not loaded). One-value text rows at the very end are notes.
"""

import itertools
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils.escape import unescape
from openpyxl.utils.exceptions import InvalidFileException

from harvesters.tabular.model import (
    Column,
    Diagnostics,
    Limits,
    Row,
    Table,
    TabularError,
    TabularFormat,
    ignored_sheets_note,
)

HEADER_SEARCH_ROWS = 50
MAX_NOTE_ROWS = 20  # one-value rows held back at the end to tell notes from data
RATIO_CHECK_BYTES = 10 << 20  # members smaller than this may compress as well as they like
_PARTS = re.compile(r"xl/(worksheets/[^/]+\.xml|sharedStrings\.xml)")
_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")
_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    InvalidFileException,
    ParseError,
    KeyError,
    OSError,
    EOFError,
    ValueError,
    TypeError,
    IndexError,
)


def check_zip(stream: BinaryIO, limits: Limits) -> None:
    """Refuse a workbook whose parts would inflate past the limits."""
    start = stream.tell()
    try:
        with zipfile.ZipFile(stream) as archive:
            members = [info for info in archive.infolist() if _PARTS.fullmatch(info.filename)]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise TabularError(f"The workbook is damaged or truncated: {error}.") from None
    finally:
        stream.seek(start)
    total = sum(info.file_size for info in members)
    if total > limits.max_xlsx_uncompressed:
        raise TabularError(
            f"The workbook's sheets would take {total} bytes uncompressed, more than the "
            f"{limits.max_xlsx_uncompressed} allowed."
        )
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_BYTES and ratio > limits.max_xlsx_ratio:
            raise TabularError(
                f"{info.filename} inflates {ratio:.0f} times ({info.file_size} bytes): "
                "refused as a zip bomb."
            )


@contextmanager
def open_workbook(stream: BinaryIO, sheet: str | None, limits: Limits) -> Iterator[Table]:
    check_zip(stream, limits)
    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True, keep_links=False)
    except _ERRORS as error:
        raise TabularError(f"The workbook cannot be opened: {error}.") from None
    try:
        worksheet = _worksheet(workbook, sheet)
        ignored = [
            other.title
            for other in workbook.worksheets
            if other.title != worksheet.title and _has_values(other)
        ]
        worksheet.reset_dimensions()  # a declared A1:Z65536 would pad with empty rows
        diagnostics = Diagnostics(limits.max_examples)
        rows = _cleaned(worksheet.iter_rows(values_only=True))
        header_line, titles, header_lines, pending = _header(rows, diagnostics, limits)
        notes = [ignored_sheets_note(worksheet.title, ignored)] if ignored else []
        if header_lines == 2:
            notes.append(f"The header takes two rows ({header_line} and {header_line + 1}).")
        yield Table(
            format=TabularFormat.XLSX,
            columns=[Column(index, title) for index, title in enumerate(titles)],
            rows=_rows(pending, rows, len(titles), diagnostics),
            diagnostics=diagnostics,
            header_line=header_line,
            header_lines=header_lines,
            sheet=worksheet.title,
            sheets_ignored=ignored,
            notes=notes,
        )
    finally:
        workbook.close()


def _worksheet(workbook, sheet: str | None):
    if sheet is None:
        if not workbook.worksheets:
            raise TabularError("The workbook has no worksheet.")
        return workbook.worksheets[0]
    if sheet not in workbook.sheetnames:
        raise TabularError(f"The workbook has no sheet {sheet!r} (it has {workbook.sheetnames}).")
    return workbook[sheet]


def _has_values(worksheet) -> bool:
    worksheet.reset_dimensions()
    try:
        return any(cells for _line, cells in _cleaned(worksheet.iter_rows(values_only=True)))
    except TabularError:
        return True  # unreadable, so not read: it is named among the sheets ignored


def _cleaned(rows: Iterator[tuple]) -> Iterator[tuple[int, list]]:
    """(row number, values) with escapes undone, NULs dropped, blank text as None and
    trailing empty cells cut. Errors of the XML or the zip become TabularErrors."""
    number = 0
    try:
        for values in rows:
            number += 1
            cells = [_cell(value) for value in values]
            while cells and cells[-1] is None:
                cells.pop()
            yield number, cells
    except _ERRORS as error:
        raise TabularError(f"Row {number + 1} of the sheet cannot be read: {error}.") from None


def _cell(value: object) -> object:
    if isinstance(value, str):
        if "_x" in value and _ESCAPE.search(value):
            value = unescape(value)
        if "\x00" in value:
            value = value.replace("\x00", "")
        return value if value.strip() else None
    return value


def _filled(cells: list) -> int:
    return sum(1 for cell in cells if cell is not None)


def _header(rows, diagnostics: Diagnostics, limits: Limits):
    """Find the header; give back its line, titles, how many rows it took, and the rows
    read past it that are data."""
    seen: list[tuple[int, list]] = []  # the non-empty rows up to the header
    for line, cells in rows:
        if not cells:
            diagnostics.blank()
            continue
        seen.append((line, cells))
        if _filled(cells) >= 2 or len(seen) >= HEADER_SEARCH_ROWS:
            break
    if not seen:
        raise TabularError("The sheet has no rows.")
    line, header = next(((n, c) for n, c in seen if _filled(c) >= 2), seen[0])
    for before, cells in seen:
        if before < line:
            text = " | ".join(str(cell) for cell in cells if cell is not None)
            diagnostics.skip(before, "before the header", text)
    pending = [(n, c) for n, c in seen if n > line]
    if not pending:  # the row below may be the header's second row
        pending = [following] if (following := next(rows, None)) else []
    titles = [str(value).strip() if value is not None else "" for value in header]
    header_lines = 1
    if pending and _continues(header, pending[0][1]):
        titles = _two_row_titles(header, pending[0][1])
        header_lines = 2
        pending = pending[1:]
    if len(titles) > limits.max_columns:
        raise TabularError(
            f"The header has {len(titles)} columns, more than the {limits.max_columns} allowed."
        )
    return line, titles, header_lines, pending


def _continues(header: list, below: list) -> bool:
    """Whether the row below a header with gaps is the second row of the header."""
    gaps = [i for i, value in enumerate(header) if value is None]
    filled = [value for value in below if value is not None]
    return (
        bool(filled)
        and all(isinstance(value, str) for value in filled)
        and any(i < len(below) and below[i] is not None for i in gaps)
    )


def _two_row_titles(header: list, below: list) -> list[str]:
    titles = []
    parent = ""
    for index in range(max(len(header), len(below))):
        top = header[index] if index < len(header) else None
        bottom = below[index] if index < len(below) else None
        if top is not None:
            parent = str(top).strip()
        if bottom is None:
            titles.append(parent if top is not None else "")
        else:
            titles.append(f"{parent} / {str(bottom).strip()}" if parent else str(bottom).strip())
    return titles


def _rows(pending, rows, width: int, diagnostics: Diagnostics) -> Iterator[Row]:
    number = 0
    held: list[tuple[int, list]] = []  # one-value text rows: notes if nothing follows

    def emit(line: int, cells: list) -> Iterator[Row]:
        nonlocal number
        number += 1
        if len(cells) > width:
            values = " | ".join(str(cell) for cell in cells if cell is not None)
            message = f"values in {len(cells)} columns, but the header has {width}"
            diagnostics.ragged(line, values, message)
        else:
            yield Row(number, line, cells + [None] * (width - len(cells)))

    for line, cells in itertools.chain(pending, rows):
        if not cells:
            diagnostics.blank()
            continue
        one_text = width > 1 and _filled(cells) == 1 and isinstance(cells[0], str)
        if one_text and len(held) < MAX_NOTE_ROWS:
            held.append((line, cells))
            continue
        for held_line, held_cells in held:  # data after all: something follows them
            yield from emit(held_line, held_cells)
        held = []
        yield from emit(line, cells)
    for line, cells in held:
        diagnostics.skip(line, "note", str(cells[0]))
