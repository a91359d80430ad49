"""How the SQL record store lays out a resource's rows: the registry table, each resource's
table and its SQLite full-text index, and the conversions of rows into and out of the
table's columns (see catalog.records.sql for the layout itself)."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from catalog.interfaces import RecordField
from catalog.records import EXACT_TYPES, ID, NEEDS_COERCION, coerce, coerce_row_id

TABLE_NAME = re.compile(r"records_[0-9a-f]{32}_[0-9a-f]{8}")

REGISTRY = MetaData()
record_tables = Table(
    "record_tables",
    REGISTRY,
    Column("resource_id", String(36), primary_key=True),
    Column("table_name", String(63), nullable=False),
    Column("fields_json", Text, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Byte order on PostgreSQL as on SQLite (and in the search engines), whatever the
# database's locale: sorts, ranges and cursors then agree on every backend.
TEXT = Text().with_variant(Text(collation="C"), "postgresql")
COLUMN_TYPES = {
    "text": TEXT,
    "integer": BigInteger,
    "number": Double,
    "date": Date,
    "datetime": DateTime,
    "boolean": Boolean,
}
# INTEGER PRIMARY KEY is SQLite's rowid itself, so _id costs no extra index.
ID_TYPE = BigInteger().with_variant(Integer, "sqlite")


@dataclass(frozen=True)
class TableLayout:
    """A resource's table as SQLAlchemy sees it, built from the registry row."""

    table: Table
    fts: Table | None  # SQLite's full-text index, when there are text fields
    fields: tuple[RecordField, ...]
    columns: dict[str, tuple[Column, ...]]  # field name -> its column(s)

    def column(self, name: str) -> Column:
        return self.table.c[ID] if name == ID else self.columns[name][0]


@dataclass(frozen=True)
class RegistryEntry:
    key: str
    table_name: str
    row_count: int
    layout: TableLayout


def build_layout(table_name: str, fields: tuple[RecordField, ...], sqlite: bool) -> TableLayout:
    metadata = MetaData()
    columns: dict[str, tuple[Column, ...]] = {}
    for i, field in enumerate(fields):
        if field.type == "geo_point":
            columns[field.name] = (Column(f"c{i}_lat", Double), Column(f"c{i}_lon", Double))
        else:
            columns[field.name] = (Column(f"c{i}", COLUMN_TYPES[field.type]),)
    table = Table(
        table_name,
        metadata,
        Column(ID, ID_TYPE, primary_key=True, autoincrement=False),
        *(column for pair in columns.values() for column in pair),
    )
    fts = None
    texts = [columns[f.name][0].name for f in fields if f.type == "text"]
    if sqlite and texts:
        fts_name = f"{table_name}_fts"
        fts = Table(
            fts_name,
            metadata,
            Column("rowid", Integer),
            Column(fts_name, Text),  # FTS5's hidden column, the left side of MATCH
            *(Column(name, Text) for name in texts),
        )
    return TableLayout(table, fts, tuple(fields), columns)


def fts_ddl(layout: TableLayout) -> str:
    # Every name here is one we made (TABLE_NAME, c<i>); FTS5 options take no parameters.
    columns = ", ".join(c.name for c in layout.fts.columns[2:])
    return (
        f"CREATE VIRTUAL TABLE {layout.fts.name} USING fts5({columns}, "
        f"content='{layout.table.name}', content_rowid='{ID}', tokenize='trigram')"
    )


def row_converter(layout: TableLayout, sqlite: bool) -> Callable[[dict], tuple]:
    """A function from a row dict to the table's column values. A value already of its
    field's type costs one type check; any other goes through coerce (and may fail)."""
    plan = []
    for field in layout.fields:
        exact = EXACT_TYPES[field.type]
        store = _SQLITE_STORE.get(field.type) if sqlite else None
        plan.append((field.name, field, exact, NEEDS_COERCION.get(field.type), store))
    width = len(plan) + 1
    absent = object()

    def convert(row: dict) -> tuple:
        get = row.get
        row_id = get(ID)
        if type(row_id) is not int:
            row_id = coerce_row_id(row_id)
        values = [row_id]
        found = 1
        for name, field, exact, suspect, store in plan:
            value = get(name, absent)
            if value is not absent:
                found += 1
            if value is None or value is absent:
                values.append(None)
                if exact is tuple:
                    values.append(None)
                continue
            if type(value) is not exact or (suspect is not None and suspect(value)):
                value = coerce(field, value)
            if exact is tuple:
                values.extend(value)
            else:
                values.append(value if store is None else store(value))
        if len(row) > found:
            unknown = sorted(set(row) - {ID, *(name for name, *_ in plan)})
            raise ValueError(f"Row {row_id}: unknown fields {unknown} (of {width - 1} fields).")
        return tuple(values)

    return convert


# Stored as SQLAlchemy's SQLite Date and DateTime types store (and read back) them.
_SQLITE_STORE = {
    "date": date.isoformat,
    "datetime": lambda value: value.isoformat(" ", "microseconds"),
}


# How SQLite's driver gives back what SQLAlchemy's SQLite types store as text or 0/1.
_SQLITE_READ = {
    "date": date.fromisoformat,
    "datetime": datetime.fromisoformat,
    "boolean": bool,
}


def read_sqlite(kind: str, value: object) -> object:
    read = _SQLITE_READ.get(kind)
    return value if value is None or read is None else read(value)


def column_readers(
    fields: tuple[RecordField, ...], sqlite: bool
) -> list[Callable[[list[tuple]], Sequence]]:
    """For each field, a function from a batch's driver columns (``_id`` first, a geo
    point's two after each other) to the field's typed values."""
    readers = []
    position = 1
    for field in fields:
        if field.type == "geo_point":
            readers.append(partial(_points, position))
            position += 2
        else:
            read = _SQLITE_READ.get(field.type) if sqlite else None
            readers.append(partial(_column, position, read))
            position += 1
    return readers


def _column(position: int, read: Callable | None, columns: list[tuple]) -> Sequence:
    if read is None:
        return columns[position]
    return [None if value is None else read(value) for value in columns[position]]


def _points(position: int, columns: list[tuple]) -> list:
    return [
        None if lat is None or lon is None else (lat, lon)
        for lat, lon in zip(columns[position], columns[position + 1], strict=True)
    ]
