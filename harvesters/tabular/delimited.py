"""Delimited text (CSV, semicolon, tab, pipe), streamed.

The encoding, the delimiter and the header are decided on a sample of the first lines;
then the file is read again from the start through an incremental decoder
(``io.TextIOWrapper`` over the binary stream), one line at a time: memory stays flat
whatever the size.

- Delimiter: ``csv.Sniffer`` on the sample, restricted to ``, ; TAB |``, kept if it lines
  the sample up into columns as well as the best candidate does; otherwise the candidate
  that gives the most rows of one width wins (the Sniffer gives up on files with notes
  above or below the data, like the statistics bureau's exports).
- Header: the dominant width is the most common number of cells among the sampled rows of
  two cells or more; the header is the first row of that width (or one less, when every
  row ends in an empty cell: a trailing delimiter). Lines before it (数据库：… 指标：…
  时间：…) are reported as skipped.
- Data rows: a row of the header's width is data (extra cells are allowed if empty); a
  blank line is counted. A row with one non-empty cell and fewer cells than the header
  is a note (注：…, 数据来源：…) when only notes and blank lines follow it, and is reported
  as skipped; followed by data it is a short row. Any other row of another width, short
  or long, is ragged: it is reported as a failure with its line and not loaded.
- Lines are physical lines, from 1, as a text editor counts them; a row that spans lines
  (a quoted value with a line break) is reported at its first line.
"""

import csv
import io
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from harvesters.tabular.encoding import detect_encoding
from harvesters.tabular.model import (
    Column,
    Diagnostics,
    Limits,
    Row,
    Table,
    TabularError,
    TabularFormat,
)

DELIMITERS = ",;\t|"
SAMPLE_LINES = 1_000
SAMPLE_CHARS = 1 << 20
SNIFF_CHARS = 64 << 10
MIN_FITTING_SHARE = 0.5  # of the sampled rows after the header, or it is not a table
MAX_NOTE_ROWS = 20  # one-value rows held back to tell notes at the end from short rows


@contextmanager
def open_delimited(stream: BinaryIO, limits: Limits) -> Iterator[Table]:
    start = stream.tell()
    encoding = detect_encoding(stream)
    lines, complete = _sample_lines(stream, encoding, limits)
    stream.seek(start)
    delimiter = _delimiter(lines)
    records = _parse(lines, delimiter, complete)
    header_line, header = _header(records, limits)
    diagnostics = Diagnostics(limits.max_examples)
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    try:
        yield Table(
            format=TabularFormat.CSV,
            columns=[Column(index, title.strip()) for index, title in enumerate(header)],
            rows=_rows(text, encoding, delimiter, header_line, len(header), diagnostics, limits),
            diagnostics=diagnostics,
            encoding=encoding,
            delimiter=delimiter,
            header_line=header_line,
            header_lines=1,
        )
    finally:
        text.detach()  # leave the caller's stream open


def _lines(text: io.TextIOWrapper, encoding: str, limits: Limits) -> Iterator[str]:
    """Physical lines with their line ends, each at most ``max_line_chars`` long."""
    number = 0
    while True:
        try:
            line = text.readline(limits.max_line_chars)
        except UnicodeDecodeError as error:
            byte = error.object[error.start]
            raise TabularError(
                f"Line {number + 1} is not valid {encoding} text (invalid byte 0x{byte:02x}): "
                "the file changes encoding or is damaged."
            ) from None
        if not line:
            return
        number += 1
        if len(line) >= limits.max_line_chars and not line.endswith(("\n", "\r")):
            raise TabularError(f"Line {number} is longer than {limits.max_line_chars} characters.")
        yield line


def _sample_lines(stream: BinaryIO, encoding: str, limits: Limits) -> tuple[list[str], bool]:
    """The first lines of the file, and whether they are all of it."""
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    lines: list[str] = []
    size = 0
    try:
        for line in _lines(text, encoding, limits):
            lines.append(line)
            size += len(line)
            if len(lines) >= SAMPLE_LINES or size >= SAMPLE_CHARS:
                return lines, False
        return lines, True
    finally:
        text.detach()


def _widths(rows: list[list[str]]) -> Counter:
    return Counter(len(cells) for cells in rows if len(cells) > 1)


def _delimiter(lines: list[str]) -> str:
    def rows_of(delimiter: str) -> list[list[str]]:
        try:
            return list(csv.reader(lines, delimiter=delimiter))
        except csv.Error:
            return []

    # How well each candidate lines the sample up: the rows of its most common width.
    scores = {}
    for delimiter in DELIMITERS:
        widths = _widths(rows_of(delimiter))
        scores[delimiter] = widths.most_common(1)[0][1] if widths else 0
    best = max(DELIMITERS, key=lambda d: scores[d])  # ties: the earlier, so "," first
    if not scores[best]:
        return ","  # one column: no delimiter lines anything up
    sample = "".join(lines)[:SNIFF_CHARS]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in scores and scores[sniffed] >= scores[best]:
        return sniffed
    return best


def _parse(lines: list[str], delimiter: str, complete: bool) -> list[tuple[int, list[str]]]:
    reader = csv.reader(lines, delimiter=delimiter)
    records = []
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as error:
        raise TabularError(f"Line {start}: {error}.") from None
    if not complete and records:
        records.pop()  # it may be cut short by the end of the sample
    return records


def _filled(cells: list[str]) -> int:
    return sum(1 for cell in cells if cell.strip())


def _header(records: list[tuple[int, list[str]]], limits: Limits) -> tuple[int, list[str]]:
    rows = [(line, cells) for line, cells in records if _filled(cells)]
    if not rows:
        raise TabularError("The file has no rows.")
    widths = _widths([cells for _, cells in rows])
    width = widths.most_common(1)[0][0] if widths else 1
    trailing = width > 1 and all(not c[-1].strip() for _, c in rows if len(c) == width)
    position, (line, cells) = next(
        (i, row)
        for i, row in enumerate(rows)
        if len(row[1]) == width or (trailing and len(row[1]) == width - 1)
    )
    header = cells[: width - 1] if trailing and len(cells) == width else cells
    if len(header) > limits.max_columns:
        raise TabularError(
            f"The header has {len(header)} columns, more than the {limits.max_columns} allowed."
        )
    # Notes (one value in a short row) are neither data nor evidence against a table.
    after = [c for _, c in rows[position + 1 :] if len(c) >= len(header) or _filled(c) > 1]
    fitting = sum(1 for c in after if _fits(c, len(header)))
    notes_only = not after and position + 1 < len(rows)  # prose with one comma'd line
    if len(header) > 1 and (notes_only or (after and fitting / len(after) < MIN_FITTING_SHARE)):
        raise TabularError(
            f"The lines do not line up into columns ({fitting} of the {len(after)} sampled rows "
            f"after the header on line {line} have its {len(header)} cells): not a table."
        )
    return line, header


def _fits(cells: list[str], width: int) -> bool:
    if len(cells) == width:
        return True
    return len(cells) > width and not any(cell.strip() for cell in cells[width:])


def _rows(
    text: io.TextIOWrapper,
    encoding: str,
    delimiter: str,
    header_line: int,
    width: int,
    diagnostics: Diagnostics,
    limits: Limits,
) -> Iterator[Row]:
    reader = csv.reader(_lines(text, encoding, limits), delimiter=delimiter)
    start = 1
    number = 0
    held: list[tuple[int, list[str]]] = []  # one-value short rows: notes if nothing follows

    def ragged(line: int, cells: list[str]) -> None:
        nonlocal number
        number += 1
        values = "value" if len(cells) == 1 else "values"
        message = f"{len(cells)} {values}, but the header has {width}"
        diagnostics.ragged(line, delimiter.join(cells), message)

    def release() -> None:
        for held_line, held_cells in held:  # short rows after all: something follows them
            ragged(held_line, held_cells)
        held.clear()

    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if line <= header_line:
                if line < header_line:
                    diagnostics.skip(line, "before the header", delimiter.join(cells))
                continue
            size = len(cells)
            if size == width and (cells[0].strip() or any(cell.strip() for cell in cells)):
                if held:
                    release()
                number += 1
                yield Row(number, line, cells)
                continue
            filled = _filled(cells)
            if not filled:
                diagnostics.blank()
            elif size < width and filled == 1 and len(held) < MAX_NOTE_ROWS:
                held.append((line, cells))
            elif size > width and not any(cell.strip() for cell in cells[width:]):
                if held:
                    release()
                number += 1
                yield Row(number, line, cells[:width])
            else:
                if held:
                    release()
                ragged(line, cells)
    except csv.Error as error:
        raise TabularError(f"Line {start}: {error}.") from None
    for line, cells in held:
        diagnostics.skip(line, "note", delimiter.join(cells).strip(delimiter))
