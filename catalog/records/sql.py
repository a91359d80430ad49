"""The embedded record store: one SQL table per tabular resource, in the catalog database
(SQLite or PostgreSQL).

Each resource's rows live in ``records_<resource hex>_<random>``; field ``i`` is column
``c<i>`` (a geo point is ``c<i>_lat`` and ``c<i>_lon``), so field names, Chinese or not,
never reach SQL. The registry table ``record_tables`` maps each resource to its table and
keeps its fields and row count. ``create`` builds the new table under a new name and swaps
the registry row and drops the old table in the same transaction.

Full text: on SQLite an FTS5 trigram index (external content, keyed by ``_id``) over the
text fields, with LIKE for words under three characters, which the trigram tokenizer cannot
match (most Chinese words are two: 学校, 街道). On PostgreSQL ILIKE over the text columns,
each with a ``pg_trgm`` GIN index when the extension is there or can be created; without it
a search scans the table, and ``check()`` says so.

Secondary indexes are built at the end of the first load, which is quicker than keeping
them up row by row: a B-tree on each integer, number, date and datetime column and on each
text column whose values are all short (``INDEXED_TEXT_CHARS``), and the trigram indexes.

Numbers are stored as double precision floats, not NUMERIC: SQLite has no exact decimal
type anyway, the search engines store doubles, and doubles sort, compare and sum quicker;
15 significant digits hold any statistic or amount in yuan exactly enough.

Datetimes are stored naive: as the source gave them, or in UTC when the value was aware.
"""

import json
import re
import secrets
import sqlite3
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial
from itertools import islice

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    false,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, DropTable

from catalog.interfaces import RecordBatch, RecordField, RecordPage, RecordQuery, RecordRows
from catalog.records import (
    COUNT_EXACT_LIMIT,
    EXACT_TYPES,
    EXPORT_BATCH,
    ID,
    MAX_GROUPS,
    NEEDS_COERCION,
    CheckedQuery,
    check_fields,
    check_group_field,
    check_query,
    coerce,
    encode_cursor,
    resource_key,
)

SQLITE_BATCH = 10_000  # rows per executemany and per transaction on SQLite
COPY_CHUNK = 50_000  # rows per COPY and per transaction on PostgreSQL
INDEXED_TEXT_CHARS = 256  # longer text gets no B-tree (PostgreSQL refuses entries > 2.7 kB)
FTS_MIN_CHARS = 3  # the trigram tokenizer matches nothing shorter
LAYOUT_CACHE = 512
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

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
B_TREE_TYPES = frozenset({"integer", "number", "date", "datetime", "text"})


@dataclass(frozen=True)
class _Layout:
    """A resource's table as SQLAlchemy sees it, built from the registry row."""

    table: Table
    fts: Table | None  # SQLite's full-text index, when there are text fields
    fields: tuple[RecordField, ...]
    columns: dict[str, tuple[Column, ...]]  # field name -> its column(s)

    def column(self, name: str) -> Column:
        return self.table.c[ID] if name == ID else self.columns[name][0]


@dataclass(frozen=True)
class _Entry:
    key: str
    table_name: str
    row_count: int
    layout: _Layout


class SqlRecordStore:
    """RecordStore on the catalog database: SQLite (FTS5) or PostgreSQL (pg_trgm)."""

    def __init__(self, engine: Engine, *, trigram: bool = True, use_copy: bool = True):
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.use_copy = use_copy and engine.dialect.driver == "psycopg"
        self._want_trigram = trigram and not self.sqlite
        self._trigram_ops: str | None = None  # the qualified operator class, when available
        self._trigram_note = ""
        self._ready = False
        self._layouts: dict[str, _Layout] = {}

    @classmethod
    def from_engine(cls, engine: Engine) -> "SqlRecordStore":
        return cls(engine)

    # -- setup ---------------------------------------------------------------------------

    def _ensure(self) -> None:
        if self._ready:
            return
        REGISTRY.create_all(self.engine, checkfirst=True)
        if self._want_trigram:
            self._find_trigram()
        self._ready = True

    def _find_trigram(self) -> None:
        query = text(
            "SELECT n.nspname FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
        )
        with self.engine.connect() as connection:
            schema = connection.scalar(query)
        # A trusted extension since PostgreSQL 13: a database owner may create it. In public
        # if we may, where it outlives any one schema (a test's private one, say) and the
        # indexes of every schema can share it.
        for where in (" WITH SCHEMA public", ""):
            if schema is not None:
                break
            try:
                with self.engine.begin() as connection:
                    connection.execute(text(f"CREATE EXTENSION IF NOT EXISTS pg_trgm{where}"))
            except DBAPIError as error:
                self._trigram_note = f"pg_trgm unavailable ({str(error.orig).strip()})"
            with self.engine.connect() as connection:
                schema = connection.scalar(query)
        if schema is not None:
            quote = self.engine.dialect.identifier_preparer.quote
            self._trigram_ops = f"{quote(schema)}.gin_trgm_ops"
            self._trigram_note = f"pg_trgm in schema {schema}"

    def check(self) -> str:
        self._ensure()
        with self.engine.connect() as connection:
            tables = connection.scalar(select(func.count()).select_from(record_tables))
            if self.sqlite:
                engine = f"SQLite {sqlite3.sqlite_version}, FTS5 trigram"
            else:
                version = connection.scalar(text("SHOW server_version"))
                search = self._trigram_note if self._trigram_ops else "q scans the table: "
                if not self._trigram_ops:
                    search += self._trigram_note or "pg_trgm not used"
                engine = f"PostgreSQL {version}, {search}"
        where = self.engine.url.render_as_string(hide_password=True)
        return f"SQL record store at {where} ({engine}), {tables} tables"

    # -- the registry ----------------------------------------------------------------------

    def _layout(self, table_name: str, fields: tuple[RecordField, ...]) -> _Layout:
        if not TABLE_NAME.fullmatch(table_name):
            raise ValueError(f"Unexpected record table name {table_name!r}.")
        layout = self._layouts.get(table_name)
        if layout is not None:
            return layout
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
        if self.sqlite and texts:
            fts_name = f"{table_name}_fts"
            fts = Table(
                fts_name,
                metadata,
                Column("rowid", Integer),
                Column(fts_name, Text),  # FTS5's hidden column, the left side of MATCH
                *(Column(name, Text) for name in texts),
            )
        if len(self._layouts) >= LAYOUT_CACHE:
            self._layouts.clear()
        layout = _Layout(table, fts, tuple(fields), columns)
        self._layouts[table_name] = layout
        return layout

    def _entry(self, connection: Connection, key: str) -> _Entry | None:
        registry = record_tables.c
        row = connection.execute(
            select(registry.table_name, registry.fields_json, registry.row_count).where(
                registry.resource_id == key
            )
        ).one_or_none()
        if row is None:
            return None
        fields = tuple(RecordField(**field) for field in json.loads(row.fields_json))
        return _Entry(key, row.table_name, row.row_count, self._layout(row.table_name, fields))

    def _read(self, resource_id: str, work: Callable[[Connection, _Entry], object]):
        """Run work on the resource's current table. A create or drop may swap the table
        between our reading the registry and the table; then read the registry again."""
        self._ensure()
        key = resource_key(resource_id)
        for attempt in range(2):
            with self.engine.connect() as connection:
                entry = self._entry(connection, key)
                if entry is None:
                    raise KeyError(f"No records for resource {key}.")
                try:
                    return work(connection, entry)
                except DBAPIError:
                    if attempt or self._table_name(key) == entry.table_name:
                        raise
        raise AssertionError("unreachable")

    def _table_name(self, key: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.scalar(
                select(record_tables.c.table_name).where(record_tables.c.resource_id == key)
            )

    def exists(self, resource_id: str) -> bool:
        try:
            key = resource_key(resource_id)
        except ValueError:
            return False
        self._ensure()
        return self._table_name(key) is not None

    def fields(self, resource_id: str) -> list[RecordField]:
        return self._read(resource_id, lambda _connection, entry: list(entry.layout.fields))

    # -- writing ---------------------------------------------------------------------------

    def create(self, resource_id: str, fields: list[RecordField]) -> None:
        key = resource_key(resource_id)
        check_fields(fields)
        self._ensure()
        fields = tuple(
            RecordField(f.name, f.type, f.title or "", bool(f.sensitive)) for f in fields
        )
        table_name = f"records_{key.replace('-', '')}_{secrets.token_hex(4)}"
        layout = self._layout(table_name, fields)
        values = {
            "table_name": table_name,
            "fields_json": json.dumps([f.__dict__ for f in fields], ensure_ascii=False),
            "row_count": 0,
            "created_at": datetime.now().astimezone(),
        }
        with self.engine.begin() as connection:
            old = connection.scalar(
                select(record_tables.c.table_name)
                .where(record_tables.c.resource_id == key)
                .with_for_update()
            )
            # The registry write comes first: Python's sqlite3 opens the transaction only at
            # a DML statement, and the DDL after it must be inside, so that the new table,
            # the registry row and the old table's drop commit together.
            if old is None:
                connection.execute(record_tables.insert().values(resource_id=key, **values))
            else:
                connection.execute(
                    record_tables.update().where(record_tables.c.resource_id == key).values(values)
                )
            layout.table.create(connection)
            if layout.fts is not None:
                connection.exec_driver_sql(self._fts_ddl(layout))
            # Every earlier table of the resource, not only the registry's: one left by a
            # create that raced this one would otherwise stay forever.
            self._drop_tables(connection, key, keep=table_name)

    def _fts_ddl(self, layout: _Layout) -> str:
        # Every name here is one we made (TABLE_NAME, c<i>); FTS5 options take no parameters.
        columns = ", ".join(c.name for c in layout.fts.columns[2:])
        return (
            f"CREATE VIRTUAL TABLE {layout.fts.name} USING fts5({columns}, "
            f"content='{layout.table.name}', content_rowid='{ID}', tokenize='trigram')"
        )

    def _drop_tables(self, connection: Connection, key: str, keep: str | None = None) -> None:
        prefix = f"records_{key.replace('-', '')}_"
        metadata = MetaData()
        for table_name in inspect(connection).get_table_names():
            mine = table_name.startswith(prefix) and TABLE_NAME.fullmatch(table_name)
            if mine and table_name != keep:
                for name in (f"{table_name}_fts", table_name):
                    connection.execute(DropTable(Table(name, metadata), if_exists=True))
                self._layouts.pop(table_name, None)

    def drop(self, resource_id: str) -> None:
        key = resource_key(resource_id)
        self._ensure()
        with self.engine.begin() as connection:
            # DML first, as in create, so the drop is part of the transaction on SQLite.
            connection.execute(record_tables.delete().where(record_tables.c.resource_id == key))
            self._drop_tables(connection, key)

    def append(self, resource_id: str, rows: Iterator[dict]) -> int:
        """Add rows, committing every SQLITE_BATCH (SQLite) or COPY_CHUNK (PostgreSQL) rows:
        on SQLite a long transaction would hold every other writer of the catalog database.
        If a row fails, the batches before it stay; load again with create + append."""
        self._ensure()
        key = resource_key(resource_id)
        with self.engine.connect() as connection:
            entry = self._entry(connection, key)
        if entry is None:
            raise KeyError(f"No records for resource {key}.")
        convert = _row_converter(entry.layout, self.sqlite)
        rows = iter(rows)
        if self.sqlite:
            added = self._insert_sqlite(entry, rows, convert)
        elif self.use_copy:
            added = self._copy_postgres(entry, rows, convert)
        else:
            added = self._insert_core(entry, rows, convert)
        if entry.row_count == 0 and added:
            self._build_indexes(entry.layout)
        return added

    def _count_added(self, connection: Connection, entry: _Entry, added: int) -> None:
        connection.execute(
            record_tables.update()
            .where(
                record_tables.c.resource_id == entry.key,
                record_tables.c.table_name == entry.table_name,
            )
            .values(row_count=record_tables.c.row_count + added)
        )

    def _insert_sqlite(self, entry: _Entry, rows: Iterator[dict], convert) -> int:
        layout = entry.layout
        insert = str(layout.table.insert().compile(dialect=self.engine.dialect))
        fts_insert = fts_positions = None
        if layout.fts is not None:
            # rowid and the text columns, not FTS5's hidden column.
            fts_insert = str(
                layout.fts.insert()
                .values({c.name: None for c in layout.fts.columns if c.name != layout.fts.name})
                .compile(dialect=self.engine.dialect)
            )
            names = [c.name for c in layout.table.columns]
            fts_positions = [0, *(names.index(c.name) for c in layout.fts.columns[2:])]
        added = 0
        while batch := [convert(row) for row in islice(rows, SQLITE_BATCH)]:
            with self.engine.begin() as connection:
                connection.exec_driver_sql(insert, batch)
                if fts_insert is not None:
                    connection.exec_driver_sql(
                        fts_insert, [tuple(r[p] for p in fts_positions) for r in batch]
                    )
                self._count_added(connection, entry, len(batch))
            added += len(batch)
        return added

    def _copy_postgres(self, entry: _Entry, rows: Iterator[dict], convert) -> int:
        from psycopg import sql

        names = [column.name for column in entry.layout.table.columns]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(entry.table_name), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        added = 0
        while True:
            with self.engine.begin() as connection:
                written = 0
                cursor = connection.connection.driver_connection.cursor()
                with cursor, cursor.copy(statement) as copy:
                    for row in islice(rows, COPY_CHUNK):
                        copy.write_row(convert(row))
                        written += 1
                if written:
                    self._count_added(connection, entry, written)
            added += written
            if written < COPY_CHUNK:
                return added

    def _insert_core(self, entry: _Entry, rows: Iterator[dict], convert) -> int:
        """executemany through SQLAlchemy: PostgreSQL on a driver without COPY."""
        names = [column.name for column in entry.layout.table.columns]
        insert = entry.layout.table.insert()
        added = 0
        while batch := [dict(zip(names, convert(r), strict=True)) for r in islice(rows, 5000)]:
            with self.engine.begin() as connection:
                connection.execute(insert, batch)
                self._count_added(connection, entry, len(batch))
            added += len(batch)
        return added

    def _build_indexes(self, layout: _Layout) -> None:
        table = layout.table
        texts = [layout.columns[f.name][0] for f in layout.fields if f.type == "text"]
        with self.engine.begin() as connection:
            longest = {}
            if texts:
                lengths = connection.execute(
                    select(*(func.max(func.length(column)) for column in texts))
                ).one()
                longest = {column.name: n or 0 for column, n in zip(texts, lengths, strict=True)}
            indexes = []
            for field in layout.fields:
                column = layout.columns[field.name][0]
                if field.type in B_TREE_TYPES and longest.get(column.name, 0) <= (
                    INDEXED_TEXT_CHARS
                ):
                    indexes.append(Index(f"{table.name}_{column.name}", column))
                if field.type == "text" and self._trigram_ops:
                    indexes.append(
                        Index(
                            f"{table.name}_{column.name}_trgm",
                            column,
                            postgresql_using="gin",
                            postgresql_ops={column.name: self._trigram_ops},
                        )
                    )
            if not self.sqlite:
                connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            for index in indexes:
                connection.execute(CreateIndex(index, if_not_exists=True))
            table.indexes.clear()  # the cached layout stays a plain description of columns
            if not self.sqlite:
                connection.execute(text(f"ANALYZE {self._quote(table.name)}"))

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    # -- reading ---------------------------------------------------------------------------

    def query(self, resource_id: str, query: RecordQuery) -> RecordPage:
        def work(connection: Connection, entry: _Entry) -> RecordPage:
            checked = check_query(list(entry.layout.fields), query)
            rows, last = self._fetch(connection, entry.layout, checked)
            cursor = encode_cursor(checked, last) if last is not None else None
            if not checked.words and not checked.filters:
                total, estimate = entry.row_count, False
            elif checked.after is None and checked.limit and cursor is None:
                total, estimate = len(rows), False  # the first page holds every match
            else:
                total, estimate = self._count(connection, entry.layout, checked)
            return RecordPage(rows, total, estimate, cursor)

        return self._read(resource_id, work)

    def group_counts(
        self, resource_id: str, field: str, query: RecordQuery, limit: int
    ) -> list[tuple[object, int]]:
        if limit < 1:
            raise ValueError("limit must be 1 or more.")

        def work(connection: Connection, entry: _Entry) -> list[tuple[object, int]]:
            fields = list(entry.layout.fields)
            column = entry.layout.column(check_group_field(fields, field).name)
            checked = check_query(fields, replace(query, cursor=None, limit=0))
            count = func.count().label("n")
            statement = (
                select(column, count)
                .where(*self._where(entry.layout, checked), column.is_not(None))
                .group_by(column)
                .order_by(count.desc(), column.asc())
                .limit(min(limit, MAX_GROUPS))
            )
            return [(value, n) for value, n in connection.execute(statement)]

        return self._read(resource_id, work)

    def export(self, resource_id: str, query: RecordQuery) -> RecordRows:
        """Every matching row in the query's order, EXPORT_BATCH at a time by keyset; no
        connection or transaction stays open while the caller consumes a batch. A batch is
        made by column from the driver's own rows (on SQLite, dates, datetimes and booleans
        converted a column at a time): no SQLAlchemy row and no dict per row."""

        def work(_connection: Connection, entry: _Entry):
            return entry, check_query(list(entry.layout.fields), query)

        # Checked now, so a bad query or resource fails before any row is streamed.
        entry, checked = self._read(resource_id, work)
        return RecordRows(self._export(entry, replace(checked, limit=EXPORT_BATCH)))

    def _export(self, entry: _Entry, checked: CheckedQuery) -> Iterator[RecordBatch]:
        names = tuple(field.name for field in checked.fields)
        readers = _column_readers(checked.fields, self.sqlite)
        while True:
            with self.engine.connect() as connection:
                rows, last = self._select(connection, entry.layout, checked, driver_values=True)
            if rows:
                columns = list(zip(*rows, strict=True))
                yield RecordBatch(names, columns[0], [read(columns) for read in readers])
            if last is None:
                return
            checked = replace(checked, after=last)

    def _fetch(
        self, connection: Connection, layout: _Layout, checked: CheckedQuery
    ) -> tuple[list[dict], tuple | None]:
        """Up to checked.limit rows after checked.after as dicts, and the sort values of
        the last one when more rows follow it."""
        result, last = self._select(connection, layout, checked)
        shape = []  # (field name, position, is a geo point)
        position = 1
        for field in checked.fields:
            shape.append((field.name, position, field.type == "geo_point"))
            position += len(layout.columns[field.name])
        rows = []
        for values in result:
            row = {ID: values[0]}
            for name, position, geo in shape:
                if geo:
                    lat, lon = values[position], values[position + 1]
                    row[name] = None if lat is None or lon is None else (lat, lon)
                else:
                    row[name] = values[position]
            rows.append(row)
        return rows, last

    def _select(
        self,
        connection: Connection,
        layout: _Layout,
        checked: CheckedQuery,
        driver_values: bool = False,
    ) -> tuple[list, tuple | None]:
        """Up to checked.limit rows after checked.after, each ``_id`` then the columns of
        checked.fields, and the sort values of the last one when more rows follow it.

        driver_values: the rows as the driver gives them (tuples; on SQLite, dates and
        datetimes as text and booleans as 0 or 1), not converted by SQLAlchemy row by row;
        the sort values are typed all the same, for the next batch's keyset."""
        limit = checked.limit
        if limit == 0:
            return [], None
        sort = [(layout.column(field.name), descending) for field, descending in checked.sort]
        output = [layout.table.c[ID]]
        for field in checked.fields:
            output.extend(layout.columns[field.name])
        first_sort = len(output)
        output.extend(column for column, _ in sort)
        result: list = []
        for where, order in self._phases(layout, checked, sort):
            statement = select(*output).where(*where).order_by(*order)
            found = connection.execute(statement.limit(limit + 1 - len(result)))
            if driver_values:
                # The DBAPI cursor SQLAlchemy executed on, read past its row processing.
                result += found.cursor.fetchall()
                found.close()
            else:
                result += found.all()
            if len(result) > limit:
                break
        if len(result) <= limit:
            return result, None
        last = tuple(result[limit - 1][first_sort:])
        if driver_values and self.sqlite:
            last = tuple(
                _read_sqlite(field.type, value)
                for (field, _descending), value in zip(checked.sort, last, strict=True)
            )
        return result[:limit], last

    def _phases(self, layout: _Layout, checked: CheckedQuery, sort: list) -> list:
        """(where, order by) of the one or two statements that give the rows after the
        cursor. Sorted on a field, the rows that have a value come first, in an order an
        index on the field gives (the database's own place for NULLs then does not matter,
        and the cursor's condition bounds the index scan), then those without one."""
        where = self._where(layout, checked)
        after = checked.after
        (lead, descending), rest = sort[0], sort[1:]
        if not rest:  # sorted on _id alone: the primary key
            keyset = [_after(sort, after)] if after is not None else []
            return [([*where, *keyset], [_order(lead, descending)])]
        phases = []
        if after is None or after[0] is not None:
            keyset = [_after(sort, after, lead_may_be_null=False)] if after is not None else []
            order = [lead.desc() if descending else lead.asc(), *(_order(*key) for key in rest)]
            phases.append(([*where, lead.is_not(None), *keyset], order))
        keyset = [_after(rest, after[1:])] if after is not None and after[0] is None else []
        phases.append(([*where, lead.is_(None), *keyset], [_order(*key) for key in rest]))
        return phases

    def _count(
        self, connection: Connection, layout: _Layout, checked: CheckedQuery
    ) -> tuple[int, bool]:
        matches = (
            select(literal(1))
            .select_from(layout.table)
            .where(*self._where(layout, checked))
            .limit(COUNT_EXACT_LIMIT + 1)
            .subquery()
        )
        total = connection.scalar(select(func.count()).select_from(matches))
        if total > COUNT_EXACT_LIMIT:
            return COUNT_EXACT_LIMIT, True
        return total, False

    def _where(self, layout: _Layout, checked: CheckedQuery) -> list:
        clauses = []
        for condition in checked.filters:
            column = layout.column(condition.field)
            if condition.op == "exists":
                clauses.append(column.is_not(None) if condition.value else column.is_(None))
            elif condition.op == "eq":
                clauses.append(column == condition.value)
            elif condition.op == "in":
                clauses.append(column.in_(condition.values))
            else:
                if condition.gte is not None:
                    clauses.append(column >= condition.gte)
                if condition.lte is not None:
                    clauses.append(column <= condition.lte)
        if checked.words:
            clauses.extend(self._search(layout, checked))
        return clauses

    def _search(self, layout: _Layout, checked: CheckedQuery) -> list:
        columns = [layout.columns[field.name][0] for field in checked.search_fields]
        if not columns:
            return [false()]
        clauses = []
        long_words = [w for w in checked.words if self.sqlite and len(w) >= FTS_MIN_CHARS]
        if long_words:
            fts = layout.fts
            phrases = " AND ".join('"' + word.replace('"', '""') + '"' for word in long_words)
            match = "{" + " ".join(c.name for c in columns) + "} : (" + phrases + ")"
            clauses.append(
                layout.table.c[ID].in_(
                    select(fts.c.rowid).where(fts.c[fts.name].op("MATCH")(match))
                )
            )
        for word in checked.words:
            if word in long_words:
                continue
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
            if self.sqlite:  # LIKE folds ASCII case on SQLite, as ILIKE does here
                matches = [column.like(pattern, escape="\\") for column in columns]
            elif len(word) >= FTS_MIN_CHARS:  # found through the pg_trgm index, if any
                matches = [column.ilike(pattern, escape="\\") for column in columns]
            else:
                # A trigram index has no trigram to look up for a shorter word and would
                # read itself whole; written this way the planner scans the table instead.
                lowered = pattern.translate(ASCII_LOWER)  # as lower() does under "C"
                matches = [func.lower(column).like(lowered, escape="\\") for column in columns]
            clauses.append(or_(*matches))
        return clauses


def _order(column: Column, descending: bool):
    if column.name == ID:  # never NULL; a plain order lets PostgreSQL walk the primary key
        return column.desc() if descending else column.asc()
    return (column.desc() if descending else column.asc()).nulls_last()


def _after(sort: list[tuple[Column, bool]], values: tuple, lead_may_be_null: bool = True):
    """Rows after the one whose sort values are values, NULLs last in both directions.
    The last sort column is _id, never NULL."""
    (column, descending), value = sort[0], values[0]
    if len(sort) == 1:
        return column < value if descending else column > value
    rest = _after(sort[1:], values[1:])
    if value is None:
        return and_(column.is_(None), rest)  # nothing sorts after NULL but NULL
    value = literal(value, column.type)  # a bound value: SQLAlchemy refuses `> True`
    # (column beyond value) or (column = value and rest), with a bound an index can seek to.
    bound = column <= value if descending else column >= value
    beyond = column < value if descending else column > value
    condition = and_(bound, or_(beyond, rest))
    return or_(condition, column.is_(None)) if lead_may_be_null else condition


def _row_converter(layout: _Layout, sqlite: bool) -> Callable[[dict], tuple]:
    """A function from a row dict to the table's column values. A value already of its
    field's type costs one type check; any other goes through coerce (and may fail)."""
    plan = []
    for field in layout.fields:
        exact = EXACT_TYPES[field.type]
        store = _SQLITE_STORE.get(field.type) if sqlite else None
        plan.append((field.name, field, exact, NEEDS_COERCION.get(field.type), store))
    id_field = RecordField(ID, "integer")
    width = len(plan) + 1
    absent = object()

    def convert(row: dict) -> tuple:
        get = row.get
        row_id = get(ID)
        if type(row_id) is not int:
            row_id = coerce(id_field, row_id)
            if row_id is None:
                raise ValueError("Every row needs its _id (its position, from 1).")
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


def _read_sqlite(kind: str, value: object) -> object:
    read = _SQLITE_READ.get(kind)
    return value if value is None or read is None else read(value)


def _column_readers(
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
