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
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from itertools import islice

from sqlalchemy import (
    Connection,
    Engine,
    Index,
    MetaData,
    Table,
    func,
    inspect,
    literal,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, DropTable

from catalog.interfaces import RecordBatch, RecordField, RecordPage, RecordQuery, RecordRows
from catalog.records import (
    COUNT_EXACT_LIMIT,
    EXPORT_BATCH,
    MAX_GROUPS,
    CheckedQuery,
    check_fields,
    check_group_field,
    check_query,
    encode_cursor,
    resource_key,
)
from catalog.records.sql_layout import (
    REGISTRY,
    TABLE_NAME,
    RegistryEntry,
    TableLayout,
    build_layout,
    column_readers,
    fts_ddl,
    record_tables,
    row_converter,
)
from catalog.records.sql_query import fetch_rows, select_rows, where_clauses

SQLITE_BATCH = 10_000  # rows per executemany and per transaction on SQLite
COPY_CHUNK = 50_000  # rows per COPY and per transaction on PostgreSQL
INDEXED_TEXT_CHARS = 256  # longer text gets no B-tree (PostgreSQL refuses entries > 2.7 kB)
B_TREE_TYPES = frozenset({"integer", "number", "date", "datetime", "text"})
LAYOUT_CACHE = 512


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
        self._layouts: dict[str, TableLayout] = {}

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

    def _layout(self, table_name: str, fields: tuple[RecordField, ...]) -> TableLayout:
        if not TABLE_NAME.fullmatch(table_name):
            raise ValueError(f"Unexpected record table name {table_name!r}.")
        layout = self._layouts.get(table_name)
        if layout is not None:
            return layout
        if len(self._layouts) >= LAYOUT_CACHE:
            self._layouts.clear()
        layout = build_layout(table_name, fields, self.sqlite)
        self._layouts[table_name] = layout
        return layout

    def _entry(self, connection: Connection, key: str) -> RegistryEntry | None:
        registry = record_tables.c
        row = connection.execute(
            select(registry.table_name, registry.fields_json, registry.row_count).where(
                registry.resource_id == key
            )
        ).one_or_none()
        if row is None:
            return None
        fields = tuple(RecordField(**field) for field in json.loads(row.fields_json))
        return RegistryEntry(
            key, row.table_name, row.row_count, self._layout(row.table_name, fields)
        )

    def _read(self, resource_id: str, work: Callable[[Connection, RegistryEntry], object]):
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
                connection.exec_driver_sql(fts_ddl(layout))
            # Every earlier table of the resource, not only the registry's: one left by a
            # create that raced this one would otherwise stay forever.
            self._drop_tables(connection, key, keep=table_name)

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
        convert = row_converter(entry.layout, self.sqlite)
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

    def _count_added(self, connection: Connection, entry: RegistryEntry, added: int) -> None:
        connection.execute(
            record_tables.update()
            .where(
                record_tables.c.resource_id == entry.key,
                record_tables.c.table_name == entry.table_name,
            )
            .values(row_count=record_tables.c.row_count + added)
        )

    def _insert_sqlite(self, entry: RegistryEntry, rows: Iterator[dict], convert) -> int:
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

    def _copy_postgres(self, entry: RegistryEntry, rows: Iterator[dict], convert) -> int:
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

    def _insert_core(self, entry: RegistryEntry, rows: Iterator[dict], convert) -> int:
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

    def _build_indexes(self, layout: TableLayout) -> None:
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
        def work(connection: Connection, entry: RegistryEntry) -> RecordPage:
            checked = check_query(list(entry.layout.fields), query)
            rows, last = fetch_rows(connection, entry.layout, checked, sqlite=self.sqlite)
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

        def work(connection: Connection, entry: RegistryEntry) -> list[tuple[object, int]]:
            fields = list(entry.layout.fields)
            column = entry.layout.column(check_group_field(fields, field).name)
            checked = check_query(fields, replace(query, cursor=None, limit=0))
            count = func.count().label("n")
            statement = (
                select(column, count)
                .where(
                    *where_clauses(entry.layout, checked, sqlite=self.sqlite), column.is_not(None)
                )
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

        def work(_connection: Connection, entry: RegistryEntry):
            return entry, check_query(list(entry.layout.fields), query)

        # Checked now, so a bad query or resource fails before any row is streamed.
        entry, checked = self._read(resource_id, work)
        return RecordRows(self._export(entry, replace(checked, limit=EXPORT_BATCH)))

    def _export(self, entry: RegistryEntry, checked: CheckedQuery) -> Iterator[RecordBatch]:
        names = tuple(field.name for field in checked.fields)
        readers = column_readers(checked.fields, self.sqlite)
        while True:
            with self.engine.connect() as connection:
                rows, last = select_rows(
                    connection, entry.layout, checked, sqlite=self.sqlite, driver_values=True
                )
            if rows:
                columns = list(zip(*rows, strict=True))
                yield RecordBatch(names, columns[0], [read(columns) for read in readers])
            if last is None:
                return
            checked = replace(checked, after=last)

    def _count(
        self, connection: Connection, layout: TableLayout, checked: CheckedQuery
    ) -> tuple[int, bool]:
        matches = (
            select(literal(1))
            .select_from(layout.table)
            .where(*where_clauses(layout, checked, sqlite=self.sqlite))
            .limit(COUNT_EXACT_LIMIT + 1)
            .subquery()
        )
        total = connection.scalar(select(func.count()).select_from(matches))
        if total > COUNT_EXACT_LIMIT:
            return COUNT_EXACT_LIMIT, True
        return total, False
