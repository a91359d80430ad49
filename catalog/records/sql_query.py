"""The SELECT statements of the SQL record store: a query's filters and full-text search
as WHERE clauses, and its pages read by keyset (never by OFFSET)."""

import re
import string

from sqlalchemy import Column, Connection, and_, false, func, literal, or_, select

from catalog.records import ID, CheckedQuery
from catalog.records.sql_layout import TableLayout, read_sqlite

FTS_MIN_CHARS = 3  # the trigram tokenizer matches nothing shorter
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fetch_rows(
    connection: Connection, layout: TableLayout, checked: CheckedQuery, *, sqlite: bool
) -> tuple[list[dict], tuple | None]:
    """Up to checked.limit rows after checked.after as dicts, and the sort values of
    the last one when more rows follow it."""
    result, last = select_rows(connection, layout, checked, sqlite=sqlite)
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


def select_rows(
    connection: Connection,
    layout: TableLayout,
    checked: CheckedQuery,
    *,
    sqlite: bool,
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
    for where, order in _phases(layout, checked, sort, sqlite):
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
    if driver_values and sqlite:
        last = tuple(
            read_sqlite(field.type, value)
            for (field, _descending), value in zip(checked.sort, last, strict=True)
        )
    return result[:limit], last


def where_clauses(layout: TableLayout, checked: CheckedQuery, *, sqlite: bool) -> list:
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
        clauses.extend(_search_clauses(layout, checked, sqlite))
    return clauses


def _phases(layout: TableLayout, checked: CheckedQuery, sort: list, sqlite: bool) -> list:
    """(where, order by) of the one or two statements that give the rows after the
    cursor. Sorted on a field, the rows that have a value come first, in an order an
    index on the field gives (the database's own place for NULLs then does not matter,
    and the cursor's condition bounds the index scan), then those without one."""
    where = where_clauses(layout, checked, sqlite=sqlite)
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


def _search_clauses(layout: TableLayout, checked: CheckedQuery, sqlite: bool) -> list:
    columns = [layout.columns[field.name][0] for field in checked.search_fields]
    if not columns:
        return [false()]
    clauses = []
    long_words = [w for w in checked.words if sqlite and len(w) >= FTS_MIN_CHARS]
    if long_words:
        fts = layout.fts
        phrases = " AND ".join('"' + word.replace('"', '""') + '"' for word in long_words)
        match = "{" + " ".join(c.name for c in columns) + "} : (" + phrases + ")"
        clauses.append(
            layout.table.c[ID].in_(select(fts.c.rowid).where(fts.c[fts.name].op("MATCH")(match)))
        )
    for word in checked.words:
        if word in long_words:
            continue
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
        if sqlite:  # LIKE folds ASCII case on SQLite, as ILIKE does here
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
